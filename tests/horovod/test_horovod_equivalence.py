"""Real Horovod on 2 ranks: gradients are averaged, ranks agree, and 2 ranks == 1 rank."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, run_mpi

pytestmark = [pytest.mark.horovod, pytest.mark.mpi, pytest.mark.trained]
WORKER = str(ROOT / "tests" / "horovod" / "equivalence_worker.py")


def load(path):
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def assert_same_weights(a, b, atol):
    weights = sorted(k for k in a if k.startswith("w"))
    assert weights == sorted(k for k in b if k.startswith("w"))
    for key in weights:
        np.testing.assert_allclose(a[key], b[key], atol=atol, rtol=0, err_msg=key)


@pytest.fixture(scope="module")
def one_rank(tmp_path_factory):
    out = tmp_path_factory.mktemp("hvd1")
    run_mpi(1, WORKER, str(out))
    return load(out / "weights_rank0.npz")


def test_two_ranks_mpi_match_each_other_and_one_rank(tmp_path, one_rank):
    run_mpi(2, WORKER, str(tmp_path))
    rank0, rank1 = load(tmp_path / "weights_rank0.npz"), load(tmp_path / "weights_rank1.npz")
    assert_same_weights(rank0, rank1, atol=0)
    assert_same_weights(rank0, one_rank, atol=1e-5)
    # Averaged per-rank losses equal the 1-rank loss on the same global batches.
    np.testing.assert_allclose(rank0["loss"], one_rank["loss"], rtol=1e-5)
    assert rank0["loss"][-1] < rank0["loss"][0]


def test_two_ranks_gloo_via_horovodrun(tmp_path, one_rank):
    # The launcher of this interpreter's venv (each stack has its own), else the one on PATH.
    horovodrun = shutil.which("horovodrun", path=str(Path(sys.executable).parent)) or shutil.which(
        "horovodrun"
    )
    if horovodrun is None:
        pytest.fail("horovodrun not found next to the interpreter: scripts/install-horovod.sh")
    proc = subprocess.run(
        [horovodrun, "-np", "2", "--gloo", sys.executable, WORKER, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rank0, rank1 = load(tmp_path / "weights_rank0.npz"), load(tmp_path / "weights_rank1.npz")
    assert_same_weights(rank0, rank1, atol=0)
    assert_same_weights(rank0, one_rank, atol=1e-5)
