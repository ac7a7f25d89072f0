"""What a training run is: the values its checkpoints depend on.

Checkpoints are only resumed by the run that wrote them. `checkpoints/identity.json` holds the
seed, the flattened `model` and `train` sections, the task's inputs by content (for YOLO: the
fingerprints of the packed training shards and the anchor values, not their paths, so data
staged to another scratch directory still resumes) and the number of ranks. When a rerun's
identity differs (say `train.augment_shift` changed), the old checkpoints and the run files
they produced (`final.weights.h5`, `train_summary.json`, `train_log.jsonl`, `tensorboard/`)
are moved to `<run.dir>/stale-N/` and training starts afresh, naming the keys that changed
(`train.resume: must` refuses instead). Settings that only steer the bookkeeping are left
out, so a requeued or re-logged run still resumes.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from clusterhpc.config import Config
from clusterhpc.dotted_keys import dotted_items
from clusterhpc.io.atomic import atomic_write_text
from clusterhpc.log import get_logger

log = get_logger("train")
IDENTITY_NAME = "identity.json"
CHECKPOINTS = "checkpoints"
RUN_FILES = ("final.weights.h5", "train_summary.json", "train_log.jsonl", "tensorboard")
SECTIONS = ("seed", "model", "train")
LEFT_OUT = {
    "model.anchors",  # a path: the task reports the anchor values
    "train.resume",
    "train.keep_checkpoints",
    "train.checkpoint_every",
    "train.log_every",
    "train.validate",
    "train.max_valid_steps",
    "train.stall_timeout_s",
    "train.fusion_threshold_mb",  # how gradients are batched into all-reduces, not their values
    "train.cycle_time_ms",
    "train.augment_on",  # where the same pixel moves are computed, not what they are
}


def run_identity(cfg: Config) -> dict[str, Any]:
    """Flattened `section.key` -> value of the config settings that shape the weights."""
    nodes = (getattr(cfg, name) for name in SECTIONS)
    plain = (dataclasses.asdict(n) if dataclasses.is_dataclass(n) else n for n in nodes)
    values = dotted_items(dict(zip(SECTIONS, plain, strict=True)))
    return {k: v for k, v in values.items() if k not in LEFT_OUT}


def changed_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Keys added, removed or with another value."""
    missing = object()
    return sorted(k for k in old.keys() | new.keys() if old.get(k, missing) != new.get(k, missing))


def _as_stored(identity: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(identity, default=str))


def stale_keys(run_dir: Path, identity: dict[str, Any]) -> list[str]:
    """Keys on which the checkpoints in `run_dir` differ from `identity` ([] if none or same).

    Read-only: every rank may call it before rank 0 acts."""
    checkpoints = Path(run_dir) / CHECKPOINTS
    recorded = checkpoints / IDENTITY_NAME
    if not (checkpoints / "checkpoint").exists() or not recorded.exists():
        return []
    return changed_keys(json.loads(recorded.read_text()), _as_stored(identity))


def describe(changed: list[str]) -> str:
    return ", ".join(changed[:8]) + (" ..." if len(changed) > 8 else "")


def claim(run_dir: Path, identity: dict[str, Any], changed: list[str]) -> None:
    """Rank 0: set another configuration's checkpoints aside, then record this identity."""
    run_dir = Path(run_dir)
    checkpoints = run_dir / CHECKPOINTS
    if changed:
        stale = _free_name(run_dir)
        stale.mkdir(parents=True)
        for name in (CHECKPOINTS, *RUN_FILES):
            if (run_dir / name).exists():
                (run_dir / name).rename(stale / name)
        log.warning(
            "checkpoints in %s come from another configuration (changed: %s); moved with "
            "their run files to %s, training from scratch",
            checkpoints,
            describe(changed),
            stale,
        )
    elif (checkpoints / "checkpoint").exists() and not (checkpoints / IDENTITY_NAME).exists():
        log.warning("%s has no %s: resuming without checking it", checkpoints, IDENTITY_NAME)
    checkpoints.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_as_stored(identity), indent=1, sort_keys=True)
    atomic_write_text(checkpoints / IDENTITY_NAME, text)


def _free_name(run_dir: Path) -> Path:
    n = 1
    while (run_dir / f"stale-{n}").exists():
        n += 1
    return run_dir / f"stale-{n}"
