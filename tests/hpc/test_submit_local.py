"""Sweeps run for real on this machine (submitit's debug executor): values, collect, errors."""

from __future__ import annotations

import csv
import json

import pytest

from clusterhpc.submit import main
from tests.hpc import fixtures
from tests.hpc.fixtures import TINY
from tests.train.fixtures import make_packed_survey


def write_sweep(tmp_path, **fields):
    return fixtures.write_sweep(tmp_path, executor="debug", **fields)


def test_values_with_shell_metacharacters_reach_the_stage_intact(tmp_path, capsys):
    """A data.root full of shell syntax: the job finds its data, and nothing is executed."""
    evil = f"a b;$(touch {tmp_path}/pwned)`touch {tmp_path}/pwned2`"
    survey = make_packed_survey(tmp_path / "x" / evil)
    path = write_sweep(tmp_path, grid={"data.root": [str(survey)]}, commands=["prep verify"])
    assert main([str(path)]) == 0, capsys.readouterr()
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()
    manifest = json.loads((tmp_path / "sweeps" / "s" / "manifest.json").read_text())
    assert [j["state"] for j in manifest["jobs"]] == ["COMPLETED"]


def test_failed_job_is_reported_by_status(tmp_path, capsys):
    path = write_sweep(
        tmp_path, grid={"data.root": [str(tmp_path / "nothing")]}, commands=["prep verify"]
    )
    assert main([str(path)]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out
    assert main(["status", str(path)]) == 1
    assert "1 FAILED" in capsys.readouterr().out


@pytest.mark.slow
def test_sweep_trains_each_job_and_collect_sorts_the_table(tmp_path, capsys):
    survey = make_packed_survey(tmp_path)
    path = write_sweep(
        tmp_path,
        grid={"train.lr_init": [0.001, 0.01]},
        fixed={"data.root": str(survey), **TINY},
        commands=["train"],
    )
    assert main([str(path)]) == 0, capsys.readouterr()
    assert main(["collect", str(path), "--sort", "loss.total"]) == 0
    directory = tmp_path / "sweeps" / "s"
    rows = list(csv.DictReader((directory / "results.csv").open()))
    assert len(rows) == 2
    assert {r["train.lr_init"] for r in rows} == {"0.001", "0.01"}
    assert all(r["state"] == "COMPLETED" and r["global_step"] == "2" for r in rows)
    losses = [float(r["loss.total"]) for r in rows]
    assert losses == sorted(losses)
    table = (directory / "results.md").read_text()
    assert table.startswith("| name | state | train.lr_init |") and table.count("\n") == 4
