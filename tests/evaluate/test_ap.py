"""AP on hand-made precision-recall curves with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from clusterhpc.evaluate.ap import interpolated_ap, mean_ap, precision_recall
from clusterhpc.evaluate.records import Predictions
from tests.evaluate.test_matching import truth_of

BOX_A = [0, 0, 10, 10]
BOX_B = [50, 50, 70, 70]


def test_perfect_detections() -> None:
    truth = truth_of([np.array([BOX_A]), np.array([BOX_B])])
    preds = Predictions.from_lists([np.array([BOX_A]), np.array([BOX_B])], [[0.9], [0.8]])
    assert mean_ap(truth, preds) == {"map50": 1.0, "map75": 1.0, "map50_95": 1.0}


def test_known_curve() -> None:
    # scores 0.9 TP, 0.8 FP, 0.7 TP: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1
    truth = truth_of([np.array([BOX_A]), np.array([BOX_B])])
    preds = Predictions.from_lists(
        [np.array([BOX_A, [20, 20, 30, 30]]), np.array([BOX_B])], [[0.9, 0.8], [0.7]]
    )
    pr = precision_recall(truth, preds, 0.5)
    assert pr.precision.tolist() == pytest.approx([1, 0.5, 2 / 3])
    assert pr.recall.tolist() == pytest.approx([0.5, 0.5, 1])
    assert pr.ap == pytest.approx((51 * 1 + 50 * 2 / 3) / 101)


def test_missed_truth_caps_recall() -> None:
    truth = truth_of([np.array([BOX_A]), np.array([BOX_B])])
    preds = Predictions.from_lists([np.array([BOX_A]), np.zeros((0, 4))], [[0.9], []])
    assert precision_recall(truth, preds).ap == pytest.approx(51 / 101)


def test_ignored_truth_and_empty_fields() -> None:
    truth = truth_of([np.array([BOX_A, BOX_B]), np.zeros((0, 4))])
    truth.weight[1] = 0.2  # BOX_B mostly outside the image: ignored
    preds = Predictions.from_lists(
        [np.array([BOX_A, BOX_B]), np.array([BOX_A])], [[0.9, 0.95], [0.5]]
    )
    pr = precision_recall(truth, preds, 0.5, min_area_fraction=0.5)
    assert pr.n_truth == 1 and len(pr.scores) == 2  # the detection of BOX_B is left out
    assert pr.ap == pytest.approx(1.0)  # the empty-field FP comes after full recall


def test_interpolation_uses_the_envelope() -> None:
    recall = np.array([0.2, 0.4, 0.4, 1.0])
    precision = np.array([0.5, 0.6, 0.3, 0.4])
    expected = (21 * 0.6 + 20 * 0.6 + 60 * 0.4) / 101
    assert interpolated_ap(recall, precision) == pytest.approx(expected)
