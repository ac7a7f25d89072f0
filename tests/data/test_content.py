"""Files and shards by content: hashed once, re-hashed only when size or mtime change."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil

from PIL import Image

from clusterhpc.data.packed import PackedSplit, split_fingerprint
from clusterhpc.io.content import HashCache, digest_files, hash_file
from clusterhpc.models import inference_record
from clusterhpc.prep.pack import pack_shard, plan_shards, write_index
from tests.data.fixtures import FEATURES, SETTINGS, box_image, make_entries, members_for
from tests.train.fixtures import make_packed_survey


def touch(path, seconds=10):
    """New mtime, same bytes."""
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + seconds * 10**9))


def test_hash_is_blake2b_of_the_bytes(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"x" * 3_000_000)  # several read chunks
    assert hash_file(path) == hashlib.blake2b(b"x" * 3_000_000, digest_size=32).hexdigest()


def test_unchanged_files_are_not_rehashed_touched_once_edited_get_a_new_digest(tmp_path):
    files = [tmp_path / f"{i}.txt" for i in range(3)]
    for i, f in enumerate(files):
        f.write_text(f"file {i}")
    cache = HashCache.for_dir(tmp_path)
    first = [cache.digest(f) for f in files]
    assert cache.hashed == 3
    cache.save()

    reloaded = HashCache.for_dir(tmp_path)  # from .stages/hashes.json
    assert [reloaded.digest(f) for f in files] == first and reloaded.hashed == 0
    touch(files[0])
    assert reloaded.digest(files[0]) == first[0] and reloaded.hashed == 1
    assert reloaded.digest(files[0]) == first[0] and reloaded.hashed == 1  # recorded
    files[1].write_text("file 1, edited")
    assert reloaded.digest(files[1]) != first[1] and reloaded.hashed == 2
    reloaded.save()
    assert HashCache.for_dir(tmp_path).identity(files[0]).mtime_ns == os.stat(files[0]).st_mtime_ns


def test_a_set_of_files_has_one_digest_wherever_it_lies(tmp_path):
    a = tmp_path / "a"
    (a / "sub").mkdir(parents=True)
    (a / "x.txt").write_text("x")
    (a / "sub" / "y.txt").write_text("y")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    cache = HashCache()

    def digest(root):
        return digest_files([root / "x.txt", root / "sub" / "y.txt"], cache, root)

    assert digest(a) == digest(b)
    (b / "sub" / "y.txt").write_text("z")
    assert digest(a) != digest(b)
    missing = digest_files([a / "x.txt", a / "gone.txt"], cache, a)
    assert missing != digest_files([a / "x.txt"], cache, a)
    assert cache.digest(a / "gone.txt").startswith("missing")


def test_a_changed_image_repacks_its_shard_a_touched_one_does_not(tmp_path):
    survey = tmp_path / "survey"
    entries = make_entries(survey, 6)
    plans = plan_shards({"train": entries}, 3)
    out, members = tmp_path / "packed", members_for(entries)
    cache = HashCache.for_dir(survey)
    results = [pack_shard(p, out, survey, SETTINGS, members, FEATURES, cache) for p in plans]
    assert not any(r.skipped for r in results)
    write_index(out, results)
    cache.save()
    before = split_fingerprint(out, "train")

    cache = HashCache.for_dir(survey)
    for entry in entries[:3]:
        touch(survey / entry.path)
    results = [pack_shard(p, out, survey, SETTINGS, members, FEATURES, cache) for p in plans]
    assert [r.skipped for r in results] == [True, True] and cache.hashed == 3
    write_index(out, results)
    assert split_fingerprint(out, "train") == before

    box = tuple(int(v) for v in entries[4].boxes[0])
    Image.fromarray(box_image(32, box, seed=99)).save(survey / entries[4].path)  # re-rendered
    results = [pack_shard(p, out, survey, SETTINGS, members, FEATURES, cache) for p in plans]
    assert [r.skipped for r in results] == [True, False]
    write_index(out, results)
    assert split_fingerprint(out, "train") != before
    split = PackedSplit(out, "train")
    with Image.open(survey / entries[4].path) as img:
        assert (split.item(4).image == img.convert("RGB")).all()


def test_a_corrupt_image_once_fixed_is_packed(tmp_path):
    survey = tmp_path / "survey"
    entries = make_entries(survey, 4)
    good = (survey / entries[2].path).read_bytes()
    (survey / entries[2].path).write_bytes(good[: len(good) // 3])  # truncated download
    plan = plan_shards({"train": entries}, 4)[0]
    out, members = tmp_path / "packed", members_for(entries)
    first = pack_shard(plan, out, survey, SETTINGS, members, FEATURES, HashCache.for_dir(survey))
    assert first.n_images == 3 and len(first.excluded) == 1
    again = pack_shard(plan, out, survey, SETTINGS, members, FEATURES, HashCache.for_dir(survey))
    assert again.skipped and again.n_images == 3  # still corrupt: nothing to redo

    (survey / entries[2].path).write_bytes(good)  # downloaded again
    fixed = pack_shard(plan, out, survey, SETTINGS, members, FEATURES, HashCache.for_dir(survey))
    assert not fixed.skipped and fixed.n_images == 4 and fixed.excluded == []


def test_a_run_knows_its_training_shards_wherever_they_are_staged(tmp_path):
    survey = make_packed_survey(tmp_path / "one")
    other = make_packed_survey(tmp_path / "two", n_train=16)
    run = tmp_path / "run"
    run.mkdir()
    assert inference_record.trained_on(run, survey / "packed") is None  # nothing recorded
    inference_record.write(run, {"train_shards": split_fingerprint(survey / "packed", "train")})
    staged = tmp_path / "scratch" / "survey"
    shutil.copytree(survey, staged)
    assert inference_record.trained_on(run, staged / "packed")
    assert not inference_record.trained_on(run, other / "packed")


def test_a_survey_repacked_where_it_was_staged_keeps_its_fingerprints(tmp_path):
    """Absolute image paths (as `prep boxes` writes them) do not enter the fingerprint."""
    original = tmp_path / "original"
    entries = make_entries(original, 6)
    staged = tmp_path / "scratch" / "copy"
    shutil.copytree(original, staged)
    members = members_for(entries)
    for root in (original, staged):
        absolute = [dataclasses.replace(e, path=str((root / e.path).resolve())) for e in entries]
        results = [
            pack_shard(plan, root / "packed", root, SETTINGS, members, FEATURES)
            for plan in plan_shards({"train": absolute}, 4)
        ]
        write_index(root / "packed", results)
    assert split_fingerprint(staged / "packed", "train") == split_fingerprint(
        original / "packed", "train"
    )
    edited = staged / entries[0].path
    Image.fromarray(box_image(32, (1, 1, 9, 9), seed=99)).save(edited)
    absolute = [dataclasses.replace(e, path=str((staged / e.path).resolve())) for e in entries]
    results = [
        pack_shard(plan, staged / "packed", staged, SETTINGS, members, FEATURES)
        for plan in plan_shards({"train": absolute}, 4)
    ]
    write_index(staged / "packed", results)
    assert split_fingerprint(staged / "packed", "train") != split_fingerprint(
        original / "packed", "train"
    )


def test_a_threshold_is_used_only_with_the_weights_it_was_chosen_for(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    weights = run / "final.weights.h5"
    weights.write_bytes(b"first weights")
    inference_record.start(run, {"input_size": 64})
    assert inference_record.threshold_for(run, weights) is None
    inference_record.record_threshold(run, 0.42, weights)
    assert inference_record.threshold_for(run, weights) == 0.42
    inference_record.start(run, {"input_size": 64})  # retrained, same inputs
    weights.write_bytes(b"other weights")
    assert inference_record.threshold_for(run, weights) is None
    prefix = run / "checkpoints" / "ckpt-7"  # a TensorFlow checkpoint: files under a prefix
    prefix.parent.mkdir()
    (run / "checkpoints" / "ckpt-7.index").write_bytes(b"index")
    (run / "checkpoints" / "ckpt-7.data-00000-of-00001").write_bytes(b"data")
    inference_record.record_threshold(run, 0.3, str(prefix))
    assert inference_record.threshold_for(run, str(prefix)) == 0.3
    (run / "checkpoints" / "ckpt-7.data-00000-of-00001").write_bytes(b"changed")
    assert inference_record.threshold_for(run, str(prefix)) is None
