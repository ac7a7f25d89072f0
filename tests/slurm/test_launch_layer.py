"""The launch layer on the real local Slurm: sbatch training, time-limit requeue, sweeps."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time

import pytest

from clusterhpc.submit import main as submit_main
from tests.conftest import ROOT
from tests.hpc.fixtures import TINY, write_sweep
from tests.slurm.conftest import overrides, sbatch_script, wait_for_job
from tests.train.fixtures import make_packed_survey

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm")]


def sbatch_train(tmp_path, survey, run, *options: str, extra: dict) -> str:
    env = {
        "MAX_REQUEUES": "20",
        **os.environ,
        "CONFIG": str(ROOT / "configs" / "tiny.yaml"),
        "RUN_DIR": str(run),
        "DATA_DIR": str(survey),
        "PYTHON": sys.executable,
        "PYTHONPATH": str(ROOT),
    }
    return sbatch_script(tmp_path, "train_yolo", list(options), env, overrides({**TINY, **extra}))


def job_output(tmp_path, job: str, run) -> str:
    logs = [tmp_path / f"slurm-{job}.out", *sorted((run / "logs").glob("*.log"))]
    return "\n".join(p.read_text()[-3000:] for p in logs if p.exists())


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_train_yolo_sbatch_runs_horovod_on_two_tasks(tmp_path):
    survey, run = make_packed_survey(tmp_path), tmp_path / "run"
    start = time.monotonic()
    job = sbatch_train(
        tmp_path,
        survey,
        run,
        "--ntasks-per-node=2",
        extra={"train.epochs": 2, "train.batch_size": 2},
    )
    state = wait_for_job(job, timeout=360)
    print(f"sbatch train_yolo, 2 tasks: {time.monotonic() - start:.1f} s")
    assert state == "COMPLETED", job_output(tmp_path, job, run)
    summary = json.loads((run / "train_summary.json").read_text())
    assert (summary["status"], summary["ranks"], summary["epochs_done"]) == ("finished", 2, 2)
    assert (run / "final.weights.h5").exists()
    assert "[rank 0/2]" in (run / "logs" / f"train-{job}.log").read_text()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_time_limit_checkpoints_requeues_and_finishes_from_the_checkpoint(tmp_path):
    """--time=1 (minute): the USR1 warning (here 25-55 s into the run: slurmctld warns at its
    first 30-s check with less than @5 + 30 s left) makes the trainer checkpoint and exit 75, the
    script requeues the job, the next run resumes; as many rounds as the machine's speed needs."""
    survey, run = make_packed_survey(tmp_path), tmp_path / "run"
    epochs = 400  # one step each: about 90 s of training on an idle 2-core machine, longer
    # than the 1-minute limit whatever the machine's speed (200 sometimes finished in 44 s)
    start = time.monotonic()
    job = sbatch_train(
        tmp_path,
        survey,
        run,
        "--time=1",
        "--signal=B:USR1@5",
        extra={
            "train.epochs": epochs,
            "train.max_steps_per_epoch": 1,
            "train.keep_checkpoints": 1,
            "train.warmup_epochs": 1,
        },
    )
    state = wait_for_job(job, timeout=840)
    print(f"time-limit requeue: {time.monotonic() - start:.1f} s")
    output = job_output(tmp_path, job, run)
    assert state == "COMPLETED", output
    assert "checkpointed; requeueing job" in output
    assert "resumed from" in (run / "logs" / f"train-{job}.log").read_text()
    summary = json.loads((run / "train_summary.json").read_text())
    assert (summary["status"], summary["epochs_done"], summary["global_step"]) == (
        "finished",
        epochs,
        epochs,
    )
    steps = [json.loads(r) for r in (run / "train_log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in steps if r["kind"] == "step"]
    assert steps == list(range(1, epochs + 1))  # every step once: resumed, not restarted


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sweep_of_four_jobs_runs_and_collects(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    survey = make_packed_survey(tmp_path)
    path = write_sweep(
        tmp_path,
        executor="slurm",
        grid={"train.lr_init": [0.001, 0.01], "model.width": [0.25, 0.5]},
        fixed={**TINY, "data.root": str(survey)},
        commands=["train"],
        resources={"nodes": 1, "tasks_per_node": 1, "mem_gb": 1, "time": "10:00"},
    )
    start = time.monotonic()
    assert submit_main([str(path), "--wait"]) == 0, capsys.readouterr()
    print(f"4-job sweep: {time.monotonic() - start:.1f} s", file=sys.stderr)
    assert submit_main(["collect", str(path), "--sort", "loss.total"]) == 0
    rows = list(csv.DictReader((tmp_path / "sweeps" / "s" / "results.csv").open()))
    assert len(rows) == 4 and {r["state"] for r in rows} == {"COMPLETED"}
    assert {(r["train.lr_init"], r["model.width"]) for r in rows} == {
        (lr, w) for lr in ("0.001", "0.01") for w in ("0.25", "0.5")
    }
    losses = [float(r["loss.total"]) for r in rows]
    assert losses == sorted(losses)
    assert (tmp_path / "sweeps" / "s" / "results.md").read_text().count("\n") == 6


def test_cancelled_job_is_reported_as_cancelled(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    path = write_sweep(
        tmp_path,
        executor="slurm",
        grid={"train.lr_init": [0.001]},
        fixed={"data.root": str(tmp_path)},
        commands=["train"],
        resources={"nodes": 1, "tasks_per_node": 1, "mem_gb": 1, "time": "10:00"},
        sbatch={"begin": "now+1hour"},  # stays pending until cancelled
    )
    assert submit_main([str(path)]) == 1
    job = json.loads((tmp_path / "sweeps" / "s" / "manifest.json").read_text())["jobs"][0]
    subprocess.run(["scancel", job["job_id"]], check=True)
    assert wait_for_job(job["job_id"], timeout=60) == "CANCELLED"
    capsys.readouterr()
    assert submit_main(["status", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"| {job['job_id']} | CANCELLED |" in out and "1 CANCELLED" in out


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_submitit_timeout_signal_checkpoints_and_requeues_the_sweep_job(tmp_path, monkeypatch):
    """submitit's USR2 (as at a time limit) -> the runner asks `train` to checkpoint -> the job
    is requeued by submitit and its second run resumes from the checkpoint."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    survey = make_packed_survey(tmp_path)
    path = write_sweep(
        tmp_path,
        executor="slurm",
        grid={"train.lr_init": [0.001]},
        fixed={
            **TINY,
            "data.root": str(survey),
            "train.epochs": 100,
            "train.max_steps_per_epoch": 1,
            "train.keep_checkpoints": 1,
        },
        commands=["train"],
        resources={"nodes": 1, "tasks_per_node": 1, "mem_gb": 1, "time": "30:00"},
    )
    assert submit_main([str(path)]) == 1
    job = json.loads((tmp_path / "sweeps" / "s" / "manifest.json").read_text())["jobs"][0]
    log = tmp_path / "sweeps" / "s" / job["name"] / "logs" / "00-rank0.log"
    deadline = time.monotonic() + 240
    while "checkpoint" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "training never checkpointed"
        time.sleep(1)
    subprocess.run(["scancel", "--signal=USR2", job["job_id"]], check=True)
    assert wait_for_job(job["job_id"], timeout=340) == "COMPLETED", log.read_text()[-3000:]
    text = log.read_text()
    assert "stopped by a signal" in text and "resumed from" in text
    summary = json.loads(
        (tmp_path / "sweeps" / "s" / job["name"] / "train_summary.json").read_text()
    )
    assert (summary["status"], summary["epochs_done"]) == ("finished", 100)
