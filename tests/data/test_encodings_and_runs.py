"""JPEG-encoded shards keep the files' bytes and decode like Pillow (in TensorFlow's pipeline
too); images are read as runs
of consecutive images; run plans give every rank whole runs and cover the split once."""

from __future__ import annotations

import io

import h5py
import numpy as np
import pytest
from PIL import Image

from clusterhpc.data.augment_tf import model_input
from clusterhpc.data.batch_reader import BatchReader
from clusterhpc.data.packed import PackedSplit, iterate
from clusterhpc.data.tf_datasets import detection_dataset
from clusterhpc.errors import DataError
from clusterhpc.io.shards import TF_DCT_METHOD, decode_jpeg, verify_shard
from clusterhpc.keras_compat import import_keras
from clusterhpc.prep.pack import pack_shard, plan_shards, write_index
from tests.data.fixtures import FEATURES, make_entries, members_for


def pack_as(entries, root, out, encoding: str, shard_size: int = 4, image_size: int = 0):
    settings = {"image_size": image_size, "compression": "none", "encoding": encoding}
    results = [
        pack_shard(plan, out, root, settings, members_for(entries), FEATURES)
        for plan in plan_shards({"train": entries}, shard_size)
    ]
    write_index(out, results)
    return results


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """Nine 32 px JPEG cutouts with one box each, and their entries."""
    root = tmp_path_factory.mktemp("jpeg") / "survey"
    entries = make_entries(root, 9)
    for entry in entries:
        png = root / entry.path
        entry.path = png.with_suffix(".jpeg").name
        Image.open(png).save(root / entry.path, quality=90)
    return root, entries


@pytest.fixture(scope="module")
def jpeg_split(survey, tmp_path_factory):
    root, entries = survey
    out = tmp_path_factory.mktemp("packed-jpeg")
    pack_as(entries, root, out, "jpeg")
    return PackedSplit(out, "train")


def test_jpeg_shards_hold_the_files_bytes_and_decode_like_pillow(survey, jpeg_split):
    root, entries = survey
    shard = jpeg_split.shards[0]
    assert shard.encoding == "jpeg" and shard.image_shape == (32, 32, 3)
    with h5py.File(shard.path) as h5:
        offsets, data = h5["image_offsets"][:], h5["image_bytes"][:]
        assert "images" not in h5
    for i in range(shard.n_images):
        stored = data[offsets[i] : offsets[i + 1]].tobytes()
        assert stored == (root / entries[i].path).read_bytes()
        expected = np.asarray(Image.open(root / entries[i].path).convert("RGB"))
        np.testing.assert_array_equal(shard.image(i), expected)
    np.testing.assert_array_equal(shard.read_run(1, 3)[1], shard.image(2))
    assert verify_shard(shard.path) == []


def test_a_changed_jpeg_byte_is_reported_with_its_image(survey, tmp_path):
    root, entries = survey
    pack_as(entries, root, tmp_path, "jpeg")
    path = tmp_path / "train-00000-of-00003.h5"
    with h5py.File(path, "r+") as h5:
        at = int(h5["image_offsets"][2]) + 300
        h5["image_bytes"][at] ^= 0xFF
    assert verify_shard(path) == [f"{path}: image 2: CRC-32 mismatch"]


def test_jpeg_encoding_stores_files_unchanged_or_excludes_them(survey, tmp_path):
    root, entries = survey
    png_entries = make_entries(tmp_path / "png", 2)
    results = pack_as(png_entries, tmp_path / "png", tmp_path / "from-png", "jpeg")
    assert [e["reason"] for e in results[0].excluded] == [
        "ValueError: a PNG file, not JPEG: pack it with encoding raw"
    ] * 2
    results = pack_as(entries[:2], root, tmp_path / "resized", "jpeg", image_size=64)
    assert all(
        "encoding jpeg stores the files unchanged" in e["reason"] for e in results[0].excluded
    )


def test_jpeg_shards_are_smaller_than_raw_ones(survey, jpeg_split, tmp_path):
    root, entries = survey
    pack_as(entries, root, tmp_path, "raw")
    raw = sum(p.stat().st_size for p in tmp_path.glob("*.h5"))
    jpeg = sum(p.stat().st_size for p in jpeg_split.packed_dir.glob("*.h5"))
    files = sum((root / e.path).stat().st_size for e in entries)
    assert jpeg < raw and jpeg - files < raw - 9 * 32 * 32 * 3


def test_runs_group_consecutive_images_of_one_shard(jpeg_split):
    # Shards of 4: images 0-3, 4-7, 8.
    runs = jpeg_split.runs(np.array([5, 0, 1, 2, 8, 4, 3]))
    got = [(jpeg_split.shards.index(r.shard), r.start, r.stop, list(r.rows)) for r in runs]
    assert got == [(0, 0, 4, [1, 2, 3, 6]), (1, 0, 2, [5, 0]), (2, 0, 1, [4])]
    assert jpeg_split.runs(np.array([], np.int64)) == []
    with pytest.raises(IndexError):
        jpeg_split.runs(np.array([9]))


def test_tf_reader_matches_the_plain_reader_on_jpeg_shards_with_run_plans(jpeg_split):
    plan = jpeg_split.epoch_plan(
        seed=3, epoch=1, batch_size=4, aug_prob=0.5, max_shift=0.3, read_run=2, shuffle_buffer=4
    )
    batches = list(detection_dataset(jpeg_split, plan, input_size=32, batch_size=4, max_boxes=2))
    expected = list(iterate(jpeg_split, plan))
    assert len(batches) == 2
    for b, batch in enumerate(batches):
        for j in range(4):
            ref = expected[4 * b + j]
            np.testing.assert_allclose(batch["image"][j], ref.image / 255.0, atol=1e-6)
            np.testing.assert_allclose(batch["boxes"][j, 0], ref.boxes[0], atol=1e-5)
            np.testing.assert_allclose(batch["weight"][j, 0], ref.box_fields["weight"][0])


@pytest.fixture(scope="module")
def forty(tmp_path_factory):
    """40 images in shards of 8 (raw)."""
    tmp = tmp_path_factory.mktemp("forty")
    pack_as(make_entries(tmp / "survey", 40, size=16), tmp / "survey", tmp / "packed", "raw", 8)
    return PackedSplit(tmp / "packed", "train")


def test_run_plans_give_each_rank_whole_runs_and_cover_the_split_once(forty):
    plans = [
        forty.epoch_plan(seed=1, epoch=0, rank=r, size=2, batch_size=4, read_run=4)
        for r in range(2)
    ]
    for plan in plans:
        for batch in plan.indices.reshape(-1, 4):
            assert np.all(np.diff(batch) == 1) and batch[0] % 4 == 0  # one whole run
    both = np.concatenate([p.indices for p in plans])
    assert sorted(both) == list(range(40))
    again = forty.epoch_plan(seed=1, epoch=0, rank=1, size=2, batch_size=4, read_run=4)
    np.testing.assert_array_equal(again.indices, plans[1].indices)
    other = forty.epoch_plan(seed=1, epoch=1, rank=1, size=2, batch_size=4, read_run=4)
    assert not np.array_equal(other.indices, plans[1].indices)


def test_a_shuffle_buffer_mixes_runs_within_its_window(forty):
    plan = forty.epoch_plan(seed=2, epoch=0, read_run=4, shuffle_buffer=8)
    windows = plan.indices.reshape(-1, 8)
    for window in windows:
        runs = np.unique(window // 4)
        assert len(runs) == 2  # two whole runs of 4 ...
        assert sorted(window) == sorted(np.concatenate([np.arange(4 * r, 4 * r + 4) for r in runs]))
    mixed = [not np.array_equal(w, np.sort(w)) for w in windows]
    assert sum(mixed) >= 4  # ... mixed within the window
    assert sorted(plan.indices) == list(range(40))


def test_runs_never_cross_a_shard_boundary(tmp_path):
    entries = make_entries(tmp_path / "survey", 10, size=16)
    pack_as(entries, tmp_path / "survey", tmp_path / "packed", "raw", shard_size=5)
    split = PackedSplit(tmp_path / "packed", "train")
    order = split.epoch_plan(seed=0, epoch=0, read_run=3).indices
    lengths = {0: 3, 3: 2, 5: 3, 8: 2}  # shards 0-4 and 5-9 cut into runs of 3 and the rest
    position = 0
    while position < len(order):
        start = int(order[position])
        run = order[position : position + lengths.pop(start)]
        np.testing.assert_array_equal(run, np.arange(start, start + len(run)))
        position += len(run)
    assert not lengths


def test_tensorflows_decoder_with_the_shards_dct_gives_pillows_pixels():
    tf, _ = import_keras()
    rng = np.random.default_rng(5)
    noisy = np.clip(rng.normal(60, 40, (48, 40, 3)), 0, 255).astype(np.uint8)
    for quality, subsampling in [(95, 0), (90, 2), (75, 1)]:
        buffer = io.BytesIO()
        Image.fromarray(noisy).save(buffer, "JPEG", quality=quality, subsampling=subsampling)
        data = buffer.getvalue()
        tf_pixels = tf.io.decode_jpeg(data, channels=3, dct_method=TF_DCT_METHOD).numpy()
        np.testing.assert_array_equal(tf_pixels, decode_jpeg(data))
        fast = tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_FAST").numpy()
        assert (fast != tf_pixels).any()  # the DCT setting is what makes them equal


@pytest.mark.parametrize("batch_size", [2, 8])
def test_on_device_jpeg_batches_are_the_stored_bytes_decoded_by_tensorflow(jpeg_split, batch_size):
    """Blocks of several batches (2) and of one (8): pixels as read, equal to Pillow's."""
    plan = jpeg_split.epoch_plan(
        seed=2, epoch=0, batch_size=batch_size, aug_prob=0.5, max_shift=0.3, read_run=2
    )
    reader = BatchReader(jpeg_split, plan, batch_size, 2, move_pixels=False, encoded=True)
    stored = reader.read(0, 1, batch_size)[0]
    for data, index in zip(stored, plan.indices, strict=False):
        shard, local = jpeg_split.locate(int(index))
        assert data == shard.encoded_run(local, local + 1)[0]
    args = {"input_size": 32, "batch_size": batch_size, "max_boxes": 2}
    host = list(detection_dataset(jpeg_split, plan, **args))
    device = list(detection_dataset(jpeg_split, plan, on_device=True, **args))
    assert len(device) == len(host) == len(plan.indices) // batch_size
    for b, (a, d) in enumerate(zip(host, device, strict=True)):
        rows = plan.indices[b * batch_size : (b + 1) * batch_size]
        as_read = np.stack([jpeg_split.item(int(i)).image for i in rows])
        np.testing.assert_array_equal(d["image"].numpy(), as_read)
        np.testing.assert_array_equal(model_input(d).numpy(), a["image"].numpy())
        np.testing.assert_array_equal(d["boxes"].numpy(), a["boxes"].numpy())


def test_only_jpeg_shards_read_as_they_are_hand_over_bytes(jpeg_split, survey, tmp_path):
    plan = jpeg_split.epoch_plan(seed=0, epoch=0, batch_size=4)
    with pytest.raises(ValueError, match="only JPEG shards"):
        BatchReader(jpeg_split, plan, 4, 2, move_pixels=True, encoded=True)
    root, entries = survey
    pack_as(entries, root, tmp_path, "raw")
    raw = PackedSplit(tmp_path, "train")
    with pytest.raises(ValueError, match="only JPEG shards"):
        BatchReader(raw, plan, 4, 2, move_pixels=False, encoded=True)
    with pytest.raises(DataError, match="stored raw"):
        raw.shards[0].encoded_run(0, 1)
