"""Packing round trip: what is read back (Python iterator and tf.data) equals what was written."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from clusterhpc.data.augment import augment
from clusterhpc.data.packed import PackedSplit, iterate
from clusterhpc.io.shards import verify_shard
from tests.data.fixtures import make_entries, pack


@pytest.fixture
def packed(tmp_path):
    entries = make_entries(tmp_path / "survey", 10)
    index = pack(
        {"train": entries[:7], "valid": entries[7:]},
        tmp_path / "survey",
        tmp_path / "packed",
        shard_size=3,
    )
    return tmp_path, entries, index


def test_index_and_shard_names(packed):
    tmp_path, _, index = packed
    assert [s["file"] for s in index["splits"]["train"]["shards"]] == [
        "train-00000-of-00003.h5",
        "train-00001-of-00003.h5",
        "train-00002-of-00003.h5",
    ]
    assert index["splits"]["train"]["n_images"] == 7
    assert index["splits"]["valid"]["n_images"] == 3
    for shard in (tmp_path / "packed").glob("*.h5"):
        assert verify_shard(shard) == []


def test_images_boxes_meta_members_round_trip(packed):
    tmp_path, entries, _ = packed
    split = PackedSplit(tmp_path / "packed", "train")
    assert len(split) == 7
    for i, entry in enumerate(entries[:7]):
        item = split.item(i)
        source = np.asarray(Image.open(tmp_path / "survey" / entry.path).convert("RGB"))
        np.testing.assert_array_equal(item.image, source)
        np.testing.assert_array_equal(item.boxes, entry.boxes)
        assert item.meta["id"] == entry.meta["id"]
        assert item.meta["path"] == entry.path
        assert item.box_fields["lam"][0] == pytest.approx(entry.box_fields["lam"][0])
        assert item.members.shape == (3 + i % 4, 3)
        assert np.all(item.members == i)


def test_python_iterator_applies_augmentations_to_boxes(packed):
    tmp_path, _, _ = packed
    split = PackedSplit(tmp_path / "packed", "train")
    plan = split.epoch_plan(seed=3, epoch=1, aug_prob=0.5)
    assert plan.flips.any()
    for index, flips, item in zip(plan.indices, plan.flips, iterate(split, plan), strict=True):
        box = item.boxes[0].astype(int)
        x1, y1, x2, y2 = box
        # The bright rectangle moved with its box.
        assert np.all(item.image[y1:y2, x1:x2, 0] == 250), (index, flips)
        outside = item.image[..., 0].copy()
        outside[y1:y2, x1:x2] = 0
        assert outside.max() < 250


@pytest.mark.parametrize("flips", [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1)])
def test_augment_moves_box_with_pixels_on_non_square_image(flips):
    image = np.zeros((20, 30, 3), np.uint8)
    image[2:7, 3:12] = 255  # box x 3..12, y 2..7
    out, boxes = augment(image, np.array([[3, 2, 12, 7]], np.float32), np.array(flips, bool))
    x1, y1, x2, y2 = boxes[0].astype(int)
    assert out[..., 0].sum() == image[..., 0].sum()
    assert np.all(out[y1:y2, x1:x2, 0] == 255)


def test_ranks_get_disjoint_complete_coverage(packed):
    tmp_path, _, _ = packed
    split = PackedSplit(tmp_path / "packed", "train")
    parts = [split.epoch_plan(seed=1, epoch=0, rank=r, size=2).indices for r in range(2)]
    assert not set(parts[0]) & set(parts[1])
    assert sorted(np.concatenate(parts)) == list(range(7))
    equal_steps = [split.epoch_plan(1, 0, r, 2, batch_size=2).indices for r in range(2)]
    assert [len(p) for p in equal_steps] == [2, 2]
    other_epoch = split.epoch_plan(seed=1, epoch=1).indices
    assert list(other_epoch) != list(split.epoch_plan(seed=1, epoch=0).indices)
