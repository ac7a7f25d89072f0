"""Run under mpirun: each rank squares its block of items; rank 0 prints what it gathered."""

import json

import numpy as np

from clusterhpc.hpc import get_comm, rank_info, rank_seed, split_evenly

comm = get_comm()
info = rank_info()
items = np.arange(11)
block = items[split_evenly(len(items), comm.rank, comm.size)]
squares = comm.gather_arrays(block**2)
owners = comm.gather(block.tolist())
draws = comm.gather(float(np.random.default_rng(rank_seed(7, comm.rank)).random()))
total = comm.allreduce_sum(int(block.sum()))
if comm.is_root:
    print(
        json.dumps(
            {
                "size": comm.size,
                "env_size": info.size,
                "launcher": info.launcher,
                "squares": squares.tolist(),
                "owners": owners,
                "draws": draws,
                "total": total,
            }
        )
    )
