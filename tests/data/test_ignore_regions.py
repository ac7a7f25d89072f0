"""Ignore regions in the shards: packed from the prep boxes, checksummed, schema-versioned, and
moved with the pixels by every augmentation in both readers."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from astropy.table import Table
from PIL import Image

from clusterhpc.box_geometry import clip
from clusterhpc.data.packed import PackedSplit, iterate
from clusterhpc.data.tf_datasets import detection_dataset
from clusterhpc.errors import DataError
from clusterhpc.io.shards import Shard, verify_shard
from clusterhpc.prep.pack import pack_shard, plan_shards
from tests.data.fixtures import FEATURES, make_entries, members_for, pack

SIZE = 32
LABEL_RGB = (250, 40, 10)
IGNORE_RGB = (10, 250, 40)
# an ignore region that leaves the image on the left and the top (its centre is outside)
IGNORE_BOX = (-6.0, -4.0, 6.0, 8.0)


def entries_with_ignore(directory, n=8):
    """Images with one label (red) and one ignore region (green) painted where they lie."""
    entries = make_entries(directory, n, size=SIZE)
    entries[0].ignore = np.zeros((0, 4), np.float32)  # an image without ignore regions
    for entry in entries[1:]:
        path = directory / entry.path
        image = np.asarray(Image.open(path)).copy()
        x1, y1, x2, y2 = clip(np.array([IGNORE_BOX]), SIZE, SIZE)[0].astype(int)
        image[y1:y2, x1:x2] = IGNORE_RGB
        lx1, ly1, lx2, ly2 = entry.boxes[0].astype(int)
        image[ly1:ly2, lx1:lx2] = LABEL_RGB  # the label is painted last, over any overlap
        Image.fromarray(image).save(path)
        entry.ignore = np.array([IGNORE_BOX], np.float32)
    return entries


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ignore")
    entries = entries_with_ignore(tmp / "survey")
    pack({"train": entries}, tmp / "survey", tmp / "packed")
    return tmp / "packed", entries


def test_ignore_regions_round_trip_and_verify(packed):
    root, entries = packed
    split = PackedSplit(root, "train")
    for i, entry in enumerate(entries):
        item = split.item(i)
        np.testing.assert_array_equal(item.ignore, entry.ignore)
        np.testing.assert_array_equal(item.boxes, entry.boxes)  # labels untouched
    assert [verify_shard(s.path) for s in split.shards] == [[], []]


def test_resized_images_scale_their_ignore_regions(tmp_path):
    entries = entries_with_ignore(tmp_path / "survey", n=2)
    settings = {"image_size": SIZE // 2, "compression": "none"}
    (plan,) = plan_shards({"train": entries}, 4)
    pack_shard(plan, tmp_path, tmp_path / "survey", settings, members_for(entries), FEATURES)
    with Shard(tmp_path / plan.name) as shard:
        np.testing.assert_allclose(shard.item(1).ignore, np.array([IGNORE_BOX]) / 2)


def test_ignore_boxes_are_checksummed(tmp_path):
    entries = entries_with_ignore(tmp_path / "survey", n=4)
    pack({"train": entries}, tmp_path / "survey", tmp_path / "packed")
    path = tmp_path / "packed" / "train-00000-of-00001.h5"
    with h5py.File(path, "r+") as h5:
        h5["ignore_boxes"][0, 0] += 1.0
    assert verify_shard(path) == [f"{path}: ignore_boxes: checksum mismatch"]


def test_old_schema_is_refused_naming_the_file(tmp_path):
    entries = entries_with_ignore(tmp_path / "survey", n=2)
    pack({"train": entries}, tmp_path / "survey", tmp_path / "packed")
    path = tmp_path / "packed" / "train-00000-of-00001.h5"
    with h5py.File(path, "r+") as h5:
        h5.attrs["schema_version"] = 1
    with pytest.raises(DataError, match=rf"{path}: shard schema version 1 .*repack"):
        Shard(path)
    (problem,) = verify_shard(path)
    assert str(path) in problem and "no ignore regions" in problem


def test_changed_ignore_regions_repack_the_shard(tmp_path):
    entries = entries_with_ignore(tmp_path / "survey", n=2)
    settings = {"image_size": 0, "compression": "none"}
    members = members_for(entries)
    (plan,) = plan_shards({"train": entries}, 4)
    args = (tmp_path, tmp_path / "survey", settings, members, FEATURES)
    assert not pack_shard(plan, *args).skipped
    assert pack_shard(plan, *args).skipped
    entries[1].ignore = np.array([[20, 20, 40, 40]], np.float32)
    (plan,) = plan_shards({"train": entries}, 4)
    assert not pack_shard(plan, *args).skipped
    with Shard(tmp_path / plan.name) as shard:
        np.testing.assert_array_equal(shard.item(1).ignore, [[20, 20, 40, 40]])


def _coloured(image: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    return np.all(image == np.array(rgb, np.uint8), axis=-1)


def _box_mask(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = clip(box[None], SIZE, SIZE)[0].astype(int)
    mask = np.zeros((SIZE, SIZE), bool)
    mask[y1:y2, x1:x2] = True
    return mask


def test_ignore_regions_follow_the_pixels_in_both_readers(packed):
    root, _ = packed
    split = PackedSplit(root, "train")
    plan = split.epoch_plan(seed=3, epoch=0, aug_prob=0.5, max_shift=0.3)
    assert plan.flips.any(axis=0).all() and plan.shifts.any()
    expected = list(iterate(split, plan))
    for item in expected:
        # every green pixel lies in the moved ignore region, and the region not under the
        # label is green: the region moved exactly as the pixels did
        green, red = _coloured(item.image, IGNORE_RGB), _coloured(item.image, LABEL_RGB)
        if not len(item.ignore):
            assert not green.any()
            continue
        region = _box_mask(item.ignore[0])
        assert region.any() and not (green & ~region).any()
        np.testing.assert_array_equal(region & ~red, green)
    batches = detection_dataset(split, plan, input_size=SIZE, batch_size=4, max_boxes=2)
    for b, batch in enumerate(batches):
        for j in range(4):
            ref = expected[4 * b + j]
            n = len(ref.ignore)
            assert int(batch["n_ignore"][j]) == n
            np.testing.assert_allclose(batch["ignore"][j, :n], ref.ignore, atol=1e-5)
            np.testing.assert_array_equal(batch["ignore"][j, n:], 0)
            np.testing.assert_allclose(batch["boxes"][j, :1], ref.boxes, atol=1e-5)


def test_letterboxed_ignore_regions_scale_with_the_image(packed):
    root, _ = packed
    split = PackedSplit(root, "train")
    plan = split.epoch_plan(seed=0, epoch=0, shuffle=False)
    batch = next(iter(detection_dataset(split, plan, input_size=2 * SIZE, batch_size=2)))
    np.testing.assert_allclose(batch["ignore"][1, 0], np.array(IGNORE_BOX) * 2, atol=1e-5)


def test_pack_entries_take_the_boxes_not_kept_as_ignore_regions(tmp_path):
    from clusterhpc.config import load_config
    from clusterhpc.prep.pack_sources import entries_from_prep
    from tests.prep.test_stages import ROOT, make_survey, overrides, run_serial

    root = make_survey(tmp_path / "survey")
    run_serial(root, tmp_path / "prep")
    images = Table.read(tmp_path / "prep" / "boxes.fits", hdu="IMAGES")
    boxes = Table.read(tmp_path / "prep" / "boxes.fits", hdu="BOXES")
    cfg = load_config(ROOT / "configs/tiny.yaml", overrides(root, tmp_path / "prep"))
    entries = {e.path: e for es in entries_from_prep(cfg).values() for e in es}
    corners = np.stack([boxes[c] for c in ("X1", "Y1", "X2", "Y2")], 1)
    keep = np.asarray(boxes["KEEP"], bool)
    n_ignore = 0
    for i, path in enumerate(images["PATH"]):
        mine = np.asarray(boxes["IMAGE"]) == i
        np.testing.assert_array_equal(entries[path].boxes, corners[mine & keep])
        np.testing.assert_array_equal(entries[path].ignore, corners[mine & ~keep])
        n_ignore += len(entries[path].ignore)
    # every box is a label or an ignore region; this survey has neighbours of both kinds
    assert n_ignore == np.sum(~keep) > 0
    assert sum(len(e.boxes) + len(e.ignore) for e in entries.values()) == len(boxes)
