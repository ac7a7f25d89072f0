"""`clusterhpc run` of a catalogue model end to end on a small mock (no images), then skipped."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.io import fits

from clusterhpc.cli import main
from clusterhpc.config import load_config
from clusterhpc.io.set_shards import read_split
from clusterhpc.pipeline import is_done, stages_for
from tests.conftest import ROOT
from tests.train.sets_fixtures import SURVEY_SETTINGS

pytestmark = [pytest.mark.slow, pytest.mark.trained]
CONFIG = str(ROOT / "configs" / "mlp_catalogue.yaml")


def test_catalogue_config_runs_the_whole_pipeline_without_images(tmp_path, capsys):
    overrides = [
        f"data.root={tmp_path / 'data'}",
        f"run.dir={tmp_path / 'run'}",
        *SURVEY_SETTINGS,
        "model.sets.targets=[z, lnlam, lnmass, centre, detect]",
        "train.epochs=3",
    ]
    assert main(["run", CONFIG, *overrides]) == 0
    data, run = tmp_path / "data", tmp_path / "run"
    assert not list(data.rglob("*.jpeg"))  # a catalogue run renders no image
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["protocol"]["reported_on"] == "test"
    for target, baseline in (
        ("z", "baseline_member_photoz"),
        ("lnlam", "baseline_member_count"),
        ("lnmass", "baseline_mass_richness"),
        ("centre", "baseline_brightest"),
    ):
        assert metrics[target]["model"]["n"] > 50, target
        assert baseline in metrics[target], target
        assert 0 <= metrics[target]["calibration"]["within_1sigma"] <= 1
    assert 0 <= metrics["detect"]["auc"] <= 1
    report = (run / "report.md").read_text()
    assert "baseline" in report and "plots/" in report
    test = read_split(data / "sets", "test")
    table = fits.getdata(run / "detections.fits", 1)
    assert len(table) == len(test)
    np.testing.assert_array_equal(table["CLUSTER_ID"], test.meta["id"])
    for column in ("Z_PRED", "Z_SIGMA", "LAMBDA_PRED", "LN_MASS_PRED", "RA_PRED", "PROB_SET"):
        assert np.isfinite(table[column]).all(), column
    cfg = load_config(CONFIG, overrides)
    used = stages_for("mlp")
    assert [s.name for s in used] == ["simulate", "prep sets", "train", "evaluate", "detect"]
    assert all(is_done(cfg, stage) for stage in used)
    capsys.readouterr()
    assert main(["run", CONFIG, *overrides]) == 0
    err = capsys.readouterr().err
    assert err.count("up to date, skipped") == len(used)
    assert "prep pack: not needed by a model.kind mlp run" in err
