"""The flips, transposes and translations of `augment`, as TensorFlow ops on a uint8 batch.

With `detection_dataset(on_device=True)` the input pipeline delivers the pixels as read (its
boxes already moved) with each image's draws, and the training step applies them here, on
its device: a GPU does in microseconds what costs the host's cores about as much as reading
the image. The result equals `augment.augment_pixels` image by image, bit for bit: flips and
transposes are permutations, a translation is a gather, and the blank-sky fill is the same
per-channel median of every 4th pixel.
"""

from __future__ import annotations

from clusterhpc.keras_compat import import_keras


def augment_on_device(images, flips, shifts):
    """uint8 (B, H, W, 3) -> the same augmented as `augment_pixels` with `flips` (B, 3) bool:
    h-flip, v-flip, transpose (square images only) and `shifts` (B, 2) int: dx, dy."""
    tf, _ = import_keras()
    height, width = images.shape[1], images.shape[2]

    def where(mask, changed, unchanged):
        return tf.where(mask[:, None, None, None], changed, unchanged)

    def maybe(mask, change, x):
        return tf.cond(tf.reduce_any(mask), lambda: where(mask, change(x), x), lambda: x)

    images = maybe(flips[:, 0], lambda x: tf.reverse(x, [2]), images)
    images = maybe(flips[:, 1], lambda x: tf.reverse(x, [1]), images)
    if height == width:
        images = maybe(flips[:, 2], lambda x: tf.transpose(x, [0, 2, 1, 3]), images)
    moved = tf.reduce_any(tf.not_equal(shifts, 0))
    return tf.cond(moved, lambda: _translate(images, tf.cast(shifts, tf.int32)), lambda: images)


def _translate(images, shifts):
    """Every image moved by its (dx, dy), the uncovered part filled with its sky median."""
    tf, _ = import_keras()
    height, width = images.shape[1], images.shape[2]
    fill = _sky_median(images)

    def source(delta, size):
        at = tf.range(size)[None, :] - delta[:, None]
        return tf.clip_by_value(at, 0, size - 1), (at >= 0) & (at < size)

    rows, rows_inside = source(shifts[:, 1], height)
    cols, cols_inside = source(shifts[:, 0], width)
    moved = tf.gather(tf.gather(images, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)
    inside = rows_inside[:, :, None, None] & cols_inside[:, None, :, None]
    return tf.where(inside, moved, fill[:, None, None, :])


def _sky_median(images):
    """(B, 3) uint8: per image and channel, np.median of every 4th pixel on each axis, cast to
    uint8 as numpy does (the mean of the two middle values, truncated). A sort, not a
    histogram: deterministic on GPUs too."""
    tf, _ = import_keras()
    sample = images[:, ::4, ::4, :]
    n = sample.shape[1] * sample.shape[2]
    ordered = tf.sort(tf.reshape(tf.cast(sample, tf.int32), (-1, n, 3)), axis=1)
    return tf.cast((ordered[:, (n - 1) // 2] + ordered[:, n // 2]) // 2, tf.uint8)


def pixel_fields(batch: dict) -> dict:
    """The entries of a batch that `model_input` needs (what a task's `encode` passes on)."""
    return {key: batch[key] for key in ("image", "flips", "shifts") if key in batch}


def model_input(batch: dict):
    """The float images a model takes from a batch: the draws of an on-device batch applied,
    then uint8 converted to [0, 1] (float batches pass unchanged)."""
    tf, _ = import_keras()
    images = batch["image"]
    if "flips" in batch:
        images = augment_on_device(images, batch["flips"], batch["shifts"])
    return tf.image.convert_image_dtype(images, tf.float32)
