"""Average precision as COCO computes it (class-agnostic: one 'cluster' class).

Per image, detections (best score first) greedily take the unmatched truth box of highest
IoU >= the threshold, preferring counted truths; a detection whose best match is an ignored
truth (mostly outside the image) or an ignore region (a visible cluster that is not a label),
COCO's "crowd", is left out; an ignored box may take any number of detections. Over the
split, detections are sorted by score; precision is made monotone (the envelope from the
right) and read at 101 recall points 0, 0.01, ..., 1 (0 beyond the highest recall reached);
AP is their mean.
mAP@[.5:.95] averages AP over IoU thresholds 0.50, 0.55, ..., 0.95.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clusterhpc.box_geometry import pairwise_iou
from clusterhpc.evaluate.records import Predictions, Truth

RECALL_POINTS = np.linspace(0.0, 1.0, 101)
COCO_IOUS = np.linspace(0.5, 0.95, 10)


@dataclass(frozen=True)
class PrecisionRecall:
    ap: float
    recall: np.ndarray  # (n,) cumulative, detections by decreasing score
    precision: np.ndarray  # (n,) raw (not interpolated)
    scores: np.ndarray  # (n,)
    n_truth: int


def _match_image(
    iou: np.ndarray, ignore: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """COCO's greedy matching of one image: (matched, ignored) flags per detection."""
    n_det, n_truth = iou.shape
    order = np.argsort(ignore, kind="stable")  # counted truths first
    taken = np.zeros(n_truth, bool)
    matched = np.zeros(n_det, bool)
    ignored = np.zeros(n_det, bool)
    for d in range(n_det):
        best, best_iou = -1, min(threshold, 1 - 1e-10)
        for g in order:
            if taken[g] and not ignore[g]:
                continue
            if best > -1 and not ignore[best] and ignore[g]:
                break  # a counted match beats any ignored one
            if iou[d, g] < best_iou:
                continue
            best, best_iou = g, iou[d, g]
        if best >= 0:
            matched[d], ignored[d] = True, bool(ignore[best])
            taken[best] = True
    return matched, ignored


def precision_recall(
    truth: Truth, preds: Predictions, iou_threshold: float = 0.5, min_area_fraction: float = 0.5
) -> PrecisionRecall:
    """The precision-recall curve and 101-point AP of a split at one IoU threshold."""
    ignore_all = truth.weight < min_area_fraction
    true_pos = np.zeros(len(preds.scores), bool)
    skip = np.zeros(len(preds.scores), bool)
    for i in range(truth.n_images):
        t0, t1 = truth.offsets[i], truth.offsets[i + 1]
        p0, p1 = preds.offsets[i], preds.offsets[i + 1]
        regions = truth.ignore_of(i)
        if p1 == p0 or (t1 == t0 and not len(regions)):
            continue
        boxes = np.concatenate([truth.boxes[t0:t1], regions])
        ignore = np.concatenate([ignore_all[t0:t1], np.ones(len(regions), bool)])
        iou = pairwise_iou(preds.boxes[p0:p1], boxes)
        matched, ignored = _match_image(iou, ignore, iou_threshold)
        true_pos[p0:p1] = matched & ~ignored
        skip[p0:p1] = ignored
    n_truth = int((~ignore_all).sum())
    order = np.argsort(-preds.scores[~skip], kind="mergesort")
    tp = true_pos[~skip][order]
    tp_cum = np.cumsum(tp)
    fp_cum = np.cumsum(~tp)
    recall = tp_cum / max(n_truth, 1)
    precision = tp_cum / np.maximum(tp_cum + fp_cum, 1)
    ap = interpolated_ap(recall, precision) if n_truth else float("nan")
    return PrecisionRecall(ap, recall, precision, preds.scores[~skip][order], n_truth)


def interpolated_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """COCO 101-point AP of a (recall, precision) sequence ordered by decreasing score."""
    if not len(recall):
        return 0.0
    envelope = np.maximum.accumulate(np.asarray(precision, np.float64)[::-1])[::-1]
    where = np.searchsorted(recall, RECALL_POINTS, side="left")
    sampled = np.where(where < len(recall), envelope[np.minimum(where, len(recall) - 1)], 0.0)
    return float(sampled.mean())


def mean_ap(truth: Truth, preds: Predictions, min_area_fraction: float = 0.5) -> dict[str, float]:
    """AP@0.5, AP@0.75 and mAP@[.5:.95]."""
    aps = {
        round(float(t), 2): precision_recall(truth, preds, float(t), min_area_fraction).ap
        for t in COCO_IOUS
    }
    return {"map50": aps[0.5], "map75": aps[0.75], "map50_95": float(np.mean(list(aps.values())))}
