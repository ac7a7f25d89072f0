"""Geometric augmentations that keep boxes exact: horizontal flip, vertical flip, transpose.

Boxes are x1, y1, x2, y2 in pixels with the image spanning [0, W] x [0, H]. Both readers
(the plain iterator and tf.data) apply this one function.
"""

from __future__ import annotations

import numpy as np


def augment(
    image: np.ndarray,
    boxes: np.ndarray,
    flips: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Apply h-flip, v-flip, then transpose, each where `flips` (3 bools) says so.

    The image comes back as a view of the input (copy it to keep it)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    height, width = image.shape[:2]
    if flips[0]:
        image = image[:, ::-1]
        boxes = np.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], 1)
    if flips[1]:
        image = image[::-1]
        boxes = np.stack([boxes[:, 0], height - boxes[:, 3], boxes[:, 2], height - boxes[:, 1]], 1)
    if flips[2]:
        image = image.transpose(1, 0, 2)
        boxes = boxes[:, [1, 0, 3, 2]]
    return image, boxes.astype(np.float32)
