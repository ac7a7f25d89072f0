"""Exact overlap of axis-aligned boxes: union area by coordinate compression (no truncated
inclusion-exclusion), and the fraction of each box covered by the other boxes of its image."""

from __future__ import annotations

import numpy as np


def union_area(rects: np.ndarray) -> float:
    """Exact area of the union of (n, 4) rectangles x1, y1, x2, y2 (empty ones ignored)."""
    rects = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
    rects = rects[(rects[:, 2] > rects[:, 0]) & (rects[:, 3] > rects[:, 1])]
    if rects.size == 0:
        return 0.0
    xs = np.unique(rects[:, [0, 2]])
    ys = np.unique(rects[:, [1, 3]])
    in_x = (rects[:, 0:1] <= xs[None, :-1]) & (xs[None, 1:] <= rects[:, 2:3])  # (n, nx)
    in_y = (rects[:, 1:2] <= ys[None, :-1]) & (ys[None, 1:] <= rects[:, 3:4])  # (n, ny)
    covered = np.any(in_x[:, :, None] & in_y[:, None, :], axis=0)  # (nx, ny)
    return float(np.diff(xs) @ covered @ np.diff(ys))


def covered_fractions(boxes: np.ndarray) -> np.ndarray:
    """For each of (n, 4) boxes, the fraction of its area inside the union of the others."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = np.zeros(len(boxes))
    for i, box in enumerate(boxes):
        area = (box[2] - box[0]) * (box[3] - box[1])
        if len(boxes) < 2 or area <= 0:
            continue
        others = np.delete(boxes, i, axis=0)
        clipped = np.column_stack(
            [
                np.maximum(others[:, 0], box[0]),
                np.maximum(others[:, 1], box[1]),
                np.minimum(others[:, 2], box[2]),
                np.minimum(others[:, 3], box[3]),
            ]
        )
        out[i] = union_area(clipped) / area
    return out
