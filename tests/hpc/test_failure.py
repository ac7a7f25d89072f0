"""How a stage failure ends a launch: a single process raises, a rank of many ends every rank."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from clusterhpc.hpc.env import started_by_gloo
from clusterhpc.hpc.failure import stage_failures_end_the_launch
from clusterhpc.hpc.mpi import LaunchError, get_comm
from tests.conftest import ROOT

GLOO_RANK_1 = {"HOROVOD_RANK": "1", "HOROVOD_SIZE": "2", "HOROVOD_CONTROLLER": "gloo"}


def test_a_single_process_keeps_the_exception():
    with pytest.raises(ValueError, match="bad"), stage_failures_end_the_launch("prep boxes"):
        raise ValueError("bad")


def test_gloo_is_recognised_only_from_horovodrun_gloo():
    assert started_by_gloo(GLOO_RANK_1)
    assert not started_by_gloo({"HOROVOD_CONTROLLER": "mpi", "OMPI_COMM_WORLD_SIZE": "2"})
    assert not started_by_gloo({})


def test_mpi_stages_refuse_horovodrun_gloo(monkeypatch):
    for key, value in GLOO_RANK_1.items():
        monkeypatch.setenv(key, value)
    get_comm.cache_clear()
    try:
        with pytest.raises(LaunchError, match=r"horovodrun --gloo started 2 processes.*mpirun"):
            get_comm()
    finally:
        get_comm.cache_clear()


@pytest.mark.parametrize(
    ("error", "code", "shown"),
    [("ValueError('boom')", 1, "Traceback"), ("DataError('bad row 3')", 2, "bad row 3")],
)
def test_a_failing_rank_ends_its_process_at_once_with_rank_and_stage(error, code, shown):
    """Without MPI loaded (a Gloo launch) the rank exits with os._exit: no atexit, no finalize."""
    script = (
        "import atexit\n"
        "from clusterhpc.errors import DataError\n"
        "from clusterhpc.hpc.failure import stage_failures_end_the_launch\n"
        "atexit.register(lambda: print('atexit ran'))\n"
        "with stage_failures_end_the_launch('prep pack'):\n"
        f"    raise {error}\n"
        "print('not reached')\n"
    )
    env = {**os.environ, **GLOO_RANK_1, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == code
    assert "clusterhpc prep pack: error on rank 1 of 2 (horovodrun)" in proc.stderr
    assert shown in proc.stderr
    assert "ends the whole launch" in proc.stderr
    assert "atexit ran" not in proc.stdout and "not reached" not in proc.stdout
