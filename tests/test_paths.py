"""`data.packed`: the packed shards may be read from elsewhere (a node-local staged copy) and
are still the same survey, by content, for evaluation and for the pipeline's stamps."""

from __future__ import annotations

import shutil
from pathlib import Path

from clusterhpc.config import load_config
from clusterhpc.data.packed import split_fingerprint
from clusterhpc.evaluate.protocol import same_survey
from clusterhpc.models import inference_record
from clusterhpc.paths import packed_dir, trained_packed_dir
from clusterhpc.pipeline import STAGES, _value, fingerprint
from tests.train.fixtures import make_packed_survey, train_config

TINY = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"


def test_packed_dir_follows_data_packed(tmp_path):
    cfg = load_config(TINY, [f"data.root={tmp_path / 'survey'}"])
    assert cfg.data.packed == ""
    assert packed_dir(cfg) == tmp_path / "survey" / "packed"
    staged = load_config(TINY, [f"data.root={tmp_path / 'survey'}", "data.packed=/scratch/p"])
    assert packed_dir(staged) == Path("/scratch/p")


def test_a_run_trained_on_a_staged_copy_is_evaluated_as_on_its_survey(tmp_path):
    """Trained on a node-local copy, evaluated on the shared survey: the same survey (valid
    tunes, test reports); once the copy is gone its own shards are read from the survey."""
    survey, run = make_packed_survey(tmp_path / "shared"), tmp_path / "run"
    staged = tmp_path / "node-scratch" / "job-1" / "packed"
    shutil.copytree(survey / "packed", staged)
    train_cfg = train_config(survey, run, f"data.packed={staged}")
    inference_record.write(run, {"train_shards": split_fingerprint(packed_dir(train_cfg), "train")})
    shared = train_config(survey, run)
    assert packed_dir(shared) != packed_dir(train_cfg)
    assert same_survey(train_cfg, shared)
    other = make_packed_survey(tmp_path / "other", n_train=16)
    assert not same_survey(train_cfg, train_config(other, run))

    assert trained_packed_dir(train_cfg) == staged
    shutil.rmtree(staged.parent)  # the job ended: its node-local copy is gone
    assert trained_packed_dir(train_cfg) == survey / "packed"
    assert trained_packed_dir(shared) == survey / "packed"


def test_where_the_shards_lie_reruns_no_stage(tmp_path):
    """Stage stamps hold the shards' content, not `data.packed`: a staged copy reruns
    nothing, and the stamps written before the key existed still hold."""
    survey, run = make_packed_survey(tmp_path / "shared"), tmp_path / "run"
    staged = tmp_path / "copy" / "packed"
    shutil.copytree(survey / "packed", staged)
    shared = train_config(survey, run)
    copied = train_config(survey, run, f"data.packed={staged}")
    for stage in STAGES:
        assert fingerprint(copied, stage) == fingerprint(shared, stage), stage.name
    assert _value(copied, "data") == {"root": str(survey), "simulated": True}  # as before
