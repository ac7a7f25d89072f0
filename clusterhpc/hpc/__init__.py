"""HPC helpers: who am I among the ranks, MPI work splitting, Slurm environment, launchers."""

from clusterhpc.hpc.env import RankInfo, rank_info
from clusterhpc.hpc.mpi import Comm, get_comm, split_evenly

__all__ = ["Comm", "RankInfo", "get_comm", "rank_info", "split_evenly"]
