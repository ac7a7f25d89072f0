"""A sweep job on the local Slurm whose time-limit warning lands during `evaluate`, not `train`:
the job is requeued, not failed, and its second run redoes `evaluate` and completes."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from clusterhpc.submit import main as submit_main
from tests.conftest import ROOT
from tests.hpc.fixtures import TINY, write_sweep
from tests.slurm.conftest import run_states, wait_for_job
from tests.train.fixtures import make_packed_survey

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.usefixtures("slurm")]


@pytest.mark.timeout(300)
def test_time_limit_signal_during_evaluate_requeues_and_completes(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    survey = make_packed_survey(tmp_path)
    path = write_sweep(
        tmp_path,
        executor="slurm",
        grid={"train.lr_init": [0.001]},
        fixed={**TINY, "data.root": str(survey), "train.max_steps_per_epoch": 1},
        commands=["train", "evaluate"],
        resources={"nodes": 1, "tasks_per_node": 1, "mem_gb": 1, "time": "30:00"},
    )
    start = time.monotonic()
    assert submit_main([str(path)]) == 1  # submitted, not yet completed
    job = json.loads((tmp_path / "sweeps" / "s" / "manifest.json").read_text())["jobs"][0]
    run = tmp_path / "sweeps" / "s" / job["name"]
    evaluate_log = run / "logs" / "01-rank0.log"  # created as `evaluate` starts
    deadline = time.monotonic() + 180
    while not evaluate_log.exists():
        assert time.monotonic() < deadline, "evaluate never started"
        time.sleep(0.2)
    assert not (run / "metrics.json").exists()  # evaluate is running, not done
    # what Slurm sends at `--signal=USR2@120` before the time limit (or at a preemption)
    subprocess.run(["scancel", "--signal=USR2", job["job_id"]], check=True)
    state = wait_for_job(job["job_id"], timeout=240)
    print(f"evaluate interrupted, requeued, completed: {time.monotonic() - start:.1f} s")
    submitit_logs = "\n".join(
        p.read_text() for p in (tmp_path / "sweeps" / "s" / "submitit").rglob("*.out")
    )
    assert state == "COMPLETED", submitit_logs[-3000:] + evaluate_log.read_text()[-3000:]
    # the runner forwarded SIGUSR1 to `evaluate` (no handler: it died of it) and requeued
    assert "SIGUSR2 during " in submitit_logs and " evaluate " in submitit_logs
    assert "exited with -10, not done; requeueing to run commands 2-2" in submitit_logs
    assert "Requeued job" in submitit_logs
    records = run_states(job["job_id"])
    assert records[-1] == "COMPLETED" and "REQUEUED" in records[:-1], records
    metrics = json.loads((run / "metrics.json").read_text())
    assert "completeness" in json.dumps(metrics)
    # the second run skipped `train` (done) and evaluated the trained weights
    assert json.loads((run / "train_summary.json").read_text())["status"] == "finished"
    assert submitit_logs.count("Loading pickle") == 2
