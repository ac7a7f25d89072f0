"""`<run.dir>/inference.json`: what inference needs from a run besides its config and weights.

`train` writes it afresh (rank 0, before the first step): the input size, the pixel
normalisation, the anchors (fractions of the input side) and the fingerprint of the packed
training shards (`data.packed.split_fingerprint`); `evaluate` adds the score threshold it
chose on validation images, bound to a digest of the weights it was chosen for (a retrained
run's weights do not inherit it). `evaluate` and `detect` read it rather than the survey's
`prep/anchors.txt`, so a run works from its directory and the packed shards alone, wherever
the data are staged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clusterhpc.errors import DataError
from clusterhpc.io.atomic import atomic_write_text
from clusterhpc.io.content import HashCache, digest_files, hash_file
from clusterhpc.log import get_logger

log = get_logger("inference")

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
    """Record a (re)started training's values; the record is rewritten (dropping a threshold)
    only when they changed. A threshold kept here is still used only with the weights it
    was chosen for (`threshold_for`)."""
    old = read(run)
    stored = json.loads(json.dumps(values))
    if {key: old.get(key) for key in stored} != stored:
        write(run, stored)


def weights_digest(weights: str | Path) -> str:
    """Content digest of a weights file, or of a TensorFlow checkpoint's files (a prefix)."""
    path = Path(weights)
    if path.is_file():
        return hash_file(path)
    parts = sorted(path.parent.glob(path.name + ".*"))
    if not parts:
        raise DataError(f"{weights}: no weights file and no checkpoint files with that prefix")
    return digest_files(parts, HashCache(), path.parent)


def record_threshold(run: Path, threshold: float, weights: str | Path) -> None:
    """Store the score threshold chosen on validation images for these weights."""
    write(run, {**read(run), "score_threshold": threshold, "weights": weights_digest(weights)})


def threshold_for(run: Path, weights: str | Path) -> float | None:
    """The recorded threshold when it was chosen for these weights, else None."""
    record = read(run)
    if "score_threshold" not in record:
        return None
    if record.get("weights") != weights_digest(weights):
        log.warning(
            "%s: the recorded score threshold was chosen for other weights than %s: "
            "not used (rerun `clusterhpc evaluate`)",
            Path(run) / NAME,
            weights,
        )
        return None
    return float(record["score_threshold"])


def trained_on(run: Path, packed: Path) -> bool | None:
    """Whether the packed directory holds the run's training shards, by their fingerprints
    (data copied elsewhere is the same survey); None when the run recorded none."""
    from clusterhpc.data.packed import split_fingerprint

    recorded = read(run).get("train_shards")
    if recorded is None:
        return None
    return split_fingerprint(packed, "train") == recorded
