"""On the real local Slurm, one failing rank of an sbatch job ends the whole job within seconds.

`slurm/preprocess.sbatch` and `slurm/train_yolo.sbatch` run on 2 tasks with a fault on rank 1
(tests/faults/inject.py as the scripts' PYTHON): an exception in a prep stage, an exception
in training, a SIGKILL in training. `srun --kill-on-bad-exit=1` ends the step, the job ends
FAILED, unrequeued, and nothing half-written looks whole. Without it the other rank waits in a
collective until the time limit. The bounds are liveness bounds (a hang shows as a timeout);
the measured times (2-core machine shared with other jobs) are in the docstrings.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

from clusterhpc.prep.verify_stage import check_shard
from tests.conftest import ROOT
from tests.hpc.fixtures import TINY
from tests.slurm.conftest import overrides, sbatch_script, wait_for_job
from tests.train.fixtures import make_packed_survey

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.usefixtures("slurm")]
TINY_CONFIG = ROOT / "configs" / "tiny.yaml"
LIVENESS_S = 120  # from the fault to the end of the job
START_S = 240  # from submission to the end: scheduling and TensorFlow start-up on a busy machine
FAULT_AT = re.compile(r"^inject: fault in .* at (\d+\.\d+)$", re.M)
# rank 1's 5th all-reduce of metrics: step 5 of 6, after epoch 1's checkpoint (3 steps an epoch)
TRAIN_FAULT = "clusterhpc.train.backend:HorovodBackend.average@1#5"
TRAIN_ARGS = {**TINY, "train.epochs": 2, "train.max_steps_per_epoch": 4}


def fault_python(tmp_path: Path) -> Path:
    """PYTHON for the scripts: the fault injector in place of `python -m clusterhpc`; a requeued
    job (SLURM_RESTART_COUNT > 0) runs without the fault."""
    wrapper = tmp_path / "python-with-fault"
    wrapper.write_text(
        "#!/bin/sh\n"
        '[ "${SLURM_RESTART_COUNT:-0}" = 0 ] || unset CHPC_FAULT\n'
        f'exec "{sys.executable}" "{ROOT / "tests" / "faults" / "inject.py"}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


def submit(tmp_path: Path, script: str, fault: str, env: dict, *args: str) -> tuple[str, float]:
    """sbatch SCRIPT on 2 tasks with CHPC_FAULT; the job id and the wall-clock submission time."""
    options = ["--ntasks-per-node=2", "--signal=B:USR1@30"] if script == "train_yolo" else []
    env = {
        **os.environ,
        "CONFIG": str(TINY_CONFIG),
        "PYTHON": str(fault_python(tmp_path)),
        "PYTHONPATH": str(ROOT),
        "CHPC_FAULT": fault,
        **env,
    }
    submitted = time.time()
    job = sbatch_script(tmp_path, script, ["--ntasks=2", *options], env, args)
    return job, submitted


def wait_gone(job: str, timeout: float) -> float:
    """Wall-clock time at which the job left the queue (polled every 0.2 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        queued = subprocess.run(["squeue", "-h", "-j", job], capture_output=True, text=True)
        if queued.returncode == 0 and not queued.stdout.strip():
            return time.time()
        time.sleep(0.2)
    raise TimeoutError(f"job {job} still queued after {timeout} s")


def job_output(tmp_path: Path, job: str, logs: Path) -> str:
    files = [tmp_path / f"slurm-{job}.out", *sorted(logs.glob(f"*-{job}.log"))]
    return "\n".join(f"== {p.name}\n{p.read_text()}" for p in files if p.exists())


def assert_failed_fast(tmp_path: Path, job: str, submitted: float, logs: Path) -> str:
    """The job ends FAILED with a non-zero exit, once (not requeued), within the bounds."""
    ended = wait_gone(job, START_S)
    output = job_output(tmp_path, job, logs)
    faults = [float(t) for t in FAULT_AT.findall(output)]
    assert faults, output[-4000:]
    print(f"job {job}: fault -> job end {ended - faults[0]:.1f} s, submission -> end "
          f"{ended - submitted:.1f} s")  # fmt: skip
    assert ended - faults[0] < LIVENESS_S, output[-4000:]
    assert wait_for_job(job, timeout=60) == "FAILED", output[-4000:]
    runs = subprocess.run(
        ["sacct", "-n", "-X", "-D", "-P", "-o", "State,ExitCode", "-j", job],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(runs) == 1 and runs[0].startswith("FAILED|") and runs[0] != "FAILED|0:0", runs
    assert "requeue" not in output
    return output


@pytest.mark.timeout(360)
@pytest.mark.parametrize(
    ("stage", "fault"),
    [
        ("boxes", "clusterhpc.prep.boxes_stage:compute_boxes@1"),
        ("pack", "clusterhpc.prep.pack_stage:pack_shard@1"),
    ],
)
def test_rank_1_raising_in_a_prep_stage_ends_the_preprocess_job(
    tmp_path, simulated, jobs, stage, fault
):
    """Rank 1 raises where rank 0 waits in a gather: MPI_Abort ends the step and the job, and
    the later stages never run (measured: 2-3 s from the fault, 5-8 s from submission)."""
    survey = tmp_path / "survey"
    shutil.copytree(simulated, survey)
    job, submitted = submit(
        tmp_path, "preprocess", fault, {"STAGES": "boxes pack", "DATA_DIR": str(survey)}
    )
    jobs.append(job)
    output = assert_failed_fast(tmp_path, job, submitted, survey / "logs")
    assert f"clusterhpc prep {stage}: error on rank 1 of 2 (srun)" in output, output[-4000:]
    assert f"preprocess.sbatch: error: prep {stage} failed (exit" in output
    packed = survey / "packed"
    assert not (packed / "index.json").exists()
    if stage == "boxes":
        assert not (survey / "prep" / "boxes.fits").exists()
        assert "prep pack on 2 ranks" not in output and not packed.exists()
        return
    for shard in packed.glob("*.h5*"):  # rank 0's finished shards are whole, the rest temporary
        if shard.name.startswith("."):
            assert ".h5.tmp" in shard.name, shard
            continue
        with h5py.File(shard, "r") as h5:
            n_images = int(h5.attrs["n_images"])
        assert check_shard(shard, n_images) == [], shard


def assert_checkpoint_whole(run: Path) -> None:
    """No finished summary; the latest checkpoint is epoch 1's, and every tensor of it reads."""
    from clusterhpc.keras_compat import import_keras

    tf, _ = import_keras()
    summary = run / "train_summary.json"
    assert not summary.exists() or json.loads(summary.read_text())["status"] != "finished"
    assert not (run / "final.weights.h5").exists()
    latest = tf.train.latest_checkpoint(str(run / "checkpoints"))
    assert latest is not None and latest.endswith("ckpt-3"), latest
    reader = tf.train.load_checkpoint(latest)
    names = reader.get_variable_to_shape_map()
    assert len(names) > 10
    for name in names:
        reader.get_tensor(name)
    assert int(reader.get_tensor("epoch/.ATTRIBUTES/VARIABLE_VALUE")) == 1


@pytest.mark.horovod
@pytest.mark.timeout(360)
@pytest.mark.parametrize("kill", [False, True], ids=["raises", "sigkill"])
def test_rank_1_failing_in_training_ends_the_train_job(tmp_path, jobs, kill):
    """Rank 1 raises in (or is SIGKILLed at) its 5th step's all-reduce while rank 0 waits in
    Horovod: the step ends, the job ends FAILED, not requeued, and the checkpoint of epoch 1
    is whole (measured: 2-5 s from the fault, 40-65 s from submission)."""
    survey, run = make_packed_survey(tmp_path), tmp_path / "run"
    job, submitted = submit(
        tmp_path,
        "train_yolo",
        TRAIN_FAULT + ("!kill" if kill else ""),
        {"RUN_DIR": str(run), "DATA_DIR": str(survey)},
        *overrides(TRAIN_ARGS),
    )
    jobs.append(job)
    output = assert_failed_fast(tmp_path, job, submitted, run / "logs")
    assert "HorovodBackend.average (call 5) on rank 1" in output
    if kill:
        assert "task 1: Killed" in output, output[-4000:]
    else:
        assert "clusterhpc train: error on rank 1 of 2 (srun)" in output, output[-4000:]
    assert "train_yolo.sbatch: step finished with exit code" in output
    assert_checkpoint_whole(run)


@pytest.mark.horovod
@pytest.mark.timeout(480)
def test_a_rank_killed_after_the_warning_and_the_checkpoint_still_requeues(tmp_path, jobs):
    """With --kill-on-bad-exit, the first rank to exit 75 after the warning has Slurm end the
    others, which may still be writing or exiting: the step ends by a signal, not 75. The
    worst case, forced here: rank 0 is SIGKILLed after the checkpoint, as it writes the summary.
    The job is requeued all the same, resumes from the checkpoint and finishes."""
    survey, run = make_packed_survey(tmp_path), tmp_path / "run"
    epochs = 40
    job, _ = submit(
        tmp_path,
        "train_yolo",
        "clusterhpc.train.stage:atomic_write_text@0!kill",
        {"RUN_DIR": str(run), "DATA_DIR": str(survey)},
        *overrides(
            {
                **TINY,
                "train.epochs": epochs,
                "train.max_steps_per_epoch": 1,
                "train.keep_checkpoints": 1,
            }
        ),
    )
    jobs.append(job)
    log = run / "logs" / f"train-{job}.log"
    deadline = time.monotonic() + START_S
    while "INFO checkpoint" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, job_output(tmp_path, job, run / "logs")[-4000:]
        time.sleep(0.2)
    subprocess.run(["scancel", "--batch", "--signal=USR1", job], check=True)  # the warning
    state = wait_for_job(job, timeout=2 * START_S)
    output = job_output(tmp_path, job, run / "logs")
    assert state == "COMPLETED", output[-4000:]
    assert "after the warning, a signal ended the step" in output, output[-4000:]
    assert "checkpointed; requeueing job" in output and "resumed from" in output
    summary = json.loads((run / "train_summary.json").read_text())
    assert (summary["status"], summary["epochs_done"]) == ("finished", epochs)
    steps = [json.loads(r) for r in (run / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in steps if r["kind"] == "step"] == list(range(1, epochs + 1))
