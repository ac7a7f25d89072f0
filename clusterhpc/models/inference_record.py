"""`<run.dir>/inference.json`: what inference needs from a run besides its config and weights.

`train` writes it afresh (rank 0, before the first step): the input size, the pixel
normalisation, the anchors (fractions of the input side) and the fingerprint of the packed
training shards (`data.packed.split_fingerprint`); `evaluate` adds the score threshold it
chose on validation images. `evaluate` and `detect` read it rather than the survey's
`prep/anchors.txt`, so a run works from its directory and the packed shards alone, wherever
the data are staged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clusterhpc.errors import DataError
from clusterhpc.io.atomic import atomic_write_text

NAME = "inference.json"
NORMALISATION = "uint8 RGB / 255, letterboxed to input_size"


def read(run: Path) -> dict[str, Any]:
    """The run's record, {} when it has none (a run trained before records existed)."""
    path = Path(run) / NAME
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise DataError(f"{path}: not a JSON inference record ({exc})") from exc


def write(run: Path, values: dict[str, Any]) -> None:
    atomic_write_text(Path(run) / NAME, json.dumps(values, indent=1, sort_keys=True))


def start(run: Path, values: dict[str, Any]) -> None:
    """Record a (re)started training's values; what `evaluate` added (the threshold) is kept
    only when they are unchanged, since other weights need their own threshold."""
    old = read(run)
    stored = json.loads(json.dumps(values))
    if {key: old.get(key) for key in stored} != stored:
        write(run, stored)


def update(run: Path, **values: Any) -> None:
    """Add or replace entries (say the chosen `score_threshold`) of an existing record."""
    write(run, {**read(run), **values})


def trained_on(run: Path, packed: Path) -> bool | None:
    """Whether the packed directory holds the run's training shards, by their fingerprints
    (data copied elsewhere is the same survey); None when the run recorded none."""
    from clusterhpc.data.packed import split_fingerprint

    recorded = read(run).get("train_shards")
    if recorded is None:
        return None
    return split_fingerprint(packed, "train") == recorded
