"""MPI work splitting that also runs with one process and no MPI at all.

`get_comm()` returns a `Comm` over `MPI.COMM_WORLD` when the process was started by an MPI
launcher with several ranks, and a serial stand-in otherwise, so every stage has one code path.
mpi4py is imported only in the parallel case: a plain `python` run never initialises MPI.
`horovodrun --gloo` starts its ranks without MPI (each would see a world of one and redo all
the work): the MPI-parallel stages refuse it with `LaunchError`; `train` runs under it.
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar

from clusterhpc.errors import ClusterHPCError
from clusterhpc.hpc.env import rank_info, started_by_gloo

T = TypeVar("T")


class LaunchError(ClusterHPCError):
    """The processes were started in a way this stage cannot work with."""


class Comm:
    """The few collective operations the stages need, over mpi4py or over one process."""

    def __init__(self, mpi_comm: Any | None = None) -> None:
        self._comm = mpi_comm
        self.rank: int = 0 if mpi_comm is None else mpi_comm.Get_rank()
        self.size: int = 1 if mpi_comm is None else mpi_comm.Get_size()

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self._comm is not None:
            self._comm.Barrier()

    def bcast(self, value: T, root: int = 0) -> T:
        return value if self._comm is None else self._comm.bcast(value, root=root)

    def gather(self, value: T, root: int = 0) -> list[T] | None:
        """Values of all ranks in rank order on `root`, None elsewhere."""
        return [value] if self._comm is None else self._comm.gather(value, root=root)

    def allreduce_sum(self, value: T) -> T:
        if self._comm is None:
            return value
        from mpi4py import MPI

        return self._comm.allreduce(value, op=MPI.SUM)

    def allreduce_max(self, value: T) -> T:
        if self._comm is None:
            return value
        from mpi4py import MPI

        return self._comm.allreduce(value, op=MPI.MAX)


@functools.cache
def get_comm() -> Comm:
    """The world communicator of this launch (serial stand-in when there is one process)."""
    info = rank_info()
    if info.size <= 1:
        return Comm(None)
    if started_by_gloo():
        raise LaunchError(
            f"horovodrun --gloo started {info.size} processes without MPI, but this stage splits "
            f"its work with MPI; run it with `mpirun -np {info.size}`, `srun --mpi=pmix` or "
            "`horovodrun` without --gloo (Horovod built with MPI). `clusterhpc train` runs "
            "under --gloo."
        )
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    if world.Get_size() != info.size:
        raise LaunchError(
            f"the launcher ({info.launcher}) started {info.size} ranks but MPI sees "
            f"{world.Get_size()}: mpi4py is built against another MPI than the launcher's "
            "(check `clusterhpc doctor`)"
        )
    return Comm(world)


def split_evenly(n_items: int, rank: int, size: int) -> slice:
    """Contiguous block of `range(n_items)` owned by `rank`; lengths differ by at most 1."""
    if size < 1 or not 0 <= rank < size:
        raise ValueError(f"rank {rank} is not in a launch of size {size}")
    base, extra = divmod(n_items, size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))
