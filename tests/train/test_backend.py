"""Horovod's timeouts and tensor-fusion knobs: set before hvd.init() unless the user set them."""

from __future__ import annotations

import os
import re
import subprocess
import time

import pytest

from clusterhpc.config import TrainConfig
from clusterhpc.train.backend import horovod_timeouts, horovod_tuning
from tests.conftest import ROOT, mpirun_command


def test_defaults_end_a_stalled_job_and_give_gloo_time():
    assert TrainConfig().stall_timeout_s == 900
    assert horovod_timeouts(900, {}) == {
        "HOROVOD_STALL_SHUTDOWN_TIME_SECONDS": "900",
        "HOROVOD_STALL_CHECK_TIME_SECONDS": "60",
        "HOROVOD_GLOO_TIMEOUT_SECONDS": "600",
    }


def test_the_users_values_win():
    env = {"HOROVOD_STALL_SHUTDOWN_TIME_SECONDS": "0", "HOROVOD_GLOO_TIMEOUT_SECONDS": "30"}
    assert horovod_timeouts(900, env) == {}
    # the user's warning time alone: the shutdown time is still ours
    assert horovod_timeouts(900, {"HOROVOD_STALL_CHECK_TIME_SECONDS": "10"}) == {
        "HOROVOD_STALL_SHUTDOWN_TIME_SECONDS": "900",
        "HOROVOD_GLOO_TIMEOUT_SECONDS": "600",
    }


def test_a_short_timeout_keeps_the_warning_time_at_most_the_shutdown_time():
    # Horovod ignores a shutdown time below the warning time
    assert horovod_timeouts(20, {})["HOROVOD_STALL_CHECK_TIME_SECONDS"] == "20"
    assert "HOROVOD_STALL_SHUTDOWN_TIME_SECONDS" not in horovod_timeouts(0, {})


def test_fusion_knobs_map_to_horovods_variables_in_bytes_and_milliseconds():
    defaults = TrainConfig()
    assert (defaults.allreduce_compression, defaults.fusion_threshold_mb) == ("none", 64.0)
    assert horovod_tuning(64.0, 0.0, {}) == {"HOROVOD_FUSION_THRESHOLD": str(64 * 1024 * 1024)}
    assert horovod_tuning(0.0, 2.5, {}) == {
        "HOROVOD_FUSION_THRESHOLD": "0",
        "HOROVOD_CYCLE_TIME": "2.5",
    }
    assert horovod_tuning(0.5, 1.0, {"HOROVOD_FUSION_THRESHOLD": "1"}) == {
        "HOROVOD_CYCLE_TIME": "1"
    }


@pytest.mark.mpi
@pytest.mark.horovod
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_hung_rank_ends_the_launch_after_the_stall_timeout():
    """Rank 1 hangs outside the collectives; with train.stall_timeout_s=10 Horovod shuts down,
    rank 0's barrier raises and mpirun ends the job, instead of both waiting for 600 s."""
    proc = subprocess.run(
        mpirun_command(2, str(ROOT / "tests" / "train" / "stall_worker.py"), "10"),
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    ended = time.time()
    hung_at = re.search(r"rank 1 hangs at (\d+\.\d+)", proc.stderr)
    assert hung_at, proc.stderr[-3000:]
    elapsed = ended - float(hung_at[1])
    print(f"hung rank: exit {proc.returncode}, {elapsed:.1f} s after the hang")
    assert proc.returncode != 0
    assert elapsed < 90, proc.stderr[-3000:]  # measured: 42 s (checks every 10 s)
    assert "stalled for longer than 10 seconds" in proc.stderr, proc.stderr[-3000:]
