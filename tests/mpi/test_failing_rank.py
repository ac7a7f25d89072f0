"""Under real `mpirun -np 2`, one failing rank ends the whole launch within seconds.

Faults are injected on one rank with tests/faults/inject.py. Without the failure handling, the
other rank would wait forever in a gather, a broadcast or an all-reduce: every case here hung
before it. The bound on the time to exit is a liveness bound (a hang shows as a timeout), not a
performance figure; it runs from the fault (inject.py prints its time) to the launch's exit.
The times measured on a 2-core machine are in the comments.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest

from tests.conftest import ROOT, mpirun_command
from tests.hpc.fixtures import TINY
from tests.prep.test_stages import make_survey, overrides
from tests.train.fixtures import make_packed_survey

pytestmark = [pytest.mark.mpi, pytest.mark.slow]
INJECT = str(ROOT / "tests" / "faults" / "inject.py")
TINY_CONFIG = str(ROOT / "configs" / "tiny.yaml")
LIVENESS_S = 120


def launch_with_fault(fault: str, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the CLI on 2 ranks with `fault`; the seconds from the fault to the launch's exit."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CHPC_FAULT": fault}
    proc = subprocess.run(
        mpirun_command(2, INJECT, "-m", "clusterhpc", *args),
        capture_output=True,
        text=True,
        timeout=LIVENESS_S + 600,  # start-up and the steps before the fault come first
        cwd=ROOT,
        env=env,
    )
    ended = time.time()
    fault_at = re.search(r"inject: fault in .* at (\d+\.\d+)", proc.stderr)
    assert fault_at, f"the fault never happened:\n{proc.stderr[-3000:]}"
    elapsed = ended - float(fault_at[1])
    print(f"{fault}: exit {proc.returncode}, {elapsed:.1f} s after the fault")
    return proc, elapsed


def assert_ended_by(proc, elapsed: float, rank: int, stage: str) -> None:
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert elapsed < LIVENESS_S, output[-3000:]
    assert f"clusterhpc {stage}: error on rank {rank} of 2 (mpirun)" in output, output[-3000:]
    assert "injected fault" in output


def test_rank_1_failing_before_a_gather_in_prep_boxes(tmp_path):
    """Rank 1 raises where rank 0 waits for its boxes (measured: 0.1 s from fault to exit)."""
    root = make_survey(tmp_path / "survey")
    proc, elapsed = launch_with_fault(
        "clusterhpc.prep.boxes_stage:compute_boxes@1",
        "prep",
        "boxes",
        TINY_CONFIG,
        *overrides(root, tmp_path / "prep"),
    )
    assert_ended_by(proc, elapsed, 1, "prep boxes")
    assert not (tmp_path / "prep" / "boxes.fits").exists()


def test_rank_0_failing_before_a_broadcast_in_run(tmp_path):
    """Rank 0 alone checks the stage stamps while rank 1 waits for its answer (measured: 0.1 s
    from fault to exit)."""
    proc, elapsed = launch_with_fault(
        "clusterhpc.pipeline:is_done@0", "run", TINY_CONFIG, f"data.root={tmp_path / 'survey'}"
    )
    assert_ended_by(proc, elapsed, 0, "run")


@pytest.mark.horovod
@pytest.mark.parametrize("kill", [False, True], ids=["raises", "sigkill"])
def test_rank_1_failing_during_training_leaves_the_checkpoints_whole(tmp_path, kill):
    """Rank 1 raises in (or is SIGKILLed at) the all-reduce of its 5th step (epoch 2) while
    rank 0 waits in Horovod (measured: 2 s from the fault to the exit); the checkpoint written
    before the failure still restores, and a rerun resumes from it and finishes."""
    survey = make_packed_survey(tmp_path)
    run = tmp_path / "run"
    args = [f"{key}={json.dumps(value)}" for key, value in TINY.items()]
    args += [f"data.root={survey}", f"run.dir={run}", "train.max_steps_per_epoch=4"]
    args += ["train.epochs=2"]
    fault = "clusterhpc.train.backend:HorovodBackend.average@1#5" + ("!kill" if kill else "")
    proc, elapsed = launch_with_fault(fault, "train", TINY_CONFIG, *args)
    output = proc.stdout + proc.stderr
    if kill:
        assert proc.returncode != 0 and elapsed < LIVENESS_S, output[-3000:]
        assert "signal 9" in output or "Killed" in output, output[-3000:]
    else:
        assert_ended_by(proc, elapsed, 1, "train")
    assert not (run / "train_summary.json").exists()
    assert (run / "checkpoints" / "checkpoint").exists()  # epoch 1's, before the failure
    rerun = subprocess.run(
        mpirun_command(2, "-m", "clusterhpc", "train", TINY_CONFIG, *args),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "resumed from" in rerun.stderr
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["status"] == "finished" and summary["epochs_done"] == 2
