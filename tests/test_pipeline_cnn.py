"""`clusterhpc run configs/cnn_classifier.yaml` end to end on a small mock, then skipped."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.io import fits

from clusterhpc.cli import main
from clusterhpc.config import load_config
from clusterhpc.data.packed import PackedSplit
from clusterhpc.paths import anchors_path
from clusterhpc.pipeline import is_done, stages_for
from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.trained]
CONFIG = str(ROOT / "configs" / "cnn_classifier.yaml")


def test_cnn_classifier_config_runs_the_whole_pipeline(tmp_path, capsys):
    overrides = [
        f"data.root={tmp_path / 'data'}",
        f"run.dir={tmp_path / 'run'}",
        "simulate.cutouts.clusters=80",
        "simulate.cutouts.empty=80",
        "prep.empty.n=80",
        "train.epochs=3",
    ]
    assert main(["run", CONFIG, *overrides]) == 0
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["kind"] == "cnn" and metrics["protocol"]["reported_on"] == "test"
    assert 0.5 < metrics["auc"] <= 1
    assert np.isfinite(metrics["sigma_nmad"])
    assert "baseline_chance_auc" in metrics
    assert "Cluster classification" in (run / "report.md").read_text()
    detections = fits.getdata(run / "detections.fits", 1)
    test = PackedSplit(tmp_path / "data" / "packed", "test")
    assert len(detections) == len(test) > 0
    assert {"RA", "DEC", "PROB", "IS_CLUSTER", "Z_PRED", "Z_SIGMA"} <= set(detections.names)
    cfg = load_config(CONFIG, overrides)
    assert not anchors_path(cfg).exists()  # a classifier needs no anchors
    used = stages_for("cnn")  # no anchors, no member sets
    assert all(is_done(cfg, stage) for stage in used)
    capsys.readouterr()
    assert main(["run", CONFIG, *overrides]) == 0
    err = capsys.readouterr().err
    assert err.count("up to date, skipped") == len(used)
    assert "prep anchors: not needed by a model.kind cnn run" in err
