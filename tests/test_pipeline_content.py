"""`clusterhpc run` stamps by content: re-rendered images repack and retrain, touched ones don't."""

from __future__ import annotations

import os

import h5py
import pytest

from clusterhpc.config import load_config
from clusterhpc.data.packed import read_index
from clusterhpc.io.content import HashCache, hash_file
from clusterhpc.pipeline import STAGES, is_done, stages_for
from clusterhpc.pipeline import main as run_pipeline
from clusterhpc.simulate.stage import main as simulate
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
FAST = ["train.epochs=1", "evaluate.gallery=0", "prep.empty.n=20"]


def shard_fingerprints(packed) -> dict[str, str]:
    out = {}
    for split in read_index(packed)["splits"].values():
        for shard in split["shards"]:
            with h5py.File(packed / shard["file"], "r") as h5:
                out[shard["file"]] = str(h5.attrs["fingerprint"])
    return out


def images(data) -> list:
    return sorted(p for d in ("cutouts", "empty") for p in (data / d).iterdir() if p.is_file())


def stage(name):
    return next(s for s in STAGES if s.name == name)


def test_rerendered_images_repack_and_retrain_touched_ones_do_not(tmp_path):
    data, run = tmp_path / "data", tmp_path / "run"
    where = [f"data.root={data}", f"run.dir={run}", *FAST]
    tiny = ROOT / "configs" / "tiny.yaml"
    cfg = load_config(tiny, where)
    assert run_pipeline(cfg) == 0
    packed = data / "packed"
    first = shard_fingerprints(packed)
    weights = hash_file(run / "final.weights.h5")
    outputs = [run / "final.weights.h5", run / "metrics.json", run / "detections.fits"]
    written = {p: os.stat(p).st_mtime_ns for p in [*outputs, *packed.glob("*.h5")]}
    old_pixels = {p.name: p.read_bytes() for p in (data / "cutouts").iterdir()}

    for path in images(data):  # new mtime, same bytes
        stat = os.stat(path)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**10))
    cache = HashCache.for_dir(data)
    assert [cache.digest(p) for p in images(data)] and cache.hashed == len(images(data))
    cache.save()  # what the pack stamp would hash, once
    assert all(is_done(cfg, s) for s in stages_for("yolo"))
    assert run_pipeline(cfg) == 0
    assert {p: os.stat(p).st_mtime_ns for p in written} == written  # nothing redone
    again = HashCache.for_dir(data)
    assert [again.digest(p) for p in images(data)] and again.hashed == 0

    # re-render the images with another PSF behind the pipeline's back: the config of the run
    # is unchanged, only the pixels differ, and that alone must repack, retrain and re-score
    psf = load_config(tiny, [*where, "simulate.imaging.psf_fwhm=3.0"])
    assert simulate(psf) == 0
    assert is_done(cfg, stage("simulate")) and not is_done(cfg, stage("prep pack"))
    assert run_pipeline(cfg) == 0
    second = shard_fingerprints(packed)
    assert second.keys() == first.keys()
    assert all(second[name] != first[name] for name in first)  # every shard repacked
    assert (run / "stale-1" / "checkpoints").is_dir()  # the old weights were set aside,
    assert hash_file(run / "final.weights.h5") != weights  # and training started afresh
    assert all(os.stat(p).st_mtime_ns != written[p] for p in outputs)  # re-scored

    # the same config, other pixels: what reads the images is out of date, the rest is not
    name = sorted(old_pixels)[0]
    (data / "cutouts" / name).write_bytes(old_pixels[name])
    assert not is_done(cfg, stage("prep pack"))
    assert is_done(cfg, stage("prep boxes")) and is_done(cfg, stage("evaluate"))
