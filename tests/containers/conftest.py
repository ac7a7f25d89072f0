"""Apptainer for the container tests: the project's own installer, and the built CPU image."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.slurm.conftest import jobs, slurm  # noqa: F401 (fixtures for the tests here)

INSTALLER = ROOT / "scripts" / "install-apptainer.sh"
IMAGE_VARIABLE = "CLUSTERHPC_CPU_IMAGE"


def unavailable(message: str) -> None:
    """Skip on a workstation; in CI (which installs Apptainer and builds the image) fail."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def apptainer() -> str:
    """The apptainer program: on PATH, or installed by scripts/install-apptainer.sh (root)."""
    proc = subprocess.run(
        ["bash", str(INSTALLER)], capture_output=True, text=True, timeout=900, check=False
    )
    found = proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 else ""
    if not found:
        unavailable(f"no apptainer: {INSTALLER.name} failed: {proc.stderr.strip()[-400:]}")
    return found


@pytest.fixture(scope="session")
def cpu_image(apptainer) -> Path:
    """The CPU image CI builds (`containers/cached-build.sh`), named by CLUSTERHPC_CPU_IMAGE."""
    named = os.environ.get(IMAGE_VARIABLE, "")
    if not named or not Path(named).is_file():
        unavailable(
            f"{IMAGE_VARIABLE} does not name a built image ({named!r}); build one with "
            f"`containers/build.sh --cpu` (about 10 min) and export {IMAGE_VARIABLE}=its path"
        )
    return Path(named)


def container_env(apptainer: str, **extra: str) -> dict[str, str]:
    """The host environment for a job that runs the image: apptainer on PATH, and nothing that
    would make the container import the host's clusterhpc (PYTHONPATH, a venv)."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env["PATH"] = f"{Path(apptainer).parent}:{env['PATH']}"
    return {**env, **extra}
