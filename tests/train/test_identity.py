"""Checkpoints are resumed only by the configuration that wrote them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clusterhpc.config import ConfigError, load_config
from clusterhpc.train.identity import (
    IDENTITY_NAME,
    changed_keys,
    claim,
    run_identity,
    stale_keys,
)
from clusterhpc.train.stage import main as train_main
from tests.train.cnn_fixtures import cnn_config, make_classifier_survey
from tests.train.fixtures import ROOT

BASE = {"train.epochs": 3, "model.width": 0.25, "seed": 1}


def fake_run(run, identity):
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "checkpoint").write_text('model_checkpoint_path: "ckpt-9"\n')
    (run / "checkpoints" / IDENTITY_NAME).write_text(json.dumps(identity))
    (run / "final.weights.h5").write_bytes(b"old weights")
    return run


def test_changed_keys_sees_new_removed_and_different_values():
    assert changed_keys(BASE, dict(BASE)) == []
    new = {"train.epochs": 4, "model.width": 0.25, "prep.size": 256}
    assert changed_keys(BASE, new) == ["prep.size", "seed", "train.epochs"]
    assert changed_keys({"a": None}, {}) == ["a"]


def test_identity_keeps_what_shapes_the_weights_and_leaves_out_paths_and_bookkeeping():
    def identity(*overrides):
        return run_identity(load_config(ROOT / "configs" / "tiny.yaml", list(overrides)))

    base = identity()
    same = identity(
        "train.log_every=7", "train.resume=never", "data.root=/scratch/elsewhere", "run.dir=/x"
    )
    assert changed_keys(base, same) == []
    assert changed_keys(base, identity("train.augment_shift=0.1")) == ["train.augment_shift"]
    assert changed_keys(base, identity("model.width=0.5")) == ["model.width"]


def test_same_identity_keeps_the_checkpoints(tmp_path):
    run = fake_run(tmp_path / "run", BASE)
    assert stale_keys(run, BASE) == []
    claim(run, BASE, [])
    assert (run / "checkpoints" / "checkpoint").exists()
    assert not list(run.glob("stale-*"))


def test_other_identity_moves_checkpoints_and_run_files_aside(tmp_path, caplog):
    run = fake_run(tmp_path / "run", BASE)
    (run / "stale-1").mkdir()
    new = {**BASE, "train.epochs": 5}
    changed = stale_keys(run, new)
    assert changed == ["train.epochs"]
    claim(run, new, changed)
    assert (run / "stale-2" / "checkpoints" / "checkpoint").exists()
    assert (run / "stale-2" / "final.weights.h5").read_bytes() == b"old weights"
    assert not (run / "final.weights.h5").exists()
    assert not (run / "checkpoints" / "checkpoint").exists()
    assert json.loads((run / "checkpoints" / IDENTITY_NAME).read_text()) == new
    assert "changed: train.epochs" in caplog.text


def test_no_checkpoints_means_nothing_is_stale(tmp_path):
    assert stale_keys(tmp_path / "run", BASE) == []
    claim(tmp_path / "run", BASE, [])
    assert json.loads((tmp_path / "run" / "checkpoints" / IDENTITY_NAME).read_text()) == BASE


def weights(run):
    import h5py

    out = {}
    with h5py.File(run / "final.weights.h5") as h5:
        h5.visititems(lambda n, o: out.__setitem__(n, o[()]) if hasattr(o, "shape") else None)
    return out


def test_rerun_with_a_changed_setting_trains_afresh(tmp_path):
    """On the classifier, the cheapest model family: the identity is the trainer's, not a
    family's."""
    survey = make_classifier_survey(tmp_path / "survey", {"train": 32, "valid": 16})
    run = tmp_path / "run"
    one_epoch = cnn_config(survey, run, "train.epochs=1")
    assert train_main(one_epoch) == 0
    # Same configuration, other log cadence: nothing is set aside.
    assert train_main(cnn_config(survey, run, "train.epochs=1", "train.log_every=3")) == 0
    assert not list(run.glob("stale-*"))
    # Two epochs: another run, so it must end with the weights of a fresh two-epoch run.
    assert train_main(cnn_config(survey, run, "train.epochs=2")) == 0
    assert (run / "stale-1" / "checkpoints" / "checkpoint").exists()
    fresh = tmp_path / "fresh"
    assert train_main(cnn_config(survey, fresh, "train.epochs=2")) == 0
    got, want = weights(run), weights(fresh)
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    # resume=must refuses checkpoints of another configuration
    with pytest.raises(ConfigError, match=r"other values of: train\.epochs"):
        train_main(cnn_config(survey, run, "train.epochs=3", "train.resume=must"))
