"""tf.data pipelines over packed shards: detection batches with boxes, and member sets.

Work is done a block of batches at a time: one `tf.numpy_function` call assembles several
consecutive batches (`BatchReader`: each run of consecutive images read with one call into
its rows, raw pixels need no decoding, JPEG shards are decoded by the shards' one decoder;
boxes, ignore regions and box fields moved in one vectorised pass; with host augmentation
the pixels flipped, transposed and translated while copying, by the same `augment`
functions the plain iterator uses), and the block is then split into its batches. Blocks
hold up to `BLOCK_BYTES` of pixels: small images pay the call's fixed cost once for
several batches; where every block is one batch (large images), its block axis is squeezed
away instead of unbatched, so the pixels are not copied once more. Conversion to float
and letterboxing run as TensorFlow ops on the block. JPEG shards whose pixels are delivered as
read (`on_device`) hand over the stored bytes instead, decoded by TensorFlow in the pipeline
(the same pixels as Pillow, bit for bit): the pixels never pass through a numpy function.
With `on_device=True` and images already of the input size, the pixels stay uint8 and as
read, with each image's draws ('flips', 'shifts'; the boxes are moved): the training step
applies them and converts to float on its device (`augment_tf.model_input`), so the host
only reads, and a quarter of the bytes crosses the pipeline and the host-to-device copy.
Model-specific target encoding (`encode`) runs on each batch, and batches are prefetched.
Several blocks are read in parallel (AUTOTUNE).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from clusterhpc.data.batch_reader import BOX_FIELD_NAMES, BatchReader
from clusterhpc.data.packed import EpochPlan, PackedSplit
from clusterhpc.io.shards import TF_DCT_METHOD
from clusterhpc.keras_compat import import_keras

LETTERBOX_FILL = 0.5  # grey padding, as in YOLOv3
BLOCK_BYTES = 16 * 2**20  # pixels per numpy call, at most (at least one batch)
MAX_BLOCK_BATCHES = 8


def batch_blocks(n_images: int, batch_size: int, drop_remainder: bool, image_bytes: int):
    """(first batch, batches, images per batch) of every block, in order: full blocks of
    batches, then the rest one batch each, then the partial last batch (unless dropped)."""
    full, rest = divmod(n_images, batch_size)
    per_block = int(np.clip(BLOCK_BYTES // max(batch_size * image_bytes, 1), 1, MAX_BLOCK_BATCHES))
    blocks = [(b, min(per_block, full - b), batch_size) for b in range(0, full, per_block)]
    if rest and not drop_remainder:
        blocks.append((full, 1, rest))
    return np.array(blocks, np.int64).reshape(-1, 3)


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
    plan = plan[start_batch * batch_size :]
    device = on_device and (height, width) == (input_size, input_size)
    encoded = device and split.encoding == "jpeg"
    reader = BatchReader(split, plan, batch_size, max_boxes, not device, encoded)
    blocks = batch_blocks(len(plan.indices), batch_size, drop_remainder, height * width * 3)
    out_types = (
        tf.string if encoded else tf.uint8,
        tf.float32,
        tf.int32,
        tf.float32,
        tf.int32,
        *([tf.float32] * len(BOX_FIELD_NAMES)),
        tf.int64,
        tf.bool,
        tf.int32,
    )

    def read_block(first: np.int64, count: np.int64, rows: np.int64) -> tuple:
        return tuple(
            a.reshape(int(count), int(rows), *a.shape[1:]) for a in reader.read(first, count, rows)
        )

    def load(block):
        images, boxes, counts, ignore, n_ignore, *fields, index, flips, shifts = tf.numpy_function(
            read_block, [block[0], block[1], block[2]], out_types, stateful=False
        )
        if encoded:
            images = _decode_block(images, (height, width))
        images.set_shape((None, None, height, width, 3))
        for padded in (boxes, ignore):
            padded.set_shape((None, None, max_boxes, 4))
        for per_image in (counts, n_ignore, index):
            per_image.set_shape((None, None))
        for per_box in fields:
            per_box.set_shape((None, None, max_boxes))
        flips.set_shape((None, None, 3))
        shifts.set_shape((None, None, 2))
        if not device:
            images = tf.image.convert_image_dtype(images, tf.float32)
        if (height, width) != (input_size, input_size):
            images, boxes, ignore = _letterbox_block(
                images, boxes, counts, ignore, n_ignore, input_size
            )
        sample = {
            "image": images,
            "boxes": boxes,
            "n_boxes": counts,
            "ignore": ignore,
            "n_ignore": n_ignore,
            "index": index,
            **dict(zip(BOX_FIELD_NAMES, fields, strict=True)),
        }
        if device:
            sample.update(flips=flips, shifts=shifts)
        return sample

    several = bool((blocks[:, 1] > 1).any())
    ds = tf.data.Dataset.from_tensor_slices(blocks).map(
        load if several else _only_batch(load),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if several:
        ds = ds.unbatch()
    if encode is not None:
        ds = ds.map(encode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    options.deterministic = True
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def _only_batch(load: Callable) -> Callable:
    """`load` for blocks of one batch each: the block axis is squeezed away, which shares the
    pixels' buffer, where `unbatch` would copy every batch out of its block."""
    tf, _ = import_keras()

    def single(block):
        return {key: tf.squeeze(value, 0) for key, value in load(block).items()}

    return single


def _decode_block(encoded, image_hw: tuple[int, int]):
    """JPEG bytes (n_batches, batch) -> uint8 pixels (n_batches, batch, H, W, 3), by
    TensorFlow's decoder with the DCT that gives Pillow's pixels. An image of another size
    fails the pipeline."""
    tf, _ = import_keras()
    shape = (*image_hw, 3)
    pixels = tf.map_fn(
        lambda data: tf.io.decode_jpeg(data, channels=3, dct_method=TF_DCT_METHOD),
        tf.reshape(encoded, [-1]),
        fn_output_signature=tf.TensorSpec(shape, tf.uint8),
    )
    return tf.reshape(pixels, tf.concat([tf.shape(encoded), shape], 0))


def _letterbox_block(images, boxes, counts, ignore, n_ignore, input_size: int):
    """`letterbox_tf` on a block (n_batches, batch, ...): padding rows of the boxes and
    ignore regions stay zero."""
    tf, _ = import_keras()
    block = tf.shape(images)[:2]
    max_boxes = boxes.shape[-2]
    flat_images = tf.reshape(images, tf.concat([[-1], tf.shape(images)[2:]], 0))
    both = tf.reshape(tf.concat([boxes, ignore], 2), (-1, 2 * max_boxes, 4))
    flat_images, both = letterbox_tf(flat_images, both, input_size, tuple(images.shape[2:4]))
    slots = tf.range(max_boxes)[None, None, :]
    both = tf.reshape(both, tf.concat([block, [2 * max_boxes, 4]], 0))
    valid = tf.cast(slots < counts[..., None], tf.float32)[..., None]
    valid_ignore = tf.cast(slots < n_ignore[..., None], tf.float32)[..., None]
    out = tf.reshape(flat_images, tf.concat([block, tf.shape(flat_images)[1:]], 0))
    out.set_shape([None, None, input_size, input_size, 3])
    return out, both[:, :, :max_boxes] * valid, both[:, :, max_boxes:] * valid_ignore
