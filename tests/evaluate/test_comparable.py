"""Per-unique-cluster completeness, purity by image kind and the sky figures, by hand."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from clusterhpc.evaluate.breakdown import purity_by_image_kind, unique_cluster_completeness
from clusterhpc.evaluate.matching import Criterion
from clusterhpc.evaluate.metrics import MatchSettings, Selection, SplitMatcher, counts
from clusterhpc.evaluate.records import Predictions
from clusterhpc.evaluate.sky import Footprints, SkySettings, match_one_to_one, sky_scores
from clusterhpc.sky.geometry import separation
from clusterhpc.sky.projection import from_tan_pixels
from tests.evaluate.hand_truth import SCALE, SIZE, truth_of

SETTINGS = MatchSettings("optimal", Criterion("iou", 0.5), 0.5)
SELECT = Selection(20.0, (0.1, 0.6))


def test_a_cluster_seen_twice_counts_once() -> None:
    # cluster 7 in images 0 and 1 (found in image 0 only), cluster 8 in image 2 (missed)
    box = [40.0, 40.0, 60.0, 60.0]
    truth = truth_of(
        [[box], [box], [box]], [[7], [7], [8]], [(10, 0), (10.05, 0), (20, 0)], [0] * 3
    )
    preds = Predictions.from_lists([np.array([box]), np.zeros((0, 4)), np.zeros((0, 4))],
                                   [np.array([0.9]), np.zeros(0), np.zeros(0)])  # fmt: skip
    match = SplitMatcher(truth, preds, SETTINGS).at(0.5)
    assert counts(truth, preds, match, SELECT)["completeness"] == pytest.approx(1 / 3)
    unique = unique_cluster_completeness(truth, match, SELECT)
    assert (unique["found"], unique["n"], unique["appearances"]) == (1, 2, 3)
    assert unique["value"] == 0.5


def test_purity_with_and_without_empty_fields() -> None:
    box = [40.0, 40.0, 60.0, 60.0]
    truth = truth_of([[box], []], [[1], []], [(10, 0), (30, 0)], [False, True])
    preds = Predictions.from_lists(
        [np.array([box, [0, 0, 10, 10]]), np.array([[20, 20, 30, 30]])],
        [np.array([0.9, 0.8]), np.array([0.7])],
    )
    match = SplitMatcher(truth, preds, SETTINGS).at(0.5)
    kinds = purity_by_image_kind(truth, preds, match)
    assert kinds["n_empty_fields"] == 1 and kinds["detections_on_empty_fields"] == 1
    assert counts(truth, preds, match, SELECT)["purity"] == pytest.approx(1 / 3)
    assert kinds["without_empty_fields"]["value"] == pytest.approx(1 / 2)


@pytest.mark.parametrize("ra0, dec0", [(359.99, 0.0), (0.01, -30.0), (123.0, 88.5)])
def test_footprint_contains_and_area(ra0: float, dec0: float) -> None:
    fp = Footprints(np.array([ra0]), np.array([dec0]), np.array([SCALE]), np.array([SIZE]))
    inside = from_tan_pixels(ra0, dec0, np.array([1.0, 99.0, 50.0]), np.array([1.0, 50, 99]),
                             SCALE, SIZE)  # fmt: skip
    outside = from_tan_pixels(ra0, dec0, np.array([-2.0, 102.0]), np.array([50.0, 50]), SCALE, SIZE)
    assert fp.contains(*inside).all()
    assert not fp.contains(*outside).any()
    side_deg = SIZE * SCALE / 3600
    assert fp.area_deg2() == pytest.approx(side_deg**2, rel=0.1)


def test_area_of_overlapping_footprints_is_their_union() -> None:
    half = SIZE * SCALE / 3600 / 2  # two squares offset by half a side: 1.5 squares
    fp = Footprints(np.array([50.0, 50.0 + half]), np.zeros(2), np.full(2, SCALE), np.full(2, SIZE))
    assert fp.area_deg2() == pytest.approx(1.5 * (2 * half) ** 2, rel=0.1)


def test_one_to_one_sky_match_prefers_the_best_score() -> None:
    cat_ra, cat_dec = np.array([10.0, 10.0]), np.array([0.0, 0.1])
    # two detections near cluster 0; the better-scored one takes it, the other is false
    det_ra, det_dec = np.array([10.001, 10.0, 10.5]), np.array([0.0, 0.0005, 0.1])
    matched = match_one_to_one(det_ra, det_dec, np.array([0.6, 0.9, 0.8]), cat_ra, cat_dec, 1.0)
    assert matched.tolist() == [-1, 0, -1]


def test_sky_scores_on_two_overlapping_cutouts() -> None:
    # cutouts at RA 359.95 and 0.05 (they overlap across RA = 0); cluster A lies in both and
    # is detected in both (one merged detection); cluster B is missed; one false detection
    centres = [(359.95, 0.0), (0.05, 0.0)]
    a_xy = {0: (20.0, 50.0), 1: (80.0, 50.0)}  # A at RA 0 (x grows to the west)
    a_ra, a_dec = from_tan_pixels(359.95, 0.0, 20.0, 50.0, SCALE, SIZE)
    b_ra, b_dec = from_tan_pixels(0.05, 0.0, 50.0, 10.0, SCALE, SIZE)
    boxes = [[[x - 5, y - 5, x + 5, y + 5]] for x, y in a_xy.values()]
    truth = truth_of(boxes, [[1], [1]], centres, [False, False])
    false_box = [10.0, 80.0, 20.0, 90.0]
    preds = Predictions.from_lists(
        [np.array([boxes[0][0], false_box]), np.array([boxes[1][0]])],
        [np.array([0.9, 0.6]), np.array([0.8])],
    )
    catalog = Table(
        {
            "RA": np.array([float(a_ra), float(b_ra), 180.0]),  # the third is far away
            "DEC": np.array([float(a_dec), float(b_dec), 0.0]),
            "Z_LAMBDA": np.array([0.3, 0.3, 0.3]),
            "LAMBDA": np.array([30.0, 30.0, 30.0]),
        }
    )
    assert np.degrees(separation(a_ra, a_dec, 0.0, 0.0)) * 60 < 0.01
    bins = {"z": [0.1, 0.6], "lambda": [20, 100]}
    sky = sky_scores(truth, preds, catalog, 0.5, SELECT, SkySettings(1.0, 1.0, bins))
    assert sky["n_detections"] == 2  # A merged across the two cutouts, plus the false one
    assert (sky["completeness"]["found"], sky["completeness"]["n"]) == (1, 2)
    assert (sky["purity"]["found"], sky["purity"]["n"]) == (1, 2)
    side_deg = SIZE * SCALE / 3600
    assert sky["area_deg2"] == pytest.approx(side_deg * (0.1 + side_deg), rel=0.1)
    assert sky["false_per_deg2"] == pytest.approx(1 / sky["area_deg2"])
    assert sky["binned_completeness"]["z"]["n"] == [2]


def test_sky_scores_with_no_detection() -> None:
    truth = truth_of([[]], [[]], [(10.0, 0.0)], [True])
    preds = Predictions.from_lists([np.zeros((0, 4))], [np.zeros(0)])
    catalog = Table({"RA": [10.0], "DEC": [0.0], "Z_LAMBDA": [0.3], "LAMBDA": [30.0]})
    bins = {"z": [0.1, 0.6], "lambda": [20, 100]}
    sky = sky_scores(truth, preds, catalog, 0.5, SELECT, SkySettings(1.0, 1.0, bins))
    assert sky["n_detections"] == 0 and sky["completeness"]["n"] == 1
    assert sky["completeness"]["found"] == 0 and sky["purity"]["n"] == 0
