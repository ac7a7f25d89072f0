"""Where each stage reads and writes, derived from the config in one place."""

from __future__ import annotations

from pathlib import Path

from clusterhpc.config import Config


def survey_dir(cfg: Config) -> Path:
    return Path(cfg.data.root)


def survey_path(cfg: Config, name: str) -> Path:
    """A path from the config: absolute as given, relative ones under `data.root`."""
    path = Path(name)
    return path if path.is_absolute() else survey_dir(cfg) / path


def prep_dir(cfg: Config) -> Path:
    return Path(cfg.prep.out) if cfg.prep.out else survey_dir(cfg) / "prep"


def packed_dir(cfg: Config) -> Path:
    """`data.packed` when set (e.g. a node-local copy staged for training), else
    `<data.root>/packed`."""
    return Path(cfg.data.packed) if cfg.data.packed else survey_dir(cfg) / "packed"


def trained_packed_dir(train_cfg: Config) -> Path:
    """Where a trained run's own shards are read again after training (evaluate, detect): its
    `data.packed` while that still holds a packed index, else `<data.root>/packed` (a node-local
    copy staged for training is gone once the job ends, or lies on another node)."""
    packed = packed_dir(train_cfg)
    return packed if (packed / "index.json").exists() else survey_dir(train_cfg) / "packed"


def sets_dir(cfg: Config) -> Path:
    """Member-set shards of `prep sets`."""
    return Path(cfg.prep.sets.out) if cfg.prep.sets.out else survey_dir(cfg) / "sets"


def anchors_path(cfg: Config) -> Path:
    return Path(cfg.model.anchors) if cfg.model.anchors else prep_dir(cfg) / "anchors.txt"


def run_dir(cfg: Config) -> Path:
    return Path(cfg.run.dir)
