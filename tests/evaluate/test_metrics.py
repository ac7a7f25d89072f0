"""Completeness/purity on hand-made splits, an injected selection function, the protocol."""

from __future__ import annotations

import numpy as np
import pytest

from clusterhpc.config import load_config
from clusterhpc.evaluate.matching import Criterion
from clusterhpc.evaluate.metrics import (
    MatchSettings,
    Selection,
    SplitMatcher,
    binned_completeness,
    counts,
    redshift_scores,
    wilson,
)
from clusterhpc.evaluate.records import Predictions
from clusterhpc.evaluate.scored import Scored
from clusterhpc.evaluate.stage import evaluate
from tests.evaluate.test_matching import truth_of

SETTINGS = MatchSettings("optimal", Criterion("iou", 0.5), 0.5)
EVERYTHING = Selection(0.0, (0.0, 10.0))


def test_wilson_interval() -> None:
    lo, hi = wilson(np.array(8), np.array(10), z=1.96)
    assert (lo, hi) == pytest.approx((0.4902, 0.9433), abs=1e-4)


def test_counts_with_empty_fields_duplicates_and_misses() -> None:
    box = np.array([[10, 10, 30, 30]], float)
    truth = truth_of([box, box, np.zeros((0, 4)), np.zeros((0, 4))])
    preds = Predictions.from_lists(
        [np.concatenate([box, box + 1]), np.zeros((0, 4)), box, np.concatenate([box, box + 40])],
        [[0.9, 0.6], [], [0.8], [0.7, 0.2]],
    )
    row = counts(truth, preds, SplitMatcher(truth, preds, SETTINGS).at(0.5), EVERYTHING)
    assert row["completeness"] == 0.5  # image 1 missed
    assert row["purity"] == 0.25  # 1 true of 4 kept: a duplicate, two on empty fields
    assert row["fp_per_empty_field"] == 1.0
    assert row["giou"]["mean"] == 1.0


def test_completeness_of_central_clusters_and_neighbours() -> None:
    from dataclasses import replace

    centre, side = np.array([[40, 40, 60, 60]], float), np.array([[0, 0, 20, 20]], float)
    truth = truth_of([np.concatenate([centre, side]), np.concatenate([centre, side]), centre])
    truth = replace(
        truth,
        central=np.array([True, False, True, False, True]),
        weight=np.array([1.0, 1.0, 1.0, 0.6, 1.0]),  # image 1's neighbour is cut by the edge
    )
    # found: both centres of images 0-1 and the neighbour of image 0; image 2 is missed
    preds = Predictions.from_lists(
        [np.concatenate([centre, side]), centre, np.zeros((0, 4))], [[0.9, 0.8], [0.9], []]
    )
    by_position = counts(truth, preds, SplitMatcher(truth, preds, SETTINGS).at(0.5), EVERYTHING)[
        "completeness_by_position"
    ]
    assert by_position["central"]["n"] == 3 and by_position["central"]["found"] == 2
    assert by_position["neighbour"]["value"] == 0.5
    assert by_position["neighbour"]["err"] == pytest.approx(list(wilson(1, 2)))
    inside = by_position["neighbour_inside"]
    assert (inside["n"], inside["found"]) == (1, 1)


def test_injected_selection_function_is_recovered() -> None:
    rng = np.random.default_rng(3)
    n = 6000
    z = rng.uniform(0.05, 0.6, n)
    lam = rng.uniform(20, 200, n)
    p_detect = 1.0 - 1.2 * z  # the injected completeness
    detected = rng.random(n) < p_detect
    boxes = [np.tile(rng.uniform(0, 60, 2), 2)[None] + [[0, 0, 30, 30]] for _ in range(n)]
    truth = truth_of(boxes)
    truth.z[:], truth.lam[:] = z, lam
    pred_boxes = [
        b + rng.normal(0, 1, 4) if d else np.zeros((0, 4))
        for b, d in zip(boxes, detected, strict=True)
    ]
    preds = Predictions.from_lists(pred_boxes, [[0.9] if d else [] for d in detected])
    match = SplitMatcher(truth, preds, SETTINGS).at(0.5)
    edges = np.linspace(0.05, 0.6, 12)
    table = binned_completeness(
        truth, match, EVERYTHING, {"z": edges, "lambda": [20, 200], "log10_mass": [13, 16]}
    )["z"]
    centre = (edges[:-1] + edges[1:]) / 2
    frac, n_bin = np.array(table["fraction"]), np.array(table["n"])
    sigma = np.sqrt(frac * (1 - frac) / n_bin)
    assert np.all(np.abs(frac - (1 - 1.2 * centre)) < 3 * sigma + 0.02)  # + bin-width slope


def test_redshift_scores() -> None:
    z = np.full(100, 0.5)
    z_pred = z + 1.5 * np.r_[np.full(90, 0.01), np.full(10, 0.2)]
    s = redshift_scores(z, z_pred, 0.05)
    assert s["bias"] == pytest.approx(0.01) and s["sigma_nmad"] == pytest.approx(0.0)
    assert s["outlier_fraction"] == pytest.approx(0.1)


def _scored(rng: np.random.Generator, n: int, noise: float) -> Scored:
    boxes = [np.tile(rng.uniform(0, 60, 2), 2)[None] + [[0, 0, 30, 30]] for _ in range(n)]
    truth = truth_of(boxes)
    scores = [rng.uniform(0, 1, 2) for _ in range(n)]
    pred = [
        np.concatenate([b, np.tile(rng.uniform(0, 60, 2), 2)[None] + [[0, 0, 30, 30]]])
        for b in boxes
    ]
    scores = [np.array([min(1, s[0] + noise), s[1]]) for s in scores]
    return Scored(truth, Predictions.from_lists(pred, scores), [])


def test_threshold_is_chosen_on_valid_only(tmp_path) -> None:
    overrides = ["evaluate.gallery=0", "evaluate.select_z=[0, 10]", f"data.root={tmp_path}"]
    cfg = load_config(None, overrides)  # data.root: not a survey in the working directory
    rng = np.random.default_rng(5)
    tune = _scored(rng, 80, 0.3)
    chosen = []
    for noise in (0.0, 0.5):
        report = _scored(np.random.default_rng(9), 80, noise)
        m = evaluate(
            cfg,
            cfg,
            tune,
            report,
            {"tuned_on": "valid", "reported_on": "test"},
            tmp_path / f"n{noise}",
        )
        chosen.append(m["score_threshold"])
        assert (tmp_path / f"n{noise}" / "plots" / "thresholds.png").exists()
    assert chosen[0] == chosen[1]


def test_truth_boxes_are_scored_on_their_visible_part(tmp_path) -> None:
    """A cluster 40 % outside the image: the detector boxes what it sees (training clips
    targets the same way), and that box is a match; the in-image fraction stays the weight."""
    from dataclasses import replace

    from clusterhpc.data.packed import PackedSplit
    from clusterhpc.evaluate.records import Truth
    from tests.data.fixtures import make_entries, pack

    entry = make_entries(tmp_path / "survey", 1)[0]
    outside = np.array([[-12.0, 4.0, 18.0, 14.0]], np.float32)  # 30 px wide, 18 inside
    entry = replace(entry, boxes=outside, box_fields={**entry.box_fields, "weight": [0.6]})
    pack({"test": [entry]}, tmp_path / "survey", tmp_path / "packed")
    truth = Truth.from_split(PackedSplit(tmp_path / "packed", "test"))
    np.testing.assert_allclose(truth.boxes, [[0, 4, 18, 14]])
    assert truth.weight[0] == pytest.approx(0.6)
    # IoU 0.75 with the visible part, 0.45 with the whole box
    visible_box = Predictions.from_lists([np.array([[3.0, 5, 18, 14]])], [np.array([0.9])])
    match = SplitMatcher(truth, visible_box, SETTINGS).at(0.5)
    assert match.truth_matched.all() and match.pred_matched.all()
