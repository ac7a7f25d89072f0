"""Where each stage reads and writes, derived from the config in one place."""

from __future__ import annotations

from pathlib import Path

from clusterhpc.config import Config


def survey_dir(cfg: Config) -> Path:
    return Path(cfg.data.root)


def prep_dir(cfg: Config) -> Path:
    return Path(cfg.prep.out) if cfg.prep.out else survey_dir(cfg) / "prep"


def packed_dir(cfg: Config) -> Path:
    return survey_dir(cfg) / "packed"


def anchors_path(cfg: Config) -> Path:
    return Path(cfg.model.anchors) if cfg.model.anchors else prep_dir(cfg) / "anchors.txt"


def run_dir(cfg: Config) -> Path:
    return Path(cfg.run.dir)
