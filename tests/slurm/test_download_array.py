"""`slurm/download.sbatch` as a 2-task job array on the local Slurm, against the local
SkyServer stand-in: the tasks split the list, each writes its share's manifest, and a
second submission fetches nothing."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.prep.skyserver_stub import Cutout, SkyServerStub
from tests.prep.test_download import SIZE, TINY, settings, write_positions
from tests.slurm.conftest import wait_for_job

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.usefixtures("slurm")]


def submit_download_array(tmp_path, config: str, root, overrides: list[str]) -> str:
    """sbatch slurm/download.sbatch as a 2-task array over `root`; the array's job ID."""
    env = {**os.environ, "CONFIG": config, "DATA_DIR": str(root), "PYTHON": sys.executable,
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    overrides = [a for a in overrides if not a.startswith("data.root=")]
    proc = subprocess.run(
        ["sbatch", "--parsable", "--array=0-1", "--time=10", f"--output={tmp_path}/dl-%A_%a.out",
         str(ROOT / "slurm" / "download.sbatch"), *overrides],
        capture_output=True, text=True, check=True, cwd=tmp_path, env=env,
    )  # fmt: skip
    return proc.stdout.strip().split(";")[0]


def task_states(job: str, timeout: float = 240) -> list[str]:
    """The final states of the array's tasks, once accounting has them all."""
    wait_for_job(job, timeout=timeout)
    deadline = time.monotonic() + 60
    while True:
        acct = subprocess.run(
            ["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", job],
            capture_output=True,
            text=True,
        )
        states = sorted(line.split("|")[1] for line in acct.stdout.split() if "_" in line)
        if len(states) == 2 and not {"PENDING", "RUNNING", "COMPLETING"} & set(states):
            return states
        assert time.monotonic() < deadline, acct.stdout
        time.sleep(0.3)


@pytest.mark.timeout(300)
def test_download_array_splits_the_list_and_a_resubmission_fetches_nothing(tmp_path):
    root = tmp_path / "survey"
    items = [Cutout(f"a{i}", 40.0 + i, -20.0, SIZE, ["ok"]) for i in range(6)]
    write_positions(root, items)
    with SkyServerStub(items) as stub:
        job = submit_download_array(tmp_path, TINY, root, settings(root, stub.url)[1:])
        states = task_states(job)
        logs = "".join(p.read_text() for p in tmp_path.glob("dl-*.out"))
        assert states == ["COMPLETED", "COMPLETED"], logs[-3000:]
        assert all(stub.served.count(c.name) == 1 for c in items)
        shares = []
        for part in (0, 1):
            path = root / "download" / f"manifest-part-{part}-of-2.csv"
            with path.open(newline="") as handle:
                shares.append([row["file"] for row in csv.DictReader(handle)])
        assert shares == [["a0.jpeg", "a2.jpeg", "a4.jpeg"], ["a1.jpeg", "a3.jpeg", "a5.jpeg"]]
        again = submit_download_array(tmp_path, TINY, root, settings(root, stub.url)[1:])
        assert task_states(again) == ["COMPLETED", "COMPLETED"]
        assert all(stub.served.count(c.name) == 1 for c in items)  # nothing fetched again
