"""Axis-aligned box geometry in numpy: conversions, IoU and GIoU, vectorised over pairs.

Boxes are (..., 4) arrays, `xyxy` = x1, y1, x2, y2 or `xywh` = centre x, centre y, w, h.
"""

from __future__ import annotations

import numpy as np


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, np.float64)
    return np.concatenate(
        [(boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]], axis=-1
    )


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, np.float64)
    return np.concatenate(
        [boxes[..., :2] - boxes[..., 2:] / 2, boxes[..., :2] + boxes[..., 2:] / 2], axis=-1
    )


def area(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, np.float64)
    return np.clip(boxes[..., 2] - boxes[..., 0], 0, None) * np.clip(
        boxes[..., 3] - boxes[..., 1], 0, None
    )


def _overlap_terms(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
    """Intersection, union and enclosing-box (hull) areas of xyxy boxes a and b, broadcast."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    lo = np.maximum(a[..., :2], b[..., :2])
    hi = np.minimum(a[..., 2:], b[..., 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    union = area(a) + area(b) - inter
    hull = np.prod(np.maximum(a[..., 2:], b[..., 2:]) - np.minimum(a[..., :2], b[..., :2]), -1)
    return inter, union, hull


def _pairwise_terms(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
    """`_overlap_terms` for every pair (len(a), len(b))."""
    return _overlap_terms(np.asarray(a, np.float64)[:, None], np.asarray(b, np.float64)[None])


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of xyxy boxes."""
    inter, union, _ = _pairwise_terms(a, b)
    return _ratio(inter, union)


def pairwise_giou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Generalised IoU matrix (Rezatofighi et al. 2019): IoU − (hull − union) / hull."""
    return _giou(*_pairwise_terms(a, b))


def paired_giou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """GIoU of box a[i] with box b[i] (element-wise, unlike `pairwise_giou`)."""
    return _giou(*_overlap_terms(a, b))


def _giou(inter: np.ndarray, union: np.ndarray, hull: np.ndarray) -> np.ndarray:
    return _ratio(inter, union) - _ratio(hull - union, hull)


def shape_iou(wh_a: np.ndarray, wh_b: np.ndarray) -> np.ndarray:
    """IoU matrix of boxes given only by width and height, aligned at one corner."""
    wh_a, wh_b = np.asarray(wh_a, np.float64)[:, None], np.asarray(wh_b, np.float64)[None]
    inter = np.prod(np.minimum(wh_a, wh_b), axis=-1)
    return inter / (np.prod(wh_a, -1) + np.prod(wh_b, -1) - inter)


def clip(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    boxes = np.asarray(boxes, np.float64).copy()
    boxes[..., 0::2] = np.clip(boxes[..., 0::2], 0, width)
    boxes[..., 1::2] = np.clip(boxes[..., 1::2], 0, height)
    return boxes
