"""YOLOv3 training targets: which grid cell and anchor is responsible for each true box.

For every box and every scale, the cell containing the box centre is found and the box shape
is compared with that scale's 3 anchors (IoU of width/height only); anchors with IoU above
`positive_iou` (0.3, as YOLO-CL) are responsible. A box with no such anchor on any scale is
given its single best anchor. Boxes are first clipped to the image: the visible part is what
the network sees, and its in-image area fraction becomes the box weight.

Label layout per scale, shape (G, G, 3, 6 + extra): x, y, w, h (input pixels), objectness,
weight, then the head's extra targets (smoothed one-hot classes or regression values).
"""

from __future__ import annotations

import numpy as np

from clusterhpc.box_geometry import clip, shape_iou, xyxy_to_xywh
from clusterhpc.models.yolo import ANCHORS_PER_SCALE, STRIDES


def label_width(n_extra_targets: int) -> int:
    return 6 + n_extra_targets


def encode_targets(
    boxes: np.ndarray,
    weights: np.ndarray,
    extra: np.ndarray,
    anchors: np.ndarray,
    input_size: int,
    positive_iou: float = 0.3,
) -> list[np.ndarray]:
    """Label maps [stride 8, 16, 32] for boxes (n, 4) xyxy in input pixels.

    `weights` (n,) multiply the positive losses; `extra` (n, D) are the head's extra targets;
    `anchors` (9, 2) are width, height in input pixels, 3 per scale from small to large.
    """
    anchors = np.asarray(anchors, np.float64).reshape(len(STRIDES), ANCHORS_PER_SCALE, 2)
    extra = np.asarray(extra, np.float32)
    if extra.ndim != 2:
        raise ValueError(f"extra targets must be (n_boxes, D), got shape {extra.shape}")
    width = label_width(extra.shape[1])
    labels = [
        np.zeros((input_size // s, input_size // s, ANCHORS_PER_SCALE, width), np.float32)
        for s in STRIDES
    ]
    xywh = xyxy_to_xywh(clip(np.reshape(boxes, (-1, 4)), input_size, input_size))
    visible = (xywh[:, 2] > 0) & (xywh[:, 3] > 0)
    if not visible.any():
        return labels
    xywh, weights, extra = xywh[visible], np.asarray(weights)[visible], extra[visible]
    ious = shape_iou(xywh[:, 2:], anchors.reshape(-1, 2)).reshape(len(xywh), len(STRIDES), -1)
    positive = ious > positive_iou
    none = ~positive.reshape(len(xywh), -1).any(axis=1)
    best = ious.reshape(len(xywh), -1).argmax(axis=1)
    positive.reshape(len(xywh), -1)[none, best[none]] = True
    for scale, stride in enumerate(STRIDES):
        grid = input_size // stride
        box_idx, anchor_idx = np.nonzero(positive[:, scale])
        cells = np.clip(np.floor(xywh[box_idx, :2] / stride).astype(int), 0, grid - 1)
        row = np.concatenate(
            [xywh[box_idx], np.ones((len(box_idx), 1)), weights[box_idx, None], extra[box_idx]],
            axis=1,
        )
        labels[scale][cells[:, 1], cells[:, 0], anchor_idx] = row
    return labels
