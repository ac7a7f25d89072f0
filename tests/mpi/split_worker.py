"""Run under mpirun: each rank squares its block of items; rank 0 prints what it gathered."""

import json

import numpy as np

from clusterhpc.hpc import get_comm, rank_info, split_evenly

comm = get_comm()
info = rank_info()
items = np.arange(11)
block = items[split_evenly(len(items), comm.rank, comm.size)]
squares = comm.gather((block**2).tolist())
owners = comm.gather(block.tolist())
total = comm.allreduce_sum(int(block.sum()))
if comm.is_root:
    print(
        json.dumps(
            {
                "size": comm.size,
                "env_size": info.size,
                "launcher": info.launcher,
                "squares": [s for part in squares for s in part],
                "owners": owners,
                "total": total,
            }
        )
    )
