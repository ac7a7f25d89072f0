"""Shared test helpers: run commands under real mpirun, find the project root."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def mpirun_command(n_ranks: int, *args: str) -> list[str]:
    """`mpirun -np N <python> args...` as root-safe, oversubscribed Open MPI command."""
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        pytest.fail("mpirun not found: install OpenMPI (scripts/install-system.sh)")
    return [
        mpirun,
        "--allow-run-as-root",
        "--oversubscribe",
        "-np",
        str(n_ranks),
        "--mca",
        "btl",
        "self,vader,tcp",
        sys.executable,
        *args,
    ]


def run_mpi(
    n_ranks: int,
    *args: str,
    timeout: float = 300,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run python `args` on `n_ranks` real MPI ranks; fail the test with the output on error."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    proc = subprocess.run(
        mpirun_command(n_ranks, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or ROOT,
        env=full_env,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"mpirun -np {n_ranks} {' '.join(args)} failed ({proc.returncode}):\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc
