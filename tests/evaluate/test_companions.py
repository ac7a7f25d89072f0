"""Companions' completeness by separation: distances from the cutout centre on hand-made boxes
(SIZE-px images at 6″/px, tests.evaluate.hand_truth)."""

from __future__ import annotations

import numpy as np
import pytest

from clusterhpc.evaluate.matching import Criterion
from clusterhpc.evaluate.metrics import (
    MatchSettings,
    Selection,
    SplitMatcher,
    companion_completeness,
    companion_separation_arcmin,
)
from clusterhpc.evaluate.records import Predictions
from tests.evaluate.hand_truth import truth_of

SETTINGS = MatchSettings("optimal", Criterion("iou", 0.5), 0.5)
SELECT = Selection(20.0, (0.1, 0.6))


def box_at(x: float, y: float, half: float = 5.0) -> list[float]:
    """A box centred on pixel (x, y) of a SIZE-px image (its centre at (50, 50))."""
    return [x - half, y - half, x + half, y + half]


def test_separation_is_the_box_centre_distance_from_the_cutout_centre_in_arcmin():
    truth = truth_of([[box_at(50, 50), box_at(60, 50)], [box_at(50, 90), box_at(80, 90)]],
                     central=[[True, False], [True, False]])  # fmt: skip
    # 6"/px: 10 px = 1', 40 px = 4', hypot(30, 40) px = 50 px = 5'
    assert companion_separation_arcmin(truth) == pytest.approx([0.0, 1.0, 4.0, 5.0])


def test_companions_are_binned_by_separation_and_centrals_left_out():
    centre, near, far = box_at(50, 50), box_at(62, 50), box_at(50, 90)
    truth = truth_of([[centre, near], [centre, far], [centre, near, far]],
                     central=[[True, False], [True, False], [True, False, False]])  # fmt: skip
    # image 0: the pair merged into one wide box (centre and companion both missed);
    # image 1: both found; image 2: the near companion found, the far one missed
    wide = [44.0, 44.0, 68.0, 56.0]
    preds = Predictions.from_lists(
        [np.array([wide]), np.array([centre, far]), np.array([centre, near])],
        [np.array([0.9]), np.array([0.9, 0.8]), np.array([0.9, 0.8])],
    )
    match = SplitMatcher(truth, preds, SETTINGS).at(0.5)
    table = companion_completeness(truth, match, SELECT, [0.0, 2.0, 5.0])
    assert table["n"] == [2, 2] and table["k"] == [1, 1]  # 1.2' companions, 4' companions
    assert table["fraction"] == [0.5, 0.5]
    outside_z = truth_of([[centre, near]], central=[[True, False]], z=0.8)
    empty_match = SplitMatcher(outside_z, Predictions.from_lists([np.zeros((0, 4))], [np.zeros(0)]),
                               SETTINGS).at(0.5)  # fmt: skip
    assert companion_completeness(outside_z, empty_match, SELECT, [0.0, 2.0])["n"] == [0]
