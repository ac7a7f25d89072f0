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


def coco_reference(truth_boxes: list[np.ndarray], pred_boxes, pred_scores) -> dict[str, float]:
    """AP@0.5, AP@0.75 and mAP@[.5:.95] from pycocotools' COCOeval on the same boxes."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(box: np.ndarray) -> list[float]:
        return [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])]

    annotations = [
        {"image_id": i, "category_id": 1, "iscrowd": 0, "bbox": xywh(b), "area": area}
        for i, boxes in enumerate(truth_boxes)
        for b, area in zip(boxes, np.prod(boxes[:, 2:] - boxes[:, :2], axis=1), strict=True)
    ]
    for n, ann in enumerate(annotations, 1):
        ann["id"] = n
    gt = COCO()
    gt.dataset = {
        "images": [{"id": i} for i in range(len(truth_boxes))],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "cluster"}],
    }
    detections = [
        {"image_id": i, "category_id": 1, "bbox": xywh(b), "score": float(s)}
        for i, (boxes, scores) in enumerate(zip(pred_boxes, pred_scores, strict=True))
        for b, s in zip(boxes, scores, strict=True)
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        result = COCOeval(gt, gt.loadRes(detections), iouType="bbox")
        result.evaluate()
        result.accumulate()
        result.summarize()
    return {"map50_95": result.stats[0], "map50": result.stats[1], "map75": result.stats[2]}


def test_ap_equals_pycocotools_on_a_random_field():
    """40 images with 0-4 clusters each, detections jittered by various amounts (some below
    IoU 0.5, some between the COCO thresholds), duplicates and false boxes with random scores:
    the three AP figures agree with pycocotools' to rounding."""
    rng = np.random.default_rng(3)
    truth_boxes, pred_boxes, pred_scores = [], [], []
    for _ in range(40):
        xy = rng.uniform(0, 400, (rng.integers(0, 5), 2))
        truth = np.concatenate([xy, xy + rng.uniform(20, 120, (len(xy), 2))], 1)
        found = truth[rng.random(len(truth)) < 0.8]
        jitter = rng.normal(0, 1, found.shape) * rng.uniform(0, 15, (len(found), 1))
        twice = found[rng.random(len(found)) < 0.2] + rng.normal(0, 4, (1, 4))
        xy = rng.uniform(0, 400, (rng.integers(0, 3), 2))
        false = np.concatenate([xy, xy + rng.uniform(20, 120, (len(xy), 2))], 1)
        preds = np.concatenate([found + jitter, twice, false]).reshape(-1, 4)
        preds[:, 2:] = np.maximum(preds[:, 2:], preds[:, :2] + 1)
        truth_boxes.append(truth)
        pred_boxes.append(preds)
        pred_scores.append(rng.random(len(preds)))
    ours = mean_ap(truth_of(truth_boxes), Predictions.from_lists(pred_boxes, pred_scores))
    reference = coco_reference(truth_boxes, pred_boxes, pred_scores)
    assert 0.1 < reference["map50_95"] < reference["map50"] < 0.95
    assert reference["map75"] < reference["map50"]
    for key, value in reference.items():
        assert ours[key] == pytest.approx(value, abs=1e-9), key
