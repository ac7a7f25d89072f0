"""Sweep files for tests, and the overrides that make a training job take seconds."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import ROOT

# a tiny detector trained for two steps on tests.train.fixtures.make_packed_survey
TINY = {
    "model.backbone": "tiny",
    "model.width": 0.25,
    "model.input_size": 64,
    "model.max_boxes": 4,
    "train.epochs": 1,
    "train.batch_size": 4,
    "train.max_steps_per_epoch": 2,
    "train.validate": False,
}


def write_sweep(tmp_path: Path, **fields) -> Path:
    """A sweep over configs/tiny.yaml writing under tmp_path/sweeps/s."""
    data = {
        "base": str(ROOT / "configs" / "tiny.yaml"),
        "out": str(tmp_path / "sweeps"),
        "name": "s",
        **fields,
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
