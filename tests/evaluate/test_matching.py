"""Matching on hand-made images with known answers; legacy counting equals the seed's."""

from __future__ import annotations

import sys

import numpy as np

from clusterhpc.evaluate.matching import Criterion, assign, match_image
from clusterhpc.evaluate.metrics import MatchSettings, SplitMatcher
from clusterhpc.evaluate.records import Predictions, Truth
from tests.conftest import ROOT

IOU = Criterion("iou", 0.5)


def truth_of(images: list[np.ndarray], empty: list[bool] | None = None) -> Truth:
    counts = [len(b) for b in images]
    boxes = np.concatenate([np.reshape(b, (-1, 4)) for b in images]).astype(float)
    m, n = len(boxes), len(images)
    return Truth(
        offsets=np.concatenate([[0], np.cumsum(counts)]),
        boxes=boxes,
        weight=np.ones(m),
        z=np.full(m, 0.3),
        lam=np.full(m, 30.0),
        central=np.zeros(m, bool),
        cluster_id=np.arange(m),
        meta={"pixscale": np.ones(n), "empty": np.array(empty or [c == 0 for c in counts])},
        image_shape=(100, 100),
    )


def test_optimal_beats_greedy() -> None:
    truth = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], float)
    # pred 0 overlaps truth 1 best but is the only one to reach truth 0 too; pred 1 only truth 1
    pred = np.array([[2, 0, 12, 10], [5, 0, 15, 10]], float)
    m = match_image(pred, truth, np.zeros(2, bool), IOU)
    assert m.truth_matched.all() and m.pred_matched.all() and m.n_false == 0


def test_duplicate_is_a_false_positive() -> None:
    truth = np.array([[0, 0, 10, 10]], float)
    pred = np.array([[0, 0, 10, 10], [1, 0, 11, 10]], float)
    m = match_image(pred, truth, np.zeros(1, bool), IOU)
    assert m.truth_matched.tolist() == [True]
    assert m.pred_matched.tolist() == [True, False] and m.n_false == 1


def test_missed_and_ignored() -> None:
    truth = np.array([[0, 0, 10, 10], [50, 50, 60, 60], [80, 80, 100, 100]], float)
    pred = np.array([[0, 0, 10, 10], [80, 80, 100, 100], [30, 30, 40, 40]], float)
    m = match_image(pred, truth, np.array([False, False, True]), IOU)
    assert m.truth_matched.tolist() == [True, False, False]
    assert m.pred_ignored.tolist() == [False, True, False]  # on the mostly-outside box
    assert m.n_false == 1


def test_centre_criterion_in_arcmin() -> None:
    truth = np.array([[0, 0, 40, 40]], float)
    pred = np.array([[30, 0, 70, 40]], float)  # centres 30 px apart
    centre = Criterion("centre", 1.0)
    assert match_image(pred, truth, np.zeros(1, bool), centre, 1.9).n_false == 0  # 0.95'
    assert match_image(pred, truth, np.zeros(1, bool), centre, 2.1).n_false == 1  # 1.05'


def test_hungarian_total_equals_brute_force() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from matching import brute_force_assign  # the seed's permutation search, its baseline

    rng = np.random.default_rng(0)
    for shape in ((6, 6), (4, 7), (7, 3)):
        q = rng.random(shape)
        pairs = assign(q)
        _, best = brute_force_assign(q)
        assert np.isclose(q[pairs[:, 0], pairs[:, 1]].sum(), best)


def seed_counts(n_pred: np.ndarray, n_gt: np.ndarray) -> tuple[int, int, int]:
    """purity_completeness.py / yolo_stats.py counting, written as the seed does."""
    tp = fp = fn = 0
    for npr, ngt in zip(n_pred, n_gt, strict=True):
        if npr == 0:
            fn += ngt
        elif npr == ngt:
            tp += ngt
        elif npr > ngt:
            tp, fp = tp + ngt, fp + npr - ngt
        else:
            tp, fn = tp + npr, fn + ngt - npr
    return tp, fp, fn


def test_legacy_count_reproduces_the_seed() -> None:
    rng = np.random.default_rng(1)
    n_img = 200
    n_gt = rng.integers(0, 4, n_img)
    n_pr = rng.integers(0, 5, n_img)
    truths = [np.tile(rng.uniform(0, 50, (k, 2)), 2) + np.array([0, 0, 20, 20]) for k in n_gt]
    truth = truth_of(truths)
    scores = [np.sort(rng.random(k))[::-1] for k in n_pr]
    boxes = [np.tile(rng.uniform(0, 80, (k, 2)), 2) + np.array([0, 0, 20, 20]) for k in n_pr]
    preds = Predictions.from_lists(boxes, scores)
    matcher = SplitMatcher(truth, preds, MatchSettings("legacy_count", IOU, 0.5))
    for t in (0.0, 0.3, 0.7):
        m = matcher.at(t)
        kept = np.array([(s >= t).sum() for s in scores])
        tp, fp, fn = seed_counts(kept, n_gt)
        assert m.truth_matched.sum() == tp == m.pred_matched.sum()
        assert m.pred_false.sum() == fp
        assert (~m.truth_matched).sum() == fn
