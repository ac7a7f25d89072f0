"""Anchor boxes from training boxes: k-means on (width, height) with distance 1 − IoU.

Seeded k-means++ initialisation, Lloyd iterations until assignments stop changing, empty
clusters re-seeded with the point farthest from its centre. Anchors are returned sorted by
area, 3 per detection scale from the smallest stride up.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clusterhpc.box_geometry import shape_iou
from clusterhpc.errors import DataError
from clusterhpc.io.atomic import atomic_write_text


def kmeans_anchors(
    wh: np.ndarray,
    k: int = 9,
    seed: int = 0,
    max_iter: int = 300,
) -> tuple[np.ndarray, float]:
    """(k, 2) anchors sorted by area, and the mean IoU of every box with its best anchor."""
    wh = np.asarray(wh, np.float64).reshape(-1, 2)
    wh = wh[(wh > 0).all(axis=1)]
    if len(wh) < k:
        raise ValueError(
            f"need at least {k} boxes with positive size for {k} anchors, got {len(wh)}"
        )
    rng = np.random.default_rng(seed)
    centres = wh[[rng.integers(len(wh))]]
    while len(centres) < k:
        distance = 1 - shape_iou(wh, centres).max(axis=1)
        weights = distance**2
        pick = (
            rng.choice(len(wh), p=weights / weights.sum())
            if weights.sum() > 0
            else rng.integers(len(wh))
        )
        centres = np.vstack([centres, wh[pick]])
    assign = np.full(len(wh), -1)
    for _ in range(max_iter):
        new_assign = (1 - shape_iou(wh, centres)).argmin(axis=1)
        if np.array_equal(new_assign, assign):
            break
        assign = new_assign
        for j in range(k):
            members = wh[assign == j]
            if len(members):
                centres[j] = members.mean(axis=0)
            else:
                worst = (1 - shape_iou(wh, centres).max(axis=1)).argmax()
                centres[j] = wh[worst]
    order = np.argsort(centres.prod(axis=1))
    centres = centres[order]
    return centres, float(shape_iou(wh, centres).max(axis=1).mean())


def write_anchors(path: str | Path, anchors: np.ndarray, mean_iou: float, n_boxes: int) -> None:
    """Anchors as fractions of the image side, one `width height` line each, smallest first."""
    lines = [
        f"# {len(anchors)} anchors (width height as fractions of the image side)",
        f"# k-means with 1-IoU distance on {n_boxes} training boxes, mean IoU {mean_iou:.4f}",
    ]
    lines += [f"{w:.6f} {h:.6f}" for w, h in anchors]
    atomic_write_text(path, "\n".join(lines) + "\n")


def read_anchors(path: str | Path) -> np.ndarray:
    """(9, 2) anchors as fractions of the image side (multiply by the network input size)."""
    try:
        anchors = np.loadtxt(path, comments="#", ndmin=2)
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no anchor file (run `clusterhpc prep anchors`)") from exc
    except ValueError as exc:
        raise DataError(f"{path}: not a table of 'width height' rows ({exc})") from exc
    if anchors.shape != (9, 2) or np.any(anchors <= 0):
        raise DataError(f"{path}: expected 9 rows of 2 positive numbers, got shape {anchors.shape}")
    return anchors
