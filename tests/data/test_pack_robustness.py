"""Packing survives bad input and interruptions; verify finds damage."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from clusterhpc.data.packed import PackedSplit
from clusterhpc.io import atomic as atomic_module
from clusterhpc.io.labels import LabelLine, write_labels
from clusterhpc.io.shards import verify_shard
from clusterhpc.prep.pack import pack_shard, plan_shards
from clusterhpc.prep.pack_stage import main as pack_main
from clusterhpc.prep.verify_stage import main as verify_main
from tests.data.fixtures import FEATURES, SETTINGS, make_entries, members_for, pack
from tests.train.fixtures import ROOT, make_packed_survey


def test_corrupt_and_truncated_images_are_excluded_and_reported(tmp_path):
    survey = tmp_path / "survey"
    entries = make_entries(survey, 5)
    data = (survey / entries[1].path).read_bytes()
    (survey / entries[1].path).write_bytes(data[: len(data) // 2])  # truncated
    (survey / entries[3].path).write_bytes(b"not an image at all")
    index = pack({"train": entries}, survey, tmp_path / "packed", shard_size=10)
    assert index["splits"]["train"]["n_images"] == 3
    assert index["splits"]["train"]["n_excluded"] == 2
    reasons = {e["path"].rsplit("/", 1)[-1]: e["reason"] for e in index["excluded"]}
    assert set(reasons) == {entries[1].path, entries[3].path}
    split = PackedSplit(tmp_path / "packed", "train")
    assert [split.item(i).meta["id"] for i in range(3)] == [1000, 1002, 1004]


def test_interrupted_pack_resumes_and_skips_complete_shards(tmp_path, monkeypatch):
    survey = tmp_path / "survey"
    entries = make_entries(survey, 9)
    plans = plan_shards({"train": entries}, 3)
    members = members_for(entries)
    out = tmp_path / "packed"
    real_replace = atomic_module.os.replace
    calls = []

    def killed_before_rename(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the second shard is fully written but not yet renamed
            raise KeyboardInterrupt("killed")
        return real_replace(src, dst)

    monkeypatch.setattr(atomic_module.os, "replace", killed_before_rename)
    with pytest.raises(KeyboardInterrupt):
        for plan in plans:
            pack_shard(plan, out, survey, SETTINGS, members, FEATURES)
    monkeypatch.setattr(atomic_module.os, "replace", real_replace)
    assert sorted(p.name for p in out.iterdir()) == ["train-00000-of-00003.h5"]
    first_bytes = (out / "train-00000-of-00003.h5").read_bytes()

    results = [pack_shard(plan, out, survey, SETTINGS, members, FEATURES) for plan in plans]
    assert [r.skipped for r in results] == [True, False, False]
    assert (out / "train-00000-of-00003.h5").read_bytes() == first_bytes
    clean = tmp_path / "clean"
    for plan in plans:
        pack_shard(plan, clean, survey, SETTINGS, members, FEATURES)
    for name in sorted(p.name for p in clean.iterdir()):
        assert (out / name).read_bytes() == (clean / name).read_bytes()  # byte-reproducible


def test_damaged_shard_is_rewritten_on_resume(tmp_path):
    survey = tmp_path / "survey"
    entries = make_entries(survey, 4)
    plan = plan_shards({"train": entries}, 4)[0]
    out = tmp_path / "packed"
    pack_shard(plan, out, survey, SETTINGS, members_for(entries), FEATURES)
    shard = out / plan.name
    shard.write_bytes(shard.read_bytes()[:2000])
    result = pack_shard(plan, out, survey, SETTINGS, members_for(entries), FEATURES)
    assert not result.skipped and verify_shard(shard) == []


def flip_byte(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_verify_finds_a_flipped_byte_by_shard_and_image(tmp_path, caplog):
    survey = make_packed_survey(tmp_path)
    shard = survey / "packed" / "train-00001-of-00003.h5"
    with h5py.File(shard) as h5:
        offset = h5["images"].id.get_chunk_info(5).byte_offset + 100
        boxes_offset = h5["boxes"].id.get_offset()
    from clusterhpc.config import load_config

    cfg = load_config(ROOT / "configs" / "tiny.yaml", [f"data.root={survey}"])
    assert verify_main(cfg) == 0
    flip_byte(shard, offset)
    assert verify_main(cfg) == 1
    assert f"{shard}: image 5: CRC-32 mismatch" in caplog.text
    flip_byte(shard, offset)
    flip_byte(shard, boxes_offset + 3)
    assert verify_shard(shard) == [f"{shard}: boxes: checksum mismatch"]


def test_pack_stage_from_seed_label_files(tmp_path):
    from clusterhpc.config import load_config

    survey = tmp_path / "survey"
    entries = make_entries(survey, 6)
    labels = tmp_path / "train.txt"
    write_labels(
        labels,
        [LabelLine(str(survey / e.path), e.boxes.astype(int), np.ones((1, 1))) for e in entries],
    )
    cfg = load_config(
        ROOT / "configs" / "tiny.yaml",
        [f"data.root={survey}", f"prep.pack.labels={{train: {labels}}}", "prep.pack.shard_size=4"],
    )
    assert pack_main(cfg) == 0
    split = PackedSplit(survey / "packed", "train")
    assert len(split) == 6 and len(split.shards) == 2
    item = split.item(2)
    np.testing.assert_array_equal(item.boxes, entries[2].boxes)
    assert item.meta["id"] == 1002 and not item.meta["empty"]
    assert (survey / "packed" / "pack_config.yaml").exists()
    stale = survey / "packed" / ".train-00000-of-00002.h5.tmp999"
    stale.write_bytes(b"half a shard from a killed job")
    assert pack_main(cfg) == 0
    assert not stale.exists()
