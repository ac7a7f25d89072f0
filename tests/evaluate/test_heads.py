"""Class and regression head scores and their baselines on hand-made packed splits."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from clusterhpc.config import load_config
from clusterhpc.data.packed import PackedSplit
from clusterhpc.evaluate.metrics import class_scores
from clusterhpc.evaluate.records import Predictions, Truth
from clusterhpc.evaluate.report import write_report
from clusterhpc.evaluate.scored import Scored
from clusterhpc.evaluate.stage import evaluate
from clusterhpc.prep.pack import pack_shard, plan_shards, write_index
from tests.evaluate.head_fixtures import FEATURES, SETTINGS, head_entries

EDGES = [0.1, 0.27, 0.43, 0.6]
CFG = ["evaluate.gallery=0", "evaluate.criterion=iou", "evaluate.select_z=[0, 10]"]


def test_class_scores_confusion_and_accuracy_per_bin() -> None:
    s = class_scores(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), [0, 1, 2, 3])
    assert s["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert s["accuracy"] == pytest.approx(0.6) and s["n"] == 5
    assert [b["accuracy"] for b in s["binned_z"]] == [0.5, 1.0, 0.0]
    assert [b["n"] for b in s["binned_z"]] == [2, 2, 1]


def _packed(tmp_path: Path) -> dict[str, dict]:
    """valid and test splits whose λ = 3 N^0.8 exactly (N: member count)."""
    entries, members = head_entries(tmp_path / "survey", 40, seed=3)
    exact = []
    for e in entries:
        lam = 3.0 * len(members[e.meta["id"]]) ** 0.8
        box_fields = {**e.box_fields, "lam": [lam]}
        exact.append(replace(e, box_fields=box_fields, meta={**e.meta, "lam": lam}))
    splits = {"valid": exact[:20], "test": exact[20:]}
    out = tmp_path / "packed"
    results = [
        pack_shard(plan, out, tmp_path / "survey", SETTINGS, members, FEATURES)
        for plan in plan_shards(splits, 8)
    ]
    write_index(out, results)
    return {"members": members, "out": out}


def _scored(packed: Path, name: str, z_offset: float) -> Scored:
    """Perfect boxes; z predicted with an offset, ln λ exactly; classes from the true z."""
    split = PackedSplit(packed, name)
    truth = Truth.from_split(split)
    per_image = [slice(truth.offsets[i], truth.offsets[i + 1]) for i in range(truth.n_images)]
    boxes = [truth.boxes[s] for s in per_image]
    values = [np.column_stack([truth.z[s] + z_offset, np.log(truth.lam[s])]) for s in per_image]
    classes = [np.digitize(truth.z[s], EDGES) - 1 for s in per_image]
    preds = Predictions.from_lists(
        boxes,
        [np.full(len(b), 0.9) for b in boxes],
        values,
        [np.full((len(b), 2), 0.1) for b in boxes],
        value_names=("z", "lam"),
        classes=classes,
    )
    return Scored(truth, preds, [(split, i) for i in range(len(split))])


def test_regression_scores_with_member_and_constant_baselines(tmp_path) -> None:
    data = _packed(tmp_path)
    cfg = load_config(None, CFG)
    train_cfg = load_config(None, ["model.head=regression", "model.regression=[z, lam]"])
    tune = _scored(data["out"], "valid", 0.0)
    report = _scored(data["out"], "test", 0.01)
    protocol = {"tuned_on": "valid", "reported_on": "test"}
    m = evaluate(cfg, train_cfg, tune, report, protocol, tmp_path / "out")

    z, lam = m["regression"]["z"], m["regression"]["lam"]
    dz = 0.01 / (1 + report.truth.z)
    assert z["all"]["n"] == 20 and z["all"]["bias"] == pytest.approx(np.median(dz))
    assert lam["all"]["scatter_ln"] == pytest.approx(0.0, abs=1e-9)
    assert len(z["all"]) and len(z["binned_z"]) == len(cfg.evaluate.z_bins) - 1

    fit = lam["baseline_member_count"]
    assert fit["a"] == pytest.approx(np.log(3.0)) and fit["b"] == pytest.approx(0.8)
    assert fit["n_fit"] == 20
    assert fit["baseline"]["all"]["scatter_ln"] == pytest.approx(0.0, abs=1e-6)  # float32 λ

    photoz = z["baseline_member_photoz"]
    ids = report.truth.cluster_id
    medians = np.array([np.median(data["members"][int(c)][:, FEATURES.index("ZRED")]) for c in ids])
    expected = (medians - report.truth.z) / (1 + report.truth.z)
    assert photoz["baseline"]["all"]["bias"] == pytest.approx(np.median(expected))
    assert photoz["model"]["all"] == z["all"]

    constant = z["baseline_constant"]
    assert constant["value"] == pytest.approx(np.median(tune.truth.z))
    assert constant["baseline"]["all"]["sigma_nmad"] > z["all"]["sigma_nmad"]
    assert m["classification"] == {}

    write_report(m, m["plots"], tmp_path / "report.md")
    report_md = (tmp_path / "report.md").read_text()
    assert "## Regression: redshift z" in report_md and "baseline_member_count" in report_md


def test_class_scores_with_majority_and_member_photoz_baselines(tmp_path) -> None:
    data = _packed(tmp_path)
    cfg = load_config(None, CFG)
    train_cfg = load_config(None, ["model.head=class", f"model.class_edges={EDGES}"])
    tune = _scored(data["out"], "valid", 0.0)
    report = _scored(data["out"], "test", 0.0)
    protocol = {"tuned_on": "valid", "reported_on": "test"}
    m = evaluate(cfg, train_cfg, tune, report, protocol, tmp_path / "out")

    c = m["classification"]
    true_class = np.digitize(report.truth.z, EDGES) - 1
    assert c["accuracy"] == 1.0 and c["n"] == 20
    assert np.array_equal(np.diag(c["confusion"]), np.bincount(true_class, minlength=3))
    assert [b["n"] for b in c["binned_z"]] == np.bincount(true_class, minlength=3).tolist()
    tune_class = np.digitize(tune.truth.z, EDGES) - 1
    majority = c["baseline_majority"]
    assert majority["class"] == np.argmax(np.bincount(tune_class, minlength=3))
    assert majority["baseline"]["accuracy"] == pytest.approx(
        np.mean(true_class == majority["class"])
    )
    assert 0 < c["baseline_member_photoz"]["baseline"]["accuracy"] <= 1
    assert m["regression"] == {}
    write_report(m, m["plots"], tmp_path / "report.md")
    report_md = (tmp_path / "report.md").read_text()
    assert "Confusion matrix" in report_md and "| true z bin |" in report_md
