"""What each `clusterhpc run` stage reads, reduced to one content digest per stage.

Files are identified by content (`io.content`: size + mtime_ns, confirmed by a hash); packed
splits by their shards' fingerprints, which already cover the images they were packed from.
The pipeline adds the digest to each stage stamp, so re-rendered images, new prep tables or
new weights rerun the stages that read them, while touched but unchanged files do not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from clusterhpc.config import Config
from clusterhpc.data.packed import split_fingerprint
from clusterhpc.errors import DataError
from clusterhpc.io.content import HashCache, digest_files
from clusterhpc.io.set_shards import split_fingerprint as sets_fingerprint
from clusterhpc.models import inference_record
from clusterhpc.paths import (
    anchors_path,
    packed_dir,
    prep_dir,
    run_dir,
    sets_dir,
    survey_dir,
    survey_path,
)
from clusterhpc.prep.split import SPLITS


def _catalogues(cfg: Config) -> list[Path]:
    return [survey_dir(cfg) / "catalog.fits", survey_dir(cfg) / "members.fits"]


def _folder(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else []


def _weights(cfg: Config) -> list[Path]:
    run = run_dir(cfg)
    return [run / "final.weights.h5", run / "checkpoints" / "checkpoint"]


def _splits(cfg: Config, names: tuple[str, ...] = SPLITS) -> dict[str, str | None]:
    """The fingerprints of the splits the run's family reads: member sets or packed cutouts."""
    if cfg.model.kind in ("sets", "mlp"):
        return {f"sets.{name}": sets_fingerprint(sets_dir(cfg), name) for name in names}
    return {f"packed.{name}": split_fingerprint(packed_dir(cfg), name) for name in names}


def _sets(cfg: Config) -> tuple[list[Path], dict]:
    from clusterhpc.prep.sets_stage import input_files

    try:
        return input_files(cfg), {}
    except DataError as exc:
        return [], {"inputs": f"unreadable: {exc}"}


def _boxes(cfg: Config) -> tuple[list[Path], dict]:
    """Catalogues, the cutout table and the empty fields (their sky positions join groups)."""
    table = [survey_path(cfg, cfg.prep.boxes.cutouts)] if cfg.prep.boxes.cutouts else []
    empty = _folder(survey_path(cfg, cfg.prep.empty.image_dir))
    return [*_catalogues(cfg), *table, *empty], {}


def _empty(cfg: Config) -> tuple[list[Path], dict]:
    footprint = survey_path(cfg, cfg.prep.empty.footprint or "footprint.fits")
    images = _folder(survey_path(cfg, cfg.prep.empty.image_dir))
    return [survey_dir(cfg) / "catalog.fits", footprint, *images], {}


def _pack(cfg: Config) -> tuple[list[Path], dict]:
    """The prep tables, label files and every image the pack stage would read."""
    from clusterhpc.prep.pack import source_path
    from clusterhpc.prep.pack_sources import entries_from_label_files, entries_from_prep

    prep = prep_dir(cfg)
    labels = [Path(p) for p in cfg.prep.pack.labels.values()]
    tables = [prep / "boxes.fits", prep / "valid_empty.txt", *_catalogues(cfg), *labels]
    try:
        entries = entries_from_label_files(cfg) if labels else entries_from_prep(cfg)
    except (DataError, OSError) as exc:
        return tables, {"entries": f"unreadable: {exc}"}
    images = [source_path(e, survey_dir(cfg)) for es in entries.values() for e in es]
    return [*tables, *images], {}


def _train(cfg: Config) -> tuple[list[Path], dict]:
    anchors = [anchors_path(cfg)] if cfg.model.kind == "yolo" else []
    return anchors, _splits(cfg, ("train", "valid"))


def _evaluate(cfg: Config) -> tuple[list[Path], dict]:
    """Weights, the run's inference record (anchors) and the truth catalogue (sky figures)."""
    record = run_dir(cfg) / inference_record.NAME
    return [*_weights(cfg), record, survey_dir(cfg) / "catalog.fits"], _splits(cfg)


def _detect(cfg: Config) -> tuple[list[Path], dict]:
    return [*_weights(cfg), run_dir(cfg) / inference_record.NAME], _splits(cfg, ("test",))


INPUTS: dict[str, Callable[[Config], tuple[list[Path], dict]]] = {
    "prep boxes": _boxes,
    "prep empty": _empty,
    "prep pack": _pack,
    "prep sets": _sets,
    "prep anchors": lambda cfg: ([], _splits(cfg, ("train",))),
    "train": _train,
    "evaluate": _evaluate,
    "detect": _detect,
}


def inputs_digest(cfg: Config, stage: str, root: Path) -> str:
    """Digest of the stage's input files (names relative to `root`, whose hash cache is used
    and updated) and packed splits; the same for every stage without inputs."""
    files, splits = INPUTS.get(stage, lambda cfg: ([], {}))(cfg)
    cache = HashCache.for_dir(root)
    values = {"files": digest_files(files, cache, root), **splits}
    cache.save()
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()
