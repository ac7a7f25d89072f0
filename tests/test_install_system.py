"""scripts/install-system.sh for a user without root: it installs nothing, says what to install,
and goes on when MPI and compilers are already on PATH. Run as an unprivileged user (setpriv)
with a PATH where dpkg knows none of the packages; nothing on the machine is uninstalled."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "install-system.sh"
SERVICES = ("munge", "slurmctld", "slurmd", "slurmdbd", "mariadb-server")
NOBODY = 65534


def executable(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(0o755)


@pytest.fixture
def bare_path():
    """A PATH with bash, a dpkg-query that knows no package, and an apt-get that leaves a mark,
    in a folder that `nobody` can read (pytest's tmp_path is private to root)."""
    with tempfile.TemporaryDirectory(prefix="install-system-") as folder:
        bin_dir = Path(folder) / "bin"
        bin_dir.mkdir(parents=True)
        Path(folder).chmod(0o755)
        (bin_dir / "bash").symlink_to(shutil.which("bash"))
        executable(bin_dir / "dpkg-query", "exit 1")
        mark = Path(folder) / "apt-get-ran"
        executable(bin_dir / "apt-get", f"echo ran > {mark}; exit 1")
        yield bin_dir, mark


def run_unprivileged(bin_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The script as user `nobody` (setpriv, when these tests run as root) with PATH=bin_dir."""
    command = [shutil.which("bash"), str(SCRIPT), *args]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to drop root"
        command = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={"PATH": str(bin_dir), "HOME": "/nonexistent", **env},
        stdin=subprocess.DEVNULL,
    )


def test_without_root_it_lists_what_to_install_and_the_way_on(bare_path):
    bin_dir, mark = bare_path
    proc = run_unprivileged(bin_dir)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    err = proc.stderr
    assert "installing needs root, and there is no sudo" in err
    assert "apt-get install -y --no-install-recommends openmpi-bin libopenmpi-dev cmake g++" in err
    assert "not found: mpicc mpicxx mpirun g++ cmake make" in err
    assert "make demo SYSTEM_PACKAGES=skip" in err
    assert not any(service in err for service in SERVICES), "the demo needs no server packages"
    assert not mark.exists()


def test_the_test_services_stay_behind_test(bare_path):
    bin_dir, mark = bare_path
    proc = run_unprivileged(bin_dir, "--test")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert all(service in proc.stderr for service in SERVICES)
    assert "SYSTEM_PACKAGES=skip" not in proc.stderr
    assert not mark.exists()


def test_mpi_and_compilers_on_path_need_no_root(bare_path):
    bin_dir, mark = bare_path
    for tool in ("mpicc", "mpicxx", "mpirun", "g++", "cmake", "make"):
        executable(bin_dir / tool, "exit 0")
    proc = run_unprivileged(bin_dir)
    assert proc.returncode == 0, proc.stderr
    assert "found on PATH, installing no system packages" in proc.stdout
    assert not mark.exists()


def test_system_packages_skip(bare_path):
    bin_dir, mark = bare_path
    proc = run_unprivileged(bin_dir, SYSTEM_PACKAGES="skip")
    assert proc.returncode == 0, proc.stderr
    assert "SYSTEM_PACKAGES=skip" in proc.stdout
    assert not mark.exists()
