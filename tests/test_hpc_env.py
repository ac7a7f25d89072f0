"""Rank detection from launcher environments, and work splitting (one process)."""

from __future__ import annotations

import numpy as np
import pytest

from clusterhpc.hpc.env import rank_info
from clusterhpc.hpc.mpi import get_comm, split_evenly


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, (0, 1, 0, "none")),
        (
            {
                "OMPI_COMM_WORLD_RANK": "3",
                "OMPI_COMM_WORLD_SIZE": "4",
                "OMPI_COMM_WORLD_LOCAL_RANK": "1",
            },
            (3, 4, 1, "mpirun"),
        ),
        (
            {"HOROVOD_RANK": "1", "HOROVOD_SIZE": "2", "HOROVOD_LOCAL_RANK": "1"},
            (1, 2, 1, "horovodrun"),
        ),
        (
            {
                "SLURM_STEP_ID": "0",
                "SLURM_PROCID": "5",
                "SLURM_STEP_NUM_TASKS": "8",
                "SLURM_LOCALID": "1",
                "PMIX_RANK": "5",
            },
            (5, 8, 1, "srun"),
        ),
        ({"PMI_RANK": "2", "PMI_SIZE": "3"}, (2, 3, 0, "mpich")),
        # An sbatch batch script: a Slurm job but no step, so one process.
        ({"SLURM_JOB_ID": "12", "SLURM_PROCID": "0", "SLURM_NTASKS": "4"}, (0, 1, 0, "none")),
    ],
)
def test_rank_info_from_launcher_env(env, expected):
    info = rank_info(env)
    assert (info.rank, info.size, info.local_rank, info.launcher) == expected


@pytest.mark.parametrize(("n", "size"), [(0, 1), (10, 3), (7, 7), (5, 8), (1000, 32)])
def test_split_evenly_covers_every_item_once(n, size):
    blocks = [split_evenly(n, r, size) for r in range(size)]
    covered = np.concatenate([np.arange(n)[b] for b in blocks])
    assert covered.tolist() == list(range(n))
    lengths = [b.stop - b.start for b in blocks]
    assert max(lengths) - min(lengths) <= 1


def test_split_evenly_rejects_bad_rank():
    with pytest.raises(ValueError, match="rank 3 is not in a launch of size 3"):
        split_evenly(10, 3, 3)


def test_serial_comm_collectives():
    comm = get_comm()
    assert (comm.rank, comm.size) == (0, 1)
    assert comm.bcast({"a": 1}) == {"a": 1}
    assert comm.allreduce_sum(5) == 5
    assert comm.gather([0, 1, 2]) == [[0, 1, 2]]
