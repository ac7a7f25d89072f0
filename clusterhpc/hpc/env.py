"""Rank, size and local rank from the launcher's environment, without initialising MPI.

Every launcher exports its own variables: `mpirun` (Open MPI: OMPI_COMM_WORLD_*),
`srun --mpi=pmix` (PMIX_RANK plus SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID), MPICH/Hydra
(PMI_RANK/PMI_SIZE), `horovodrun` with Gloo (HOROVOD_RANK/HOROVOD_SIZE/HOROVOD_LOCAL_RANK).
Reading them lets logging and seeding know the rank before (or without) `MPI.Init`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RankInfo:
    """Position of this process among the ranks of a parallel launch."""

    rank: int
    size: int
    local_rank: int
    launcher: str

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


# (launcher, rank variable, size variable, local-rank variable), first match wins.
_LAUNCHERS: tuple[tuple[str, str, str, str], ...] = (
    ("horovodrun", "HOROVOD_RANK", "HOROVOD_SIZE", "HOROVOD_LOCAL_RANK"),
    ("mpirun", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"),
    ("mpich", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"),
)


def _slurm_step(env: Mapping[str, str]) -> RankInfo | None:
    """Ranks of an `srun` step; an sbatch batch script alone (no step tasks) is one process."""
    if "SLURM_STEP_ID" not in env or "SLURM_PROCID" not in env:
        return None
    size = int(env.get("SLURM_STEP_NUM_TASKS", env.get("SLURM_NTASKS", "1")))
    return RankInfo(
        rank=int(env["SLURM_PROCID"]),
        size=size,
        local_rank=int(env.get("SLURM_LOCALID", "0")),
        launcher="srun",
    )


def rank_info(env: Mapping[str, str] | None = None) -> RankInfo:
    """Rank, size and local rank of this process; (0, 1, 0, 'none') when launched alone."""
    env = os.environ if env is None else env
    for launcher, rank_var, size_var, local_var in _LAUNCHERS:
        if rank_var in env and size_var in env:
            return RankInfo(
                rank=int(env[rank_var]),
                size=int(env[size_var]),
                local_rank=int(env.get(local_var, "0")),
                launcher=launcher,
            )
    slurm = _slurm_step(env)
    if slurm is not None:
        return slurm
    return RankInfo(rank=0, size=1, local_rank=0, launcher="none")


def started_by_gloo(env: Mapping[str, str] | None = None) -> bool:
    """Whether `horovodrun --gloo` started this process (Horovod ranks, but no MPI)."""
    env = os.environ if env is None else env
    return env.get("HOROVOD_CONTROLLER") == "gloo"
