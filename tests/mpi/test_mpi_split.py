"""Work splitting and gathering under real `mpirun` with 2 ranks."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT, run_mpi

pytestmark = pytest.mark.mpi


def test_two_ranks_split_and_gather():
    proc = run_mpi(2, str(ROOT / "tests" / "mpi" / "split_worker.py"))
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["size"] == 2
    assert out["env_size"] == 2
    assert out["launcher"] == "mpirun"
    assert out["owners"] == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]
    assert out["squares"] == [i * i for i in range(11)]
    assert out["total"] == sum(range(11))


def test_only_rank_zero_logs():
    code = (
        "from clusterhpc.log import setup_logging, get_logger;"
        "setup_logging('INFO');"
        "get_logger('t').info('hello from info');"
        "get_logger('t').warning('warn from every rank')"
    )
    proc = run_mpi(2, "-c", code)
    assert proc.stderr.count("hello from info") == 1
    assert "[rank 0/2]" in proc.stderr
    assert proc.stderr.count("warn from every rank") == 2
