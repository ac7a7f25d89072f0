"""Real jobs on a real Slurm: sbatch (serial and `srun --mpi=pmix` on 2 tasks) and submitit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.slurm.conftest import wait_for_job

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm")]


def sbatch(script: str, tmp_path, *options: str) -> str:
    path = tmp_path / "job.sh"
    path.write_text(script)
    proc = subprocess.run(
        [
            "sbatch",
            "--parsable",
            f"--chdir={tmp_path}",
            f"--output={tmp_path}/slurm-%j.out",
            *options,
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return proc.stdout.strip().split(";")[0]


def test_sbatch_job_runs_and_is_accounted(tmp_path):
    job = sbatch(f"#!/bin/bash\n{sys.executable} -c 'print(6 * 7)' > answer.txt\n", tmp_path)
    assert wait_for_job(job) == "COMPLETED"
    assert (tmp_path / "answer.txt").read_text().strip() == "42"


def test_srun_pmix_two_ranks_split_work(tmp_path):
    worker = ROOT / "tests" / "mpi" / "split_worker.py"
    job = sbatch(
        f"#!/bin/bash\nsrun --mpi=pmix {sys.executable} {worker} > result.json\n",
        tmp_path,
        "--ntasks=2",
    )
    log = tmp_path / f"slurm-{job}.out"
    state = wait_for_job(job)
    assert state == "COMPLETED", log.read_text() if log.exists() else state
    out = json.loads((tmp_path / "result.json").read_text().strip().splitlines()[-1])
    assert (out["size"], out["env_size"], out["launcher"]) == (2, 2, "srun")
    assert out["squares"] == [i * i for i in range(11)]


def _answer(x: int) -> dict:
    return {"value": x * x, "job": os.environ.get("SLURM_JOB_ID")}


def _executor(tmp_path):
    import submitit

    executor = submitit.AutoExecutor(folder=tmp_path / "submitit", cluster="slurm")
    executor.update_parameters(timeout_min=5, slurm_additional_parameters={"export": "ALL"})
    return executor


def test_submitit_job_returns_its_result(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    job = _executor(tmp_path).submit(_answer, 12)
    result = job.result()
    assert result == {"value": 144, "job": job.job_id}
    assert wait_for_job(job.job_id) == "COMPLETED"


@pytest.mark.timeout(180)
def test_cancelled_submitit_job_raises_instead_of_hanging(tmp_path, monkeypatch):
    import submitit

    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    job = _executor(tmp_path).submit(time.sleep, 300)
    deadline = time.monotonic() + 60
    while job.state != "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.5)
    job.cancel()
    with pytest.raises(submitit.core.utils.UncompletedJobError):
        job.result()
    assert wait_for_job(job.job_id).startswith("CANCELLED")
