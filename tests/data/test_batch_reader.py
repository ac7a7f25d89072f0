"""The block reader: boxes moved in one vectorised pass equal the per-image definition bit
for bit, runs are read straight into any rows of a batch (raw uncompressed shards with one
system call, other shards through HDF5), blocks of batches (unbatched) deliver the same
batches as one batch per call (its block axis squeezed), and batches collected keep their
pixels while the reader reuses its buffer."""

from __future__ import annotations

import numpy as np
import pytest

from clusterhpc.data import tf_datasets
from clusterhpc.data.augment import augment_boxes
from clusterhpc.data.batch_reader import move_boxes
from clusterhpc.data.packed import PackedSplit, iterate
from clusterhpc.data.tf_datasets import batch_blocks, detection_dataset
from clusterhpc.io.shards import Shard
from clusterhpc.prep.pack import pack_shard, plan_shards, write_index
from tests.data.fixtures import FEATURES, make_entries, members_for


def packed(root, out, entries, compression: str = "none") -> PackedSplit:
    settings = {"image_size": 0, "compression": compression, "encoding": "raw"}
    results = [
        pack_shard(plan, out, root, settings, members_for(entries), FEATURES)
        for plan in plan_shards({"train": entries}, 5)
    ]
    write_index(out, results)
    return PackedSplit(out, "train")


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    root = tmp_path_factory.mktemp("blocks") / "survey"
    return root, make_entries(root, 13)


@pytest.fixture(scope="module")
def plain(survey, tmp_path_factory):
    return packed(*survey[:1], tmp_path_factory.mktemp("raw"), survey[1])


@pytest.fixture(scope="module")
def gzipped(survey, tmp_path_factory):
    return packed(*survey[:1], tmp_path_factory.mktemp("gzip"), survey[1], "gzip")


@pytest.mark.parametrize("case", range(16))
def test_vectorised_boxes_equal_the_per_image_definition_bit_for_bit(case):
    rng = np.random.default_rng(case)
    width = height = 40
    owners = rng.integers(0, 5, 30)
    flips = rng.random((5, 3)) < 0.5
    shifts = rng.integers(-50, 51, (5, 2)) * (rng.random((5, 1)) < 0.6)
    boxes = rng.uniform(-15, 55, (30, 4)).astype(np.float32)
    moved = move_boxes(boxes, flips[owners], shifts[owners], width, height)
    assert moved.dtype == np.float32
    for image in range(5):
        mine = owners == image
        expected = augment_boxes(boxes[mine], flips[image], shifts[image], width, height)
        np.testing.assert_array_equal(moved[mine], expected)


def test_raw_uncompressed_shards_are_read_with_one_call_into_any_rows(plain, gzipped):
    shard = plain.shards[0]
    assert shard._file_offsets is not None
    assert gzipped.shards[0]._file_offsets is None
    for split in (plain, gzipped):
        shard = split.shards[0]
        out = np.zeros((7, *shard.image_shape), np.uint8)
        rows = np.array([5, 0, 3, 6])
        shard.read_rows(1, 5, out, rows)
        expected = shard.read_run(1, 5)
        for k, row in enumerate(rows):
            np.testing.assert_array_equal(out[row], expected[k])
        assert not out[[1, 2, 4]].any()


def test_a_truncated_shard_is_reported(survey, tmp_path):
    split = packed(survey[0], tmp_path, survey[1])
    path = split.shards[0].path
    split.close()
    data = path.read_bytes()
    shard = Shard(path)
    path.write_bytes(data[: int(shard._file_offsets[3]) + 10])
    out = np.zeros((5, *shard.image_shape), np.uint8)
    with pytest.raises(Exception, match="cut short"):
        shard.read_rows(0, 5, out, np.arange(5))
    shard.close()


@pytest.mark.parametrize(("n", "batch", "drop"), [(13, 4, True), (13, 4, False), (8, 4, False)])
def test_blocks_cover_every_batch_once_in_order(n, batch, drop, monkeypatch):
    monkeypatch.setattr(tf_datasets, "BLOCK_BYTES", 2 * 4 * 100)
    blocks = batch_blocks(n, batch, drop, 100)
    rows = [(first * batch + k * size, size) for first, count, size in blocks for k in range(count)]
    expected = [(b * batch, batch) for b in range(n // batch)]
    if n % batch and not drop:
        expected.append((n // batch * batch, n % batch))
    assert rows == expected
    assert blocks[:, 1].max() == min(2, n // batch)


@pytest.mark.parametrize("on_device", [False, True])
@pytest.mark.parametrize("split_name", ["plain", "gzipped"])
def test_blocks_of_batches_give_the_batches_of_one_batch_per_call(
    split_name, on_device, request, monkeypatch
):
    split = request.getfixturevalue(split_name)
    plan = split.epoch_plan(seed=3, epoch=0, aug_prob=0.5, max_shift=0.3, read_run=3)

    def batches(block_bytes: int) -> list[dict]:
        monkeypatch.setattr(tf_datasets, "BLOCK_BYTES", block_bytes)
        ds = detection_dataset(
            split,
            plan,
            input_size=32,
            batch_size=4,
            max_boxes=2,
            drop_remainder=False,
            on_device=on_device,
        )
        return list(ds.as_numpy_iterator())

    one, blocks = batches(1), batches(2**30)
    assert [len(b["index"]) for b in one] == [4, 4, 4, 1]
    assert len(one) == len(blocks)
    for a, b in zip(one, blocks, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    flat = np.concatenate([b["index"] for b in one])
    np.testing.assert_array_equal(flat, plan.indices)
    references = list(iterate(split, plan))
    for row, ref in enumerate(references):
        batch, j = one[row // 4], row % 4
        np.testing.assert_array_equal(batch["boxes"][j, : len(ref.boxes)], ref.boxes[:2])
        weights = batch["weight"][j, : len(ref.boxes)]
        np.testing.assert_array_equal(weights, ref.box_fields["weight"][:2])
        # Collected batches keep their own pixels although the reader reuses its buffer.
        if on_device:
            as_read = split.item(int(plan.indices[row])).image
            np.testing.assert_array_equal(batch["image"][j], as_read)
        else:
            np.testing.assert_allclose(batch["image"][j], ref.image / 255.0, atol=1e-6)
