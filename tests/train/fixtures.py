"""A small packed detection set (bright rectangles on noise) and a config to train on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clusterhpc.config import Config, load_config
from clusterhpc.models.anchors import kmeans_anchors, write_anchors
from tests.data.fixtures import make_entries, pack

ROOT = Path(__file__).resolve().parents[2]


def make_packed_survey(
    directory: Path, n_train: int = 24, n_valid: int = 8, size: int = 64
) -> Path:
    entries = make_entries(directory / "survey", n_train + n_valid, size=size)
    pack(
        {"train": entries[:n_train], "valid": entries[n_train:]},
        directory / "survey",
        directory / "survey" / "packed",
        shard_size=8,
    )
    wh = np.concatenate([e.boxes[:, 2:] - e.boxes[:, :2] for e in entries]) / size
    anchors = np.concatenate([kmeans_anchors(wh, k=3, seed=0)[0] * f for f in (0.5, 1.0, 2.0)])
    write_anchors(directory / "survey" / "prep" / "anchors.txt", anchors, 1.0, len(wh))
    return directory / "survey"


YOLO_SETTINGS = (
    "model.backbone=tiny",
    "model.width=0.25",
    "model.input_size=64",
    "model.max_boxes=4",
    "train.epochs=2",
    "train.batch_size=4",
    "train.lr_init=0.003",
    "train.warmup_epochs=0.5",
    "train.log_every=1",
)


def config_overrides(survey: Path, run: Path, settings: tuple[str, ...], *extra: str) -> list[str]:
    """The command-line overrides of a test run: its data, its run directory, then settings."""
    return [f"data.root={survey}", f"run.dir={run}", *settings, *extra]


def train_config(survey: Path, run: Path, *overrides: str) -> Config:
    tiny = ROOT / "configs" / "tiny.yaml"
    return load_config(tiny, config_overrides(survey, run, YOLO_SETTINGS, *overrides))
