"""Flips and translations applied by the training step on its device equal the host's, bit
for bit, and an on-device batch gives the model exactly the images of a host batch."""

from __future__ import annotations

import numpy as np
import pytest

from clusterhpc.data.augment import augment
from clusterhpc.data.augment_tf import augment_on_device, model_input
from clusterhpc.data.packed import PackedSplit
from clusterhpc.data.tf_datasets import detection_dataset
from clusterhpc.keras_compat import import_keras
from tests.data.fixtures import make_entries, pack


def host_augmented(images: np.ndarray, flips: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    no_boxes = np.zeros((0, 4))
    return np.stack(
        [augment(im, no_boxes, f, s)[0] for im, f, s in zip(images, flips, shifts, strict=True)]
    )


@pytest.mark.parametrize(("height", "width"), [(17, 17), (12, 21)])
def test_device_flips_and_shifts_equal_the_host_ones(height, width):
    tf, _ = import_keras()
    rng = np.random.default_rng(height)
    batch = 24
    images = rng.integers(0, 256, (batch, height, width, 3), dtype=np.uint8)
    images[:8] //= 8  # dark skies: medians from a narrow histogram
    flips = rng.random((batch, 3)) < 0.5
    flips[:, 2] &= height == width
    shifts = rng.integers(-25, 26, (batch, 2)).astype(np.int32)  # some beyond the image
    shifts[::5] = 0
    device = augment_on_device(tf.constant(images), tf.constant(flips), tf.constant(shifts))
    expected = host_augmented(images, flips, shifts)
    np.testing.assert_array_equal(device.numpy(), expected)


def test_a_batch_without_draws_passes_unchanged():
    tf, _ = import_keras()
    images = np.arange(2 * 8 * 8 * 3, dtype=np.uint8).reshape(2, 8, 8, 3)
    out = augment_on_device(
        tf.constant(images), tf.zeros((2, 3), tf.bool), tf.zeros((2, 2), tf.int32)
    )
    np.testing.assert_array_equal(out.numpy(), images)


def test_the_model_sees_the_same_images_from_an_on_device_batch(tmp_path):
    pack({"train": make_entries(tmp_path / "survey", 8)}, tmp_path / "survey", tmp_path / "p")
    split = PackedSplit(tmp_path / "p", "train")
    plan = split.epoch_plan(seed=4, epoch=0, batch_size=4, aug_prob=0.5, max_shift=0.3)
    host = list(detection_dataset(split, plan, input_size=32, batch_size=4))
    device = list(detection_dataset(split, plan, input_size=32, batch_size=4, on_device=True))
    assert "flips" not in host[0] and device[0]["image"].dtype.name == "uint8"
    for a, b in zip(host, device, strict=True):
        np.testing.assert_array_equal(model_input(b).numpy(), a["image"].numpy())
        np.testing.assert_array_equal(b["boxes"].numpy(), a["boxes"].numpy())
        np.testing.assert_array_equal(b["weight"].numpy(), a["weight"].numpy())
    letterboxed = next(
        iter(detection_dataset(split, plan, input_size=64, batch_size=4, on_device=True))
    )
    assert "flips" not in letterboxed and letterboxed["image"].dtype.name == "float32"
