"""tf.data pipelines over packed shards: detection images with boxes, and member sets.

Reads run through `tf.numpy_function` in parallel map calls (each call copies one image chunk
out of HDF5, no decoding), augmentation and letterboxing are TensorFlow ops, so the pipeline
scales with `num_parallel_calls` and prefetches ahead of the model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from clusterhpc.data.augment import augment_tf
from clusterhpc.data.packed import EpochPlan, PackedSplit
from clusterhpc.keras_compat import import_keras

LETTERBOX_FILL = 0.5  # grey padding, as in YOLOv3


def _pad(rows: np.ndarray, length: int, dtype: Any) -> np.ndarray:
    out = np.zeros((length, *rows.shape[1:]), dtype)
    out[: min(len(rows), length)] = rows[:length]
    return out


def _reader(split: PackedSplit, max_boxes: int) -> Callable[[np.int64], tuple]:
    def read(index: np.int64) -> tuple:
        item = split.item(int(index))
        n = min(len(item.boxes), max_boxes)
        fields = [
            _pad(item.box_fields[k], max_boxes, np.float32)
            for k in ("weight", "cls", "z", "lam", "central")
        ]
        return (item.image, _pad(item.boxes, max_boxes, np.float32), np.int32(n), *fields)

    return read


def letterbox_tf(image, boxes, input_size: int):
    """Scale the longer side to `input_size`, pad the other with grey; boxes follow."""
    tf, _ = import_keras()
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = input_size / tf.reduce_max(shape)
    new_hw = tf.cast(tf.round(shape * scale), tf.int32)
    resized = tf.image.resize(image, new_hw, method="bilinear")
    pad_h = (input_size - new_hw[0]) // 2
    pad_w = (input_size - new_hw[1]) // 2
    padded = (
        tf.image.pad_to_bounding_box(resized - LETTERBOX_FILL, pad_h, pad_w, input_size, input_size)
        + LETTERBOX_FILL
    )
    offset = tf.cast(tf.stack([pad_w, pad_h, pad_w, pad_h]), tf.float32)
    return padded, boxes * scale + offset


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
):
    """Batches of {'image', 'boxes', 'n_boxes', 'weight', 'cls', 'z', 'lam', 'central',
    'index'} (plus whatever `encode` adds), starting at batch `start_batch` of the plan."""
    tf, _ = import_keras()
    skip = start_batch * batch_size
    indices, flips = plan.indices[skip:], plan.flips[skip:]
    height, width = split.image_shape[:2]
    read = _reader(split, max_boxes)
    out_types = (tf.uint8, tf.float32, tf.int32, *([tf.float32] * 5))

    def load(index, flip):
        image, boxes, n, weight, cls, z, lam, central = tf.numpy_function(
            read, [index], out_types, stateful=False
        )
        image.set_shape((height, width, 3))
        boxes.set_shape((max_boxes, 4))
        valid = tf.range(max_boxes) < n
        image = tf.image.convert_image_dtype(image, tf.float32)
        image, moved = augment_tf(image, boxes, flip)
        image, moved = letterbox_tf(image, moved, input_size)
        mask = tf.cast(valid, tf.float32)[:, None]
        sample = {
            "image": image,
            "boxes": moved * mask,
            "n_boxes": tf.reshape(n, ()),
            "index": index,
        }
        for name, value in zip(
            ("weight", "cls", "z", "lam", "central"), (weight, cls, z, lam, central), strict=True
        ):
            value.set_shape((max_boxes,))
            sample[name] = value
        return sample

    ds = tf.data.Dataset.from_tensor_slices((indices.astype(np.int64), flips))
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if encode is not None:
        ds = ds.map(encode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    options = tf.data.Options()
    options.deterministic = True
    options.threading.private_threadpool_size = 0
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def member_sets(
    split: PackedSplit,
    plan: EpochPlan,
    max_members: int,
) -> dict[str, np.ndarray]:
    """Members of each image's central cluster as padded sets with masks, plus z and λ."""
    n = len(plan.indices)
    n_feat = len(split.member_features)
    sets = np.zeros((n, max_members, n_feat), np.float32)
    mask = np.zeros((n, max_members), bool)
    z = np.zeros(n, np.float32)
    lam = np.zeros(n, np.float32)
    for row, index in enumerate(plan.indices):
        shard, local = split.locate(int(index))
        lo, hi = shard.member_offsets[local], shard.member_offsets[local + 1]
        members = shard.members[lo:hi][:max_members]
        sets[row, : len(members)] = members
        mask[row, : len(members)] = True
        z[row], lam[row] = shard.meta["z"][local], shard.meta["lam"][local]
    return {"members": sets, "mask": mask, "z": z, "lam": lam, "index": plan.indices}
