"""Per-image matching of predicted boxes to truth boxes.

`optimal`: one-to-one assignment (Hungarian, `scipy.optimize.linear_sum_assignment`) that
maximises the number of matches and, among those, the summed match quality (IoU, or
1 - distance/limit for the centre criterion). Truth boxes flagged `ignore` (mostly outside
the image) and the image's ignore regions (clusters visible in the image that are not labels,
`io.shards`) are neither required nor false: predictions left over from the one-to-one
matching that match one by the same criterion are dropped from the purity denominator, as
COCO does with its "crowd" boxes.

`legacy_count`: the seed's purity_completeness.py/yolo_stats.py counting with no positions:
TP = min(n_pred, n_truth), FP = excess predictions, FN = deficit (truth counted when its
area fraction passes the threshold).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from clusterhpc.box_geometry import pairwise_giou, pairwise_iou, xyxy_to_xywh
from clusterhpc.sky.geometry import ARCMIN, ARCSEC


@dataclass(frozen=True)
class Criterion:
    """How a prediction matches a truth box: 'iou' >= threshold or 'centre' distance <= it."""

    kind: str = "iou"  # iou | centre
    threshold: float = 0.5  # IoU, or arcmin for 'centre'

    def quality(self, pred: np.ndarray, truth: np.ndarray, pixscale: float) -> np.ndarray:
        """(n_pred, n_truth) match quality; a pair matches when it is > 0."""
        if self.kind == "iou":
            iou = pairwise_iou(pred, truth)
            return np.where(iou >= self.threshold, iou, 0.0)
        if self.kind == "centre":
            a, b = xyxy_to_xywh(pred)[:, None, :2], xyxy_to_xywh(truth)[None, :, :2]
            dist = np.linalg.norm(a - b, axis=-1) * pixscale * ARCSEC / ARCMIN
            return np.where(dist <= self.threshold, 1.0 + 1e-9 - dist / self.threshold, 0.0)
        raise ValueError(f"unknown matching criterion {self.kind!r}: expected 'iou' or 'centre'")


@dataclass(frozen=True)
class ImageMatch:
    """Outcome for one image: which truths and predictions are matched, and to whom."""

    truth_matched: np.ndarray  # bool (n_truth,)
    pred_matched: np.ndarray  # bool (n_pred,)
    pred_ignored: np.ndarray  # bool (n_pred,): unmatched, on an ignored truth or region
    pred_on_region: np.ndarray  # bool (n_pred,): unmatched, on an ignore region
    pairs: np.ndarray  # int (k, 2): (pred index, truth index)

    @property
    def n_false(self) -> int:
        return int(np.sum(~self.pred_matched & ~self.pred_ignored))


def assign(quality: np.ndarray) -> np.ndarray:
    """(k, 2) (row, col) pairs with quality > 0: most pairs first, then largest total quality."""
    if quality.size == 0 or not np.any(quality > 0):
        return np.zeros((0, 2), int)
    bonus = min(quality.shape) + 1.0  # one more match always beats any quality gain
    weight = np.where(quality > 0, bonus + quality, 0.0)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    keep = quality[rows, cols] > 0
    return np.stack([rows[keep], cols[keep]], 1).astype(int)


def match_image(
    pred: np.ndarray,
    truth: np.ndarray,
    ignore: np.ndarray,
    criterion: Criterion,
    pixscale: float = 1.0,
    regions: np.ndarray | None = None,
) -> ImageMatch:
    """Optimal one-to-one matching of one image's predictions to its required truth boxes;
    unmatched predictions that match an ignored truth or an ignore region (l, 4) are ignored."""
    n_pred, n_truth = len(pred), len(truth)
    truth_matched = np.zeros(n_truth, bool)
    pred_matched = np.zeros(n_pred, bool)
    pred_ignored = np.zeros(n_pred, bool)
    on_region = np.zeros(n_pred, bool)
    pairs = np.zeros((0, 2), int)
    if n_pred and n_truth:
        quality = criterion.quality(pred, truth, pixscale)
        required = np.flatnonzero(~ignore)
        pairs = assign(quality[:, required])
        pairs[:, 1] = required[pairs[:, 1]]
        pred_matched[pairs[:, 0]] = True
        truth_matched[pairs[:, 1]] = True
        if np.any(ignore):
            pred_ignored = ~pred_matched & np.any(quality[:, ignore] > 0, axis=1)
    if n_pred and regions is not None and len(regions):
        on_region = ~pred_matched & np.any(criterion.quality(pred, regions, pixscale) > 0, axis=1)
    return ImageMatch(truth_matched, pred_matched, pred_ignored | on_region, on_region, pairs)


def match_count(
    pred: np.ndarray, truth: np.ndarray, truth_central: np.ndarray, ignore: np.ndarray
) -> ImageMatch:
    """The seed's counting: min(n_pred, n_truth) truths are 'found', whatever the positions
    (so ignore regions, which need positions, play no part).

    Counted truths are marked matched central first (then in stored order), so binned
    completeness follows the seed's 'a cluster image is found if it has a detection'. The
    pairs (for GIoU) maximise the summed GIoU, which is what the seed's permutation search
    computes, in polynomial time.
    """
    n_pred = len(pred)
    counted = np.flatnonzero(~ignore)
    order = counted[np.argsort(~truth_central[counted], kind="stable")]
    k = min(n_pred, len(counted))
    truth_matched = np.zeros(len(ignore), bool)
    truth_matched[order[:k]] = True
    pred_matched = np.zeros(n_pred, bool)
    pred_matched[:k] = True  # predictions are sorted by score: the best k are the TPs
    pairs = np.zeros((0, 2), int)
    if k:
        rows, cols = linear_sum_assignment(pairwise_giou(pred, truth[counted]), maximize=True)
        pairs = np.stack([rows, counted[cols]], 1).astype(int)
    none = np.zeros(n_pred, bool)
    return ImageMatch(truth_matched, pred_matched, none, none, pairs)
