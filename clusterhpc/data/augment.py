"""Geometric augmentations that keep boxes exact: horizontal flip, vertical flip, transpose.

Boxes are x1, y1, x2, y2 in pixels with the image spanning [0, W] x [0, H]. The numpy
functions are the reference; the TensorFlow ones (used by tf.data) must agree with them.
"""

from __future__ import annotations

import numpy as np


def augment(
    image: np.ndarray,
    boxes: np.ndarray,
    flips: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Apply h-flip, v-flip, then transpose, each where `flips` (3 bools) says so."""
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
    return np.ascontiguousarray(image), boxes.astype(np.float32)


def augment_tf(image, boxes, flips):
    """TensorFlow twin of `augment` for use inside tf.data (works on symbolic tensors)."""
    from clusterhpc.keras_compat import import_keras

    tf, _ = import_keras()
    shape = tf.shape(image)
    height, width = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
    x1, y1, x2, y2 = tf.unstack(boxes, axis=1)

    def hflip():
        return tf.reverse(image, [1]), tf.stack([width - x2, y1, width - x1, y2], 1)

    image, boxes = tf.cond(flips[0], hflip, lambda: (image, boxes))
    x1, y1, x2, y2 = tf.unstack(boxes, axis=1)

    def vflip():
        return tf.reverse(image, [0]), tf.stack([x1, height - y2, x2, height - y1], 1)

    image, boxes = tf.cond(flips[1], vflip, lambda: (image, boxes))

    def transpose():
        return tf.transpose(image, [1, 0, 2]), tf.gather(boxes, [1, 0, 3, 2], axis=1)

    return tf.cond(flips[2], transpose, lambda: (image, boxes))
