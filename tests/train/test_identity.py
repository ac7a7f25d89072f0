"""Checkpoints are resumed only by the configuration that wrote them."""

from __future__ import annotations

import json

import pytest

from clusterhpc.config import ConfigError, load_config
from clusterhpc.train.identity import IDENTITY_NAME, changed_keys, claim_checkpoints, run_identity
from clusterhpc.train.stage import main as train_main
from tests.train.fixtures import ROOT, make_packed_survey, train_config

BASE = {"train.epochs": 3, "model.width": 0.25, "seed": 1}


def fake_checkpoints(directory, identity):
    directory.mkdir()
    (directory / "checkpoint").write_text('model_checkpoint_path: "ckpt-9"\n')
    (directory / IDENTITY_NAME).write_text(json.dumps(identity))


def test_changed_keys_sees_new_removed_and_different_values():
    assert changed_keys(BASE, dict(BASE)) == []
    new = {"train.epochs": 4, "model.width": 0.25, "prep.size": 256}
    assert changed_keys(BASE, new) == ["prep.size", "seed", "train.epochs"]
    assert changed_keys({"a": None}, {}) == ["a"]


def test_identity_leaves_out_bookkeeping_but_keeps_what_shapes_the_weights():
    cfg = load_config(ROOT / "configs" / "tiny.yaml")
    same = load_config(ROOT / "configs" / "tiny.yaml", ["train.log_every=7", "train.resume=never"])
    other = load_config(ROOT / "configs" / "tiny.yaml", ["train.augment_shift=0.1"])
    assert changed_keys(run_identity(cfg), run_identity(same)) == []
    assert changed_keys(run_identity(cfg), run_identity(other)) == ["train.augment_shift"]
    assert "run.dir" not in run_identity(cfg)


def test_same_identity_keeps_the_checkpoints(tmp_path):
    fake_checkpoints(tmp_path / "checkpoints", BASE)
    claim_checkpoints(tmp_path / "checkpoints", BASE, "auto", act=True)
    assert (tmp_path / "checkpoints" / "checkpoint").exists()
    assert not list(tmp_path.glob("checkpoints.stale-*"))


def test_other_identity_moves_checkpoints_aside(tmp_path, caplog):
    fake_checkpoints(tmp_path / "checkpoints", BASE)
    fake_checkpoints(tmp_path / "checkpoints.stale-1", {})
    new = {**BASE, "train.epochs": 5}
    claim_checkpoints(tmp_path / "checkpoints", new, "auto", act=True)
    assert (tmp_path / "checkpoints.stale-2" / "checkpoint").exists()
    assert not (tmp_path / "checkpoints" / "checkpoint").exists()
    assert json.loads((tmp_path / "checkpoints" / IDENTITY_NAME).read_text()) == new
    assert "changed: train.epochs" in caplog.text


def test_other_identity_is_refused_with_resume_must(tmp_path):
    fake_checkpoints(tmp_path / "checkpoints", BASE)
    with pytest.raises(ConfigError, match=r"other values of: model\.width"):
        claim_checkpoints(tmp_path / "checkpoints", {**BASE, "model.width": 0.5}, "must", False)
    assert (tmp_path / "checkpoints" / "checkpoint").exists()


def test_non_acting_rank_only_checks(tmp_path):
    fake_checkpoints(tmp_path / "checkpoints", BASE)
    claim_checkpoints(tmp_path / "checkpoints", {**BASE, "seed": 2}, "auto", act=False)
    assert (tmp_path / "checkpoints" / "checkpoint").exists()


def test_rerun_with_a_changed_setting_trains_afresh(tmp_path):
    survey = make_packed_survey(tmp_path / "survey")
    run = tmp_path / "run"
    assert train_main(train_config(survey, run, "train.epochs=1")) == 0
    first = json.loads((run / "train_summary.json").read_text())
    # Same configuration, other log cadence: resumes the finished run (no new steps).
    assert train_main(train_config(survey, run, "train.epochs=1", "train.log_every=3")) == 0
    assert (
        json.loads((run / "train_summary.json").read_text())["global_step"] == first["global_step"]
    )
    # Two epochs now: a different run, trained from step 0 to two epochs' worth.
    assert train_main(train_config(survey, run, "train.epochs=2")) == 0
    second = json.loads((run / "train_summary.json").read_text())
    assert second["global_step"] == 2 * first["global_step"]
    assert (run / "checkpoints.stale-1" / "checkpoint").exists()
    steps = [json.loads(x) for x in (run / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in steps if r["kind"] == "step"][:2] == [1, 2]
