"""tf.data pipelines over packed shards: detection batches with boxes, and member sets.

Work is done a batch at a time: one `tf.numpy_function` call reads a batch of images out of
HDF5 as runs of consecutive images (one call per run; raw pixels need no decoding, JPEG
shards are decoded by the shards' one decoder) and applies the flips, transposes and
translations while copying (the same `augment` functions the plain iterator uses, moving
whole 3-byte pixels, so both readers agree exactly; the ignore regions move with the boxes; a
translation also rescales the box weights to the part left in the image). Conversion to
float and letterboxing run as TensorFlow ops on the whole batch. With `on_device=True` and
images already of the input size, the pixels stay uint8 and as read, with each image's
draws ('flips', 'shifts'; the boxes are moved): the training step applies them and converts
to float on its device (`augment_tf.model_input`), so the host only reads, and a quarter of
the bytes crosses the pipeline and the host-to-device copy. Model-specific target encoding
(`encode`) runs on the batch, and batches are prefetched.
Several batches are read in parallel (AUTOTUNE).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from clusterhpc.data.augment import augment_boxes, augment_pixels, moved_weights
from clusterhpc.data.packed import EpochPlan, PackedSplit
from clusterhpc.keras_compat import import_keras

LETTERBOX_FILL = 0.5  # grey padding, as in YOLOv3
BOX_FIELD_NAMES = ("weight", "cls", "z", "lam", "central")
WEIGHT = BOX_FIELD_NAMES.index("weight")


def _batch_reader(
    split: PackedSplit, plan: EpochPlan, batch_size: int, max_boxes: int, move_pixels: bool
) -> Callable[[np.int64], tuple]:
    """Numpy function: batch number -> images (augmented when `move_pixels`, else as read),
    padded moved boxes, counts, padded ignore regions, their counts, box fields, image
    indices (at most `max_boxes` of each), flips, shifts."""
    height, width = split.image_shape[:2]
    stacked = {
        id(sh): np.stack([sh.box_fields[k] for k in BOX_FIELD_NAMES], 0).astype(np.float32)
        for sh in split.shards
    }

    def read(batch: np.int64) -> tuple:
        rows = slice(int(batch) * batch_size, (int(batch) + 1) * batch_size)
        chosen, flips, shifts = plan.indices[rows], plan.flips[rows], plan.shifts[rows]
        images = np.empty((len(chosen), height, width, 3), np.uint8)
        boxes = np.zeros((len(chosen), max_boxes, 4), np.float32)
        counts = np.zeros(len(chosen), np.int32)
        ignore = np.zeros((len(chosen), max_boxes, 4), np.float32)
        n_ignore = np.zeros(len(chosen), np.int32)
        fields = np.zeros((len(BOX_FIELD_NAMES), len(chosen), max_boxes), np.float32)
        for run in split.runs(chosen):
            shard = run.shard
            pixels = shard.read_run(run.start, run.stop)
            for local, row, image in zip(range(run.start, run.stop), run.rows, pixels, strict=True):
                if move_pixels:
                    augment_pixels(image, flips[row], shifts[row], images[row])
                else:
                    images[row] = image
                lo, hi = shard.box_offsets[local], shard.box_offsets[local + 1]
                n = min(hi - lo, max_boxes)
                ilo, ihi = shard.ignore_offsets[local], shard.ignore_offsets[local + 1]
                k = min(ihi - ilo, max_boxes)
                both = np.concatenate([shard.boxes[lo : lo + n], shard.ignore_boxes[ilo : ilo + k]])
                moved = augment_boxes(both, flips[row], shifts[row], width, height)
                boxes[row, :n], ignore[row, :k] = moved[:n], moved[n:]
                counts[row], n_ignore[row] = n, k
                fields[:, row, :n] = stacked[id(shard)][:, lo : lo + n]
                if shifts[row].any():
                    fields[WEIGHT, row, :n] = moved_weights(
                        fields[WEIGHT, row, :n], shard.boxes[lo : lo + n], moved[:n], width, height
                    )
        return (
            images,
            boxes,
            counts,
            ignore,
            n_ignore,
            *fields,
            chosen.astype(np.int64),
            flips,
            shifts.astype(np.int32),
        )

    return read


def letterbox_tf(images, boxes, input_size: int, image_hw: tuple[int, int]):
    """Scale the longer side to `input_size`, pad the other with grey; boxes follow.
    A no-op when the images already have the input size."""
    tf, _ = import_keras()
    height, width = image_hw
    if (height, width) == (input_size, input_size):
        return images, boxes
    scale = input_size / max(height, width)
    new_h, new_w = round(height * scale), round(width * scale)
    resized = tf.image.resize(images, (new_h, new_w), method="bilinear")
    pad_h, pad_w = (input_size - new_h) // 2, (input_size - new_w) // 2
    padded = (
        tf.image.pad_to_bounding_box(resized - LETTERBOX_FILL, pad_h, pad_w, input_size, input_size)
        + LETTERBOX_FILL
    )
    return padded, boxes * scale + tf.constant([pad_w, pad_h, pad_w, pad_h], tf.float32)


def letterbox_image(image: np.ndarray, input_size: int) -> np.ndarray:
    """uint8 (H, W, 3) -> float (S, S, 3) in [0, 1], as the training pipeline does."""
    return letterbox_batch(image[None], input_size)[0]


def letterbox_batch(images: np.ndarray, input_size: int) -> np.ndarray:
    """uint8 (B, H, W, 3) -> float (B, S, S, 3): `letterbox_image` of each, in one call."""
    tf, _ = import_keras()
    floats = tf.image.convert_image_dtype(tf.constant(images), tf.float32)
    no_boxes = tf.zeros((len(images), 0, 4))
    boxed, _ = letterbox_tf(floats, no_boxes, input_size, images.shape[1:3])
    return np.asarray(boxed)


def detection_dataset(
    split: PackedSplit,
    plan: EpochPlan,
    *,
    input_size: int,
    batch_size: int,
    max_boxes: int = 32,
    start_batch: int = 0,
    encode: Callable[[dict], dict] | None = None,
    drop_remainder: bool = True,
    on_device: bool = False,
):
    """Batches of {'image' (float in [0, 1], letterboxed), 'boxes', 'n_boxes', 'ignore',
    'n_ignore', 'weight', 'cls', 'z', 'lam', 'central', 'index'} (or what `encode` makes of
    them), from batch `start_batch` of the plan on. 'ignore' holds the ignore regions, moved
    with the pixels like 'boxes'; both are padded with zero rows to `max_boxes`. With
    `on_device` and images of the input size already, 'image' is the uint8 pixels as read and
    'flips' and 'shifts' their draws: `augment_tf.model_input` makes of them exactly the
    images the pipeline would deliver otherwise."""
    tf, _ = import_keras()
    height, width = split.image_shape[:2]
    if plan.flips[:, 2].any() and height != width:
        raise ValueError(f"transpose augmentation needs square images, not {height}x{width}")
    skip = start_batch * batch_size
    plan = plan[skip:]
    n = len(plan.indices)
    n_batches = n // batch_size if drop_remainder else -(-n // batch_size)
    device = on_device and (height, width) == (input_size, input_size)
    read = _batch_reader(split, plan, batch_size, max_boxes, move_pixels=not device)
    out_types = (
        tf.uint8,
        tf.float32,
        tf.int32,
        tf.float32,
        tf.int32,
        *([tf.float32] * len(BOX_FIELD_NAMES)),
        tf.int64,
        tf.bool,
        tf.int32,
    )

    def load(batch):
        images, boxes, counts, ignore, n_ignore, *fields, index, flips, shifts = tf.numpy_function(
            read, [batch], out_types, stateful=False
        )
        images.set_shape((None, height, width, 3))
        boxes.set_shape((None, max_boxes, 4))
        ignore.set_shape((None, max_boxes, 4))
        if not device:
            images = tf.image.convert_image_dtype(images, tf.float32)
        images, both = letterbox_tf(
            images, tf.concat([boxes, ignore], 1), input_size, (height, width)
        )
        slots = tf.range(max_boxes)[None, :]
        valid = tf.cast(slots < counts[:, None], tf.float32)
        valid_ignore = tf.cast(slots < n_ignore[:, None], tf.float32)
        sample = {
            "image": images,
            "boxes": both[:, :max_boxes] * valid[..., None],
            "n_boxes": counts,
            "ignore": both[:, max_boxes:] * valid_ignore[..., None],
            "n_ignore": n_ignore,
            "index": index,
        }
        if device:
            flips.set_shape((None, 3))
            shifts.set_shape((None, 2))
            sample.update(flips=flips, shifts=shifts)
        for name, value in zip(BOX_FIELD_NAMES, fields, strict=True):
            value.set_shape((None, max_boxes))
            sample[name] = value
        return sample

    ds = tf.data.Dataset.range(n_batches).map(
        load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    if encode is not None:
        ds = ds.map(encode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    options.deterministic = True
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)
