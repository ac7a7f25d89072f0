"""Slurm tests need a controller that answers: the local one (`local-cluster.sh start`) in CI."""

from __future__ import annotations

import os
import shutil
import subprocess
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
