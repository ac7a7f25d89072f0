"""Run under mpirun -np 2: rank 1 stops taking part (it hangs), rank 0 waits in a collective.

argv: the stall timeout in seconds, given to the trainer's backend. Horovod's stall check should
shut Horovod down, rank 0's collective then raises and the launch ends.
"""

import sys
import time

from clusterhpc.train.backend import make_backend

backend = make_backend(int(sys.argv[1]))
backend.barrier()  # both ranks are up
if backend.rank == 1:
    print(f"stall_worker: rank 1 hangs at {time.time():.3f}", file=sys.stderr, flush=True)
    time.sleep(600)
backend.barrier()
