"""Slurm tests need a controller that answers: the local one (`local-cluster.sh start`) in CI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest


def slurm_reachable() -> tuple[bool, str]:
    if shutil.which("sinfo") is None:
        return False, "no Slurm client commands on PATH"
    proc = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        return False, f"sinfo failed: {proc.stderr.strip()}"
    if not any(state.strip() in {"idle", "mix", "alloc"} for state in proc.stdout.split()):
        return False, f"no usable node (states: {proc.stdout.split()})"
    return True, ""


@pytest.fixture(scope="session")
def slurm() -> None:
    ok, why = slurm_reachable()
    if ok:
        return
    message = f"no Slurm cluster reachable ({why}); start one: tests/slurm/local-cluster.sh start"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def wait_for_job(job_id: str, timeout: float = 120) -> str:
    """Poll until the job leaves the queue; return its final accounting state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        queued = subprocess.run(["squeue", "-h", "-j", job_id], capture_output=True, text=True)
        if queued.returncode == 0 and not queued.stdout.strip():
            break
        time.sleep(0.3)
    else:
        raise TimeoutError(f"job {job_id} still queued after {timeout} s")
    while time.monotonic() < deadline:
        acct = subprocess.run(
            ["sacct", "-n", "-X", "-P", "-o", "State", "-j", job_id], capture_output=True, text=True
        )
        state = acct.stdout.strip().split("\n")[0].split()[0] if acct.stdout.strip() else ""
        if state and state not in {"PENDING", "RUNNING", "COMPLETING"}:
            return state
        time.sleep(0.3)
    raise TimeoutError(f"job {job_id} has no final accounting state after {timeout} s")


PREFIX = Path(os.environ.get("CLUSTERHPC_SLURM_PREFIX", "/tmp/clusterhpc-slurm"))
MULTINODE_PARTITION = "multinode"
START_MULTINODE = "CLUSTERHPC_SLURM_NS_NODES=2 bash tests/slurm/local-cluster.sh start"


@pytest.fixture(scope="session")
def multinode(slurm) -> list[str]:
    """The usable nodes of the local cluster's namespaced partition (at least two)."""
    proc = subprocess.run(
        ["sinfo", "-h", "-N", "-p", MULTINODE_PARTITION, "-o", "%N %t"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    states = dict(line.split() for line in proc.stdout.splitlines() if line.strip())
    usable = sorted(node for node, state in states.items() if state in {"idle", "mix", "alloc"})
    if len(usable) >= 2:
        return usable
    message = (
        f"no 2 usable nodes in Slurm partition {MULTINODE_PARTITION!r} (states: {states}); "
        f"start the namespaced nodes: {START_MULTINODE}"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def run_states(job_id: str) -> list[str]:
    """The accounting state of every run of the job (`-D`: requeued runs too), oldest first."""
    acct = subprocess.run(
        ["sacct", "-D", "-X", "-n", "-P", "-o", "State", "-j", job_id],
        capture_output=True,
        text=True,
        check=True,
    )
    return [line.split()[0] for line in acct.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> Path:
    """The tiny mock survey (`clusterhpc simulate configs/tiny.yaml`), before any prep stage."""
    from tests.conftest import ROOT

    root = tmp_path_factory.mktemp("simulated") / "survey"
    config = ROOT / "configs" / "tiny.yaml"
    subprocess.run(
        [sys.executable, "-m", "clusterhpc", "simulate", str(config), f"data.root={root}"],
        check=True,
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=180,
    )
    return root


def sbatch_script(tmp_path: Path, script: str, options: list[str], env: dict, args=()) -> str:
    """`sbatch slurm/SCRIPT.sbatch ARGS` (10-minute limit, output in tmp_path/slurm-JOBID.out)
    with `env` as the whole environment; returns the job id."""
    from tests.conftest import ROOT

    proc = subprocess.run(
        [
            "sbatch",
            "--parsable",
            "--time=10",
            f"--output={tmp_path}/slurm-%j.out",
            *options,
            str(ROOT / "slurm" / f"{script}.sbatch"),
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=env,
    )
    return proc.stdout.strip().split(";")[0]


def overrides(values: dict) -> list[str]:
    """Config overrides `key=value` (JSON values) for the sbatch scripts' arguments."""
    return [f"{k}={json.dumps(v)}" for k, v in values.items()]


@pytest.fixture
def jobs():
    """Job ids submitted by a test; whatever is still queued at its end is cancelled."""
    submitted: list[str] = []
    yield submitted
    if submitted:
        subprocess.run(["scancel", *submitted], capture_output=True)
