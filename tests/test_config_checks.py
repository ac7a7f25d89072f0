"""`clusterhpc run` refuses bad values before its first stage (exit 2, the key named), finds
the prep outputs in `prep.out`, and reruns `prep anchors` when anchors.txt is missing."""

from __future__ import annotations

import pytest

from clusterhpc.cli import main
from clusterhpc.config import load_config
from clusterhpc.pipeline import STAGES
from tests.conftest import ROOT

TINY = str(ROOT / "configs" / "tiny.yaml")


def run_fails(tmp_path, capsys, *overrides: str) -> str:
    """Exit code 2 and nothing written; returns the error message."""
    places = [f"data.root={tmp_path / 'data'}", f"run.dir={tmp_path / 'run'}"]
    assert main(["run", TINY, *places, *overrides]) == 2
    assert not (tmp_path / "data").exists() and not (tmp_path / "run").exists()
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["model.input_size=100"], "model.input_size = 100: expected a multiple of 32"),
        (
            ["model.kind=cnn", "model.input_size=40"],
            "model.input_size = 40: expected a multiple of 16",
        ),
        (["prep.boxes.split=[0.5,0.3,0.3]"], "prep.boxes.split"),
        (["prep.boxes.split=[0.8,0.0,0.2]"], "prep.boxes.split"),
        (["model.head=class", "model.class_edges=[0.1,0.3,0.2]"], "model.class_edges"),
        (["model.head=class", "model.class_edges=[0.2]"], "model.class_edges"),
        (["simulate.footprint.nside=100"], "simulate.footprint.nside = 100"),
        (["prep.boxes.split_by=healpix", "prep.boxes.split_nside=12"], "split_nside = 12"),
        (["resources.time=1h"], "resources.time = '1h'"),
        (["evaluate.z_bins=[0.1,0.1,0.3]"], "evaluate.z_bins"),
        (["prep.empty.min_sep_arcmin=400"], "prep.empty.min_sep_arcmin"),
        (["simulate.clusters.z_min=0.5", "simulate.clusters.z_max=0.3"], "z_min/z_max"),
        (["model.head=regression", "model.regression=[]"], "model.regression"),
        (
            ["prep.pack.encoding=jpeg", "prep.pack.compression=lz4"],
            "prep.pack.compression = lz4 with encoding jpeg",
        ),
    ],
)
def test_bad_value_exits_2_naming_the_key(tmp_path, capsys, overrides, key):
    assert key in run_fails(tmp_path, capsys, *overrides)


def test_unwritable_output_directory_is_named(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    err = run_fails(tmp_path, capsys, f"evaluate.out={blocker / 'eval'}")
    assert "evaluate.out" in err and "is a file" in err
    err = run_fails(tmp_path, capsys, f"prep.out={blocker}")
    assert "prep.out" in err


def test_real_survey_without_catalogues_and_every_problem_at_once(tmp_path, capsys):
    err = run_fails(tmp_path, capsys, "data.simulated=false", "model.input_size=100")
    assert "data.root" in err and "catalog.fits" in err and "members.fits" in err
    assert "model.input_size" in err and "3 config value(s)" in err


def test_run_looks_for_prep_outputs_in_prep_out_and_for_anchors(tmp_path):
    cfg = load_config(TINY, [f"data.root={tmp_path / 'data'}", f"prep.out={tmp_path / 'p'}"])
    stage = {s.name: s for s in STAGES}
    (tmp_path / "data" / "prep").mkdir(parents=True)
    for name in ("boxes.fits", "empty_fields.fits", "anchors.txt"):
        (tmp_path / "data" / "prep" / name).write_text("")  # the default place: not looked at
    assert not any(stage[n].outputs_ok(cfg) for n in ("prep boxes", "prep empty", "prep anchors"))
    (tmp_path / "p").mkdir()
    for name in ("boxes.fits", "empty_fields.fits", "anchors.txt"):
        (tmp_path / "p" / name).write_text("")
    assert all(stage[n].outputs_ok(cfg) for n in ("prep boxes", "prep empty", "prep anchors"))
    (tmp_path / "p" / "anchors.txt").unlink()
    assert not stage["prep anchors"].outputs_ok(cfg)  # a missing anchors.txt is made again
