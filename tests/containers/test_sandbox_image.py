"""The container runtime path in seconds, with a 40 kB image built from a local sandbox.

It holds only a `clusterhpc` launcher and mount points; the host's /usr and this checkout
(with its venv) are bound in. It checks what the scripts rely on, `apptainer exec IMAGE
clusterhpc ...`, also as the ranks of `srun --mpi=pmix` through slurm/preprocess.sbatch,
without the 10-minute build of the real CPU image (test_cpu_image.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.slurm.conftest import wait_for_job
from tests.train.fixtures import make_packed_survey


@pytest.fixture(scope="module")
def image(apptainer, tmp_path_factory) -> Path:
    """A 40 kB image: mount points, /bin/sh and a `clusterhpc` launcher for this venv."""
    root = tmp_path_factory.mktemp("sandbox") / "rootfs"
    for name in ("usr", "etc", "tmp", "proc", "sys", "dev", "root", "home", "var/tmp", "bin"):
        (root / name).mkdir(parents=True)
    for name in ("lib", "lib64", "sbin"):
        (root / name).symlink_to(f"usr/{name}")
    for name in ("sh", "bash", "env"):
        (root / "bin" / name).symlink_to(f"/usr/bin/{name}")
    launcher = root / "bin" / "clusterhpc"
    launcher.write_text(f'#!/bin/sh\nexec {sys.executable} -m clusterhpc "$@"\n')
    launcher.chmod(0o755)
    sif = root.parent / "test.sif"
    subprocess.run(
        [apptainer, "build", "--force", str(sif), str(root)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return sif


def binds() -> str:
    return f"/usr,{ROOT}"


def test_clusterhpc_runs_inside_the_image(apptainer, image):
    proc = subprocess.run(
        [apptainer, "exec", "--bind", binds(), str(image), "clusterhpc", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("clusterhpc ")


@pytest.mark.slurm
@pytest.mark.usefixtures("slurm")
def test_preprocess_sbatch_runs_two_mpi_ranks_inside_the_image(apptainer, image, tmp_path):
    """`srun --mpi=pmix apptainer exec IMAGE clusterhpc prep verify` on 2 ranks."""
    survey = make_packed_survey(tmp_path)
    env = {
        **os.environ,
        "PATH": f"{Path(apptainer).parent}:{os.environ['PATH']}",
        "CONFIG": str(ROOT / "configs" / "tiny.yaml"),
        "STAGES": "verify",
        "DATA_DIR": str(survey),
        "IMAGE": str(image),
        "BINDS": binds(),
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(
        [
            "sbatch",
            "--parsable",
            "--ntasks=2",
            f"--output={tmp_path}/slurm-%j.out",
            str(ROOT / "slurm" / "preprocess.sbatch"),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=env,
    )
    job = proc.stdout.strip().split(";")[0]
    state = wait_for_job(job, timeout=240)
    log = survey / "logs" / f"prep-verify-{job}.log"
    output = "\n".join(p.read_text() for p in (tmp_path / f"slurm-{job}.out", log) if p.exists())
    assert state == "COMPLETED", output
    assert "[rank 0/2]" in log.read_text() or "rank 1" in log.read_text(), output
