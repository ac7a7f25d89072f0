"""Train the class and regression heads on a survey whose images show z and λ, then evaluate
them against their baselines and run detect: every head works end to end.

Bounds are relative, measured in the same run (the trained head against a constant
prediction, or the tune split's majority class), never absolute figures of one CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from clusterhpc.config import Config, load_config
from tests.evaluate.head_fixtures import make_head_survey
from tests.train.fixtures import ROOT, train_config

pytestmark = [pytest.mark.slow, pytest.mark.trained]

CLASS_EDGES = "[0.1, 0.35, 0.6]"
HEADS = {
    "regression": ["model.head=regression", "model.regression=[z, lam]"],
    "class": ["model.head=class", f"model.class_edges={CLASS_EDGES}"],
}


def train_head(directory: Path, head: str) -> Config:
    from clusterhpc.train.stage import main as train_main

    survey = make_head_survey(directory)
    cfg = train_config(
        survey,
        directory / "run",
        "train.epochs=8",
        "train.augment_prob=0.5",
        "train.validate=false",
        *HEADS[head],
    )
    assert train_main(cfg) == 0
    return cfg


def evaluate_and_detect(directory: Path, cfg: Config) -> tuple[dict, str, Table]:
    from clusterhpc.detect.stage import main as detect_main
    from clusterhpc.evaluate.stage import main as evaluate_main

    common = [
        f"data.root={cfg.data.root}",
        f"run.dir={cfg.run.dir}",
        "evaluate.recalibrate_bn=48",
        "evaluate.gallery=0",
    ]
    tiny = ROOT / "configs" / "tiny.yaml"
    assert evaluate_main(load_config(tiny, [*common, "evaluate.criterion=iou"])) == 0
    run = Path(cfg.run.dir)
    catalog = directory / "catalog.fits"
    det = [*common, f"detect.images={cfg.data.root}/packed", f"detect.out={catalog}"]
    assert detect_main(load_config(tiny, det)) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    return metrics, (run / "report.md").read_text(), Table.read(catalog)


def test_regression_head_end_to_end(tmp_path) -> None:
    cfg = train_head(tmp_path, "regression")
    m, report, table = evaluate_and_detect(tmp_path, cfg)

    z, lam = m["regression"]["z"], m["regression"]["lam"]
    assert z["all"]["n"] >= 10  # matched test clusters
    for scores in (z, lam):
        assert len(scores["binned_z"]) == len(cfg.evaluate.z_bins) - 1
    for key in ("bias", "sigma_nmad", "outlier_fraction"):
        assert key in z["all"] and key in z["baseline_member_photoz"]["baseline"]["all"]
    assert "scatter_ln" in lam["baseline_member_count"]["baseline"]["all"]
    assert {"a", "b", "n_fit"} <= set(lam["baseline_member_count"])
    # the trained head beats a constant prediction of z on the same matched clusters (ln λ,
    # shown by brightness only, is not reliably learnt in 8 epochs: its figures are checked)
    constant = z["baseline_constant"]
    assert constant["model"]["all"]["sigma_nmad"] < constant["baseline"]["all"]["sigma_nmad"]
    assert lam["all"]["scatter_ln"] > 0 and lam["baseline_constant"]["baseline"]["all"]["n"] > 0
    assert "## Regression: redshift z" in report and "## Regression: richness ln λ" in report

    assert len(table) > 0
    for name in ("Z_PRED", "Z_SIGMA", "LAMBDA_PRED", "LAMBDA_SIGMA"):
        assert np.all(np.isfinite(table[name])), name
    assert np.all(table["Z_SIGMA"] > 0) and np.all(table["LAMBDA_SIGMA"] > 0)
    assert np.all(table["LAMBDA_PRED"] > 0)
    assert "CLASS" not in table.colnames


def test_class_head_end_to_end(tmp_path) -> None:
    cfg = train_head(tmp_path, "class")
    m, report, table = evaluate_and_detect(tmp_path, cfg)

    c = m["classification"]
    assert c["n"] >= 10
    assert np.asarray(c["confusion"]).shape == (2, 2) and np.sum(c["confusion"]) == c["n"]
    assert [b["n"] for b in c["binned_z"]] == np.sum(c["confusion"], axis=1).tolist()
    assert "accuracy" in c["baseline_member_photoz"]["baseline"]
    # better than always answering the tune split's most frequent class
    assert c["accuracy"] > c["baseline_majority"]["baseline"]["accuracy"]
    assert "Confusion matrix" in report

    assert len(table) > 0
    assert set(np.unique(table["CLASS"])) <= {0, 1}
    assert np.all((table["CLASS_PROB"] >= 0) & (table["CLASS_PROB"] <= 1))
    assert table.meta["CLSEDGES"] == "0.1,0.35,0.6"
    assert "Z_PRED" not in table.colnames
