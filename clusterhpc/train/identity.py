"""What a training run is: the config values its checkpoints depend on.

Checkpoints are only resumed by the run that wrote them. `checkpoints/identity.json` holds
the flattened config sections that shape the weights (survey, prep, model, training); when a
rerun's values differ (say `train.augment_shift` changed), the old checkpoints are moved to
`checkpoints.stale-N/` and training starts afresh, naming the keys that changed
(`train.resume: must` refuses instead). Settings that only steer the bookkeeping
(`resume`, `keep_checkpoints`, `checkpoint_every`, `log_every`, `validate`,
`max_valid_steps`) are left out, so a requeued or re-logged run still resumes.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from clusterhpc.config import Config, ConfigError
from clusterhpc.io.atomic import atomic_write_text
from clusterhpc.log import get_logger

log = get_logger("train")
IDENTITY_NAME = "identity.json"
SECTIONS = ("seed", "data", "simulate", "prep", "model", "train")
BOOKKEEPING = {
    "train.resume",
    "train.keep_checkpoints",
    "train.checkpoint_every",
    "train.log_every",
    "train.validate",
    "train.max_valid_steps",
}


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, sub in value.items():
            out.update(_flatten(sub, f"{prefix}.{key}"))
        return out
    return {prefix: value}


def run_identity(cfg: Config) -> dict[str, Any]:
    """Flattened `section.key` -> value of everything the trained weights depend on."""
    values: dict[str, Any] = {}
    for section in SECTIONS:
        node = getattr(cfg, section)
        node = dataclasses.asdict(node) if dataclasses.is_dataclass(node) else node
        values.update(_flatten(node, section))
    return {k: v for k, v in values.items() if k not in BOOKKEEPING}


def changed_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Keys added, removed or with another value."""
    missing = object()
    return sorted(k for k in old.keys() | new.keys() if old.get(k, missing) != new.get(k, missing))


def claim_checkpoints(directory: Path, identity: dict[str, Any], resume: str, act: bool) -> None:
    """Make `directory` hold only checkpoints of this run (before restoring).

    Every rank checks (so all refuse together with resume=must); the rank with `act` moves
    checkpoints of another configuration aside and records this run's identity. Checkpoints
    written before identities existed are resumed with a warning."""
    directory = Path(directory)
    identity = json.loads(json.dumps(identity, default=str))  # as it reads back from disk
    path = directory / IDENTITY_NAME
    has_checkpoints = (directory / "checkpoint").exists()
    changed = []
    if has_checkpoints and path.exists():
        changed = changed_keys(json.loads(path.read_text()), identity)
    shown = ", ".join(changed[:8]) + (" ..." if len(changed) > 8 else "")
    if changed and resume == "must":
        raise ConfigError(
            f"train.resume=must but the checkpoints in {directory} were made with other "
            f"values of: {shown}"
        )
    if not act:
        return
    if changed:
        stale = _free_name(directory)
        directory.rename(stale)
        log.warning(
            "checkpoints in %s come from another configuration (changed: %s); moved to %s, "
            "training from scratch",
            directory,
            shown,
            stale,
        )
    elif has_checkpoints and not path.exists():
        log.warning(
            "%s has no %s: resuming without checking its configuration", directory, IDENTITY_NAME
        )
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(identity, indent=1, sort_keys=True))


def _free_name(directory: Path) -> Path:
    n = 1
    while (candidate := directory.with_name(f"{directory.name}.stale-{n}")).exists():
        n += 1
    return candidate
