"""Detections on ignore regions are neither true nor false: completeness, purity, false
detections and AP are those without them; detections elsewhere still count as false."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from clusterhpc.evaluate.ap import precision_recall
from clusterhpc.evaluate.matching import Criterion, match_image
from clusterhpc.evaluate.metrics import MatchSettings, Selection, SplitMatcher, counts
from clusterhpc.evaluate.records import Predictions, Truth
from tests.evaluate.test_matching import IOU, truth_of

SETTINGS = MatchSettings("optimal", Criterion("iou", 0.5), 0.5)
EVERYTHING = Selection(0.0, (0.0, 10.0))
LABEL = [40, 40, 60, 60]
REGION = [0, 70, 20, 100]  # a neighbour whose box centre lies below the image
ELSEWHERE = [70, 0, 90, 20]


def with_regions(truth: Truth, regions: list[list[list[float]]]) -> Truth:
    counts_ = [len(r) for r in regions]
    boxes = np.array([b for r in regions for b in r], float).reshape(-1, 4)
    return replace(
        truth, ignore_offsets=np.concatenate([[0], np.cumsum(counts_)]), ignore_boxes=boxes
    )


def scored(pred_boxes: list[list[list[float]]], regions: bool = True) -> dict:
    """Headline counts of two images (label + region, label only) with these detections."""
    truth = truth_of([np.array([LABEL]), np.array([LABEL])])
    if regions:
        truth = with_regions(truth, [[REGION], []])
    scores = [np.linspace(0.9, 0.6, len(b)) for b in pred_boxes]
    preds = Predictions.from_lists([np.reshape(b, (-1, 4)) for b in pred_boxes], scores)
    return counts(truth, preds, SplitMatcher(truth, preds, SETTINGS).at(0.5), EVERYTHING)


def test_detection_on_an_ignore_region_changes_neither_completeness_nor_purity():
    base = scored([[LABEL], []])
    on_region = scored([[LABEL, REGION], []])
    for key in ("completeness", "purity", "n_predictions", "n_predictions_true"):
        assert on_region[key] == base[key]
    assert (on_region["completeness"], on_region["purity"]) == (0.5, 1.0)
    assert on_region["n_predictions_on_ignore_regions"] == 1
    assert on_region["n_predictions_ignored"] == 1 and on_region["n_ignore_regions"] == 1
    # without the ignore region the same detection is false
    assert scored([[LABEL, REGION], []], regions=False)["purity"] == 0.5


def test_detection_elsewhere_lowers_purity():
    row = scored([[LABEL, ELSEWHERE], []])
    assert row["purity"] == 0.5 and row["n_predictions_on_ignore_regions"] == 0
    # the region of image 0 does not excuse a detection at the same place in image 1
    assert scored([[LABEL], [LABEL, REGION]])["purity"] == 2 / 3


def test_region_is_only_a_fallback_after_the_labels():
    # a detection that matches a label is true even where an ignore region overlaps it
    m = match_image(np.array([LABEL], float), np.array([LABEL], float), np.zeros(1, bool), IOU, 1.0,
                    np.array([LABEL], float))  # fmt: skip
    assert m.pred_matched.tolist() == [True] and not m.pred_on_region.any()
    # a duplicate of the label is false, a second detection on the region is ignored too
    pred = np.array([LABEL, [41, 40, 61, 60], REGION, [1, 72, 20, 100]], float)
    m = match_image(pred, np.array([LABEL], float), np.zeros(1, bool), IOU, 1.0,
                    np.array([REGION], float))  # fmt: skip
    assert m.pred_matched.tolist() == [True, False, False, False]
    assert m.pred_on_region.tolist() == [False, False, True, True] and m.n_false == 1


def test_regions_match_by_the_same_criterion():
    centre = Criterion("centre", 1.0)
    region = np.array([[0, 0, 40, 40]], float)
    pred = np.array([[30, 0, 70, 40]], float)  # centres 30 px apart
    none = np.zeros((0, 4))
    assert match_image(pred, none, np.zeros(0, bool), centre, 1.9, region).n_false == 0  # 0.95'
    assert match_image(pred, none, np.zeros(0, bool), centre, 2.1, region).n_false == 1  # 1.05'
    assert match_image(pred, none, np.zeros(0, bool), IOU, 1.0, region).n_false == 1  # IoU 0.14


def test_ap_leaves_detections_on_regions_out():
    truth = truth_of([np.array([LABEL]), np.array([LABEL])])
    # scores: label 0.9, region 0.95 (best score), label of image 1 0.5
    preds = Predictions.from_lists(
        [np.array([LABEL, REGION]), np.array([LABEL])], [[0.9, 0.95], [0.5]]
    )
    without = precision_recall(truth, preds, 0.5)
    assert without.ap == pytest.approx(2 / 3)  # the region is a false detection
    pr = precision_recall(with_regions(truth, [[REGION], []]), preds, 0.5)
    assert len(pr.scores) == 2 and pr.ap == pytest.approx(1.0)


def test_ignore_regions_survive_take_and_concat():
    truth = with_regions(truth_of([np.array([LABEL])] * 3), [[REGION], [], [REGION, ELSEWHERE]])
    picked = truth.take(np.array([2, 0]))
    np.testing.assert_array_equal(picked.ignore_of(0), [REGION, ELSEWHERE])
    np.testing.assert_array_equal(picked.ignore_of(1), [REGION])
    joined = picked.concat(truth_of([np.array([LABEL])]))  # one without any region
    assert joined.n_images == 3 and len(joined.ignore_of(2)) == 0
    np.testing.assert_array_equal(joined.ignore_offsets, [0, 2, 3, 3])


def test_truth_reads_clipped_ignore_regions_from_the_shards(tmp_path):
    from clusterhpc.data.packed import PackedSplit
    from tests.data.fixtures import pack
    from tests.data.test_ignore_regions import IGNORE_BOX, SIZE, entries_with_ignore

    entries = entries_with_ignore(tmp_path / "survey", n=3)
    pack({"test": entries}, tmp_path / "survey", tmp_path / "packed")
    truth = Truth.from_split(PackedSplit(tmp_path / "packed", "test"))
    np.testing.assert_array_equal(truth.ignore_offsets, [0, 0, 1, 2])
    visible = np.clip(IGNORE_BOX, 0, SIZE)
    np.testing.assert_array_equal(truth.ignore_boxes, [visible, visible])
