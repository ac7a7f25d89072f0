"""A one-process `clusterhpc run` gives its MPI-parallel stages every core, through real mpirun."""

from __future__ import annotations

import filecmp
import os
from pathlib import Path

import pytest

from clusterhpc.config import load_config
from clusterhpc.hpc.local_ranks import run_stage_on_ranks, stage_ranks, usable_cores
from clusterhpc.simulate.stage import main as simulate
from tests.conftest import ROOT

TINY = ROOT / "configs" / "tiny.yaml"
LAUNCHER_VARS = ("OMPI_COMM_WORLD_SIZE", "HOROVOD_SIZE", "PMI_SIZE", "SLURM_STEP_ID")


@pytest.fixture
def plain_process(monkeypatch):
    """This process as `clusterhpc run` started alone: no launcher variables."""
    for name in LAUNCHER_VARS:
        monkeypatch.delenv(name, raising=False)


def test_ranks_default_to_the_usable_cores_and_follow_the_config(plain_process):
    assert stage_ranks(load_config(TINY)) == usable_cores() == len(os.sched_getaffinity(0))
    assert stage_ranks(load_config(TINY, ["run.stage_ranks=1"])) == 1
    assert stage_ranks(load_config(TINY, ["run.stage_ranks=3"])) == 3


def test_no_ranks_are_started_under_a_launcher(monkeypatch):
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "0")
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    assert stage_ranks(load_config(TINY, ["run.stage_ranks=4"])) == 1


def test_without_mpirun_the_stage_stays_in_process(plain_process, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no mpirun
    assert stage_ranks(load_config(TINY, ["run.stage_ranks=2"])) == 1


def _files(root: Path) -> list[Path]:
    """Every output file but the resolved config (it names `data.root`, which differs)."""
    return sorted(
        p.relative_to(root) for p in root.rglob("*") if p.is_file() and p.name != "config.yaml"
    )


@pytest.mark.mpi
def test_simulate_on_two_ranks_writes_the_same_bytes_as_one(plain_process, tmp_path):
    small = ["simulate.cutouts.clusters=6", "simulate.cutouts.empty=2"]
    serial = load_config(TINY, [f"data.root={tmp_path / 'serial'}", *small])
    spread = load_config(TINY, [f"data.root={tmp_path / 'spread'}", *small])
    assert simulate(serial) == 0
    assert run_stage_on_ranks("simulate", spread, 2) == 0
    files = _files(tmp_path / "serial")
    assert files == _files(tmp_path / "spread") and len(files) > 8
    _, mismatch, errors = filecmp.cmpfiles(
        tmp_path / "serial", tmp_path / "spread", [str(f) for f in files], shallow=False
    )
    assert mismatch == errors == []


@pytest.mark.mpi
def test_a_failing_stage_on_ranks_returns_its_error(plain_process, tmp_path):
    cfg = load_config(TINY, [f"data.root={tmp_path / 'nothing-here'}"])
    assert run_stage_on_ranks("prep pack", cfg, 2) != 0
