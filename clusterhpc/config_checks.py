"""Checks of the values `clusterhpc run` will use, made before its first stage starts.

The typed config already checks types and bounds key by key; these are the checks across
keys or on formats (input size a multiple of the largest stride, split fractions, ordered
edges, HEALPix nside, Slurm wall time, writable output directories, real input files). Every
problem found is reported at once in one ConfigError (the CLI exits with 2), naming the key.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import healpy as hp

from clusterhpc.config import Config
from clusterhpc.hpc.slurm import time_minutes
from clusterhpc.models.cnn import STRIDE as CNN_STRIDE
from clusterhpc.models.sets import MAX_EXACT_TUPLES
from clusterhpc.models.yolo import STRIDES
from clusterhpc.paths import anchors_path, packed_dir, prep_dir, run_dir, survey_dir
from clusterhpc.prep.sky_split import check_split_nside
from clusterhpc.prep.split import SPLITS, fraction_problem
from clusterhpc.simulate.stage import check_settings
from clusterhpc.typed_dict import ConfigError


def _increasing(key: str, values: Sequence[float], at_least: int = 2) -> Iterator[str]:
    if len(values) < at_least:
        yield f"{key} = {list(values)}: expected at least {at_least} values"
    elif any(b <= a for a, b in itertools.pairwise(values)):
        yield f"{key} = {list(values)}: expected strictly increasing values"


def _sets_model(cfg: Config) -> Iterator[str]:
    """The catalogue models: their targets, tuples and the sets they read."""
    m, sets = cfg.model, cfg.model.sets
    if not sets.targets or len(set(sets.targets)) < len(sets.targets):
        yield f"model.sets.targets = {sets.targets}: expected one or more distinct targets"
    if not sets.features and not sets.use_p:
        yield "model.sets.features = []: expected at least one feature group"
    if "detect" in sets.targets and cfg.prep.sets.negatives <= 0:
        yield (
            "model.sets.targets has detect but prep.sets.negatives = 0: set detection needs "
            "non-member sets (and prep.sets.galaxies or a simulated survey with "
            "simulate.galaxies.write true)"
        )
    tuples = sets.max_members**sets.k
    if m.kind == "sets" and m.pooling == "janossy" and tuples > MAX_EXACT_TUPLES:
        yield (
            f"model.pooling = janossy with model.sets.k = {sets.k} and max_members = "
            f"{sets.max_members}: {tuples} tuples per set (at most {MAX_EXACT_TUPLES}); "
            "use pi_sgd"
        )
    problem = fraction_problem(cfg.prep.sets.split)
    if problem:
        yield f"prep.sets.split = {cfg.prep.sets.split}: {problem}"


def _model(cfg: Config) -> Iterator[str]:
    m = cfg.model
    if m.kind in ("sets", "mlp"):
        yield from _sets_model(cfg)
        return
    stride = CNN_STRIDE if m.kind == "cnn" else max(STRIDES)
    if m.input_size % stride:
        yield f"model.input_size = {m.input_size}: expected a multiple of {stride}"
    if m.head == "class":
        yield from _increasing("model.class_edges", m.class_edges)
    if m.head == "regression" and (not m.regression or len(set(m.regression)) < len(m.regression)):
        yield f"model.regression = {m.regression}: expected one or more distinct targets"


def _prep(cfg: Config) -> Iterator[str]:
    if cfg.model.kind in ("sets", "mlp"):  # prep sets only: checked with the model
        return
    split = cfg.prep.boxes.split
    problem = fraction_problem(split)
    if problem:
        yield f"prep.boxes.split = {split}: {problem}"
    elif split[0] <= 0 or split[1] <= 0:
        yield f"prep.boxes.split = {split}: expected train and valid fractions above 0"
    try:
        check_split_nside(cfg)
    except ConfigError as exc:
        yield str(exc)
    empty = cfg.prep.empty
    if empty.min_sep_arcmin > empty.max_sep_arcmin:
        yield (
            f"prep.empty.min_sep_arcmin = {empty.min_sep_arcmin}: expected at most "
            f"prep.empty.max_sep_arcmin = {empty.max_sep_arcmin}"
        )
    unknown = sorted(set(cfg.prep.pack.labels) - set(SPLITS))
    if unknown:
        yield f"prep.pack.labels: split(s) {unknown}: expected keys among {list(SPLITS)}"
    pack = cfg.prep.pack
    if pack.encoding == "jpeg" and pack.compression != "none":
        yield (
            f"prep.pack.compression = {pack.compression} with encoding jpeg: JPEG bytes do not "
            "compress further; set compression none"
        )


def _simulate(cfg: Config) -> Iterator[str]:
    if not cfg.data.simulated:
        return
    fp = cfg.simulate.footprint
    if not hp.isnsideok(fp.nside, nest=True):
        yield f"simulate.footprint.nside = {fp.nside}: expected a power of 2"
    if fp.kind == "rect":
        yield from _increasing("simulate.footprint.ra", fp.ra)
        yield from _increasing("simulate.footprint.dec", fp.dec)
    try:
        check_settings(cfg.simulate)
    except ConfigError as exc:
        yield str(exc)


def _evaluate(cfg: Config) -> Iterator[str]:
    ev = cfg.evaluate
    if ev.score_min >= ev.score_max:
        yield (
            f"evaluate.score_min = {ev.score_min}: expected below "
            f"evaluate.score_max = {ev.score_max}"
        )
    for key in ("select_z", "z_bins", "lambda_bins", "mass_bins"):
        yield from _increasing(f"evaluate.{key}", getattr(ev, key))
    if len(ev.select_z) != 2:
        yield f"evaluate.select_z = {ev.select_z}: expected 2 values (z_min, z_max)"
    if cfg.train.lr_end > cfg.train.lr_init:
        yield (
            f"train.lr_end = {cfg.train.lr_end}: expected at most "
            f"train.lr_init = {cfg.train.lr_init}"
        )


def _resources(cfg: Config) -> Iterator[str]:
    try:
        time_minutes(cfg.resources.time)
    except ConfigError as exc:
        yield f"resources.{exc}"


def unwritable(path: Path) -> str | None:
    """Why `path` cannot be made a writable directory, or None when it can."""
    probe = path.absolute()
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is a file, not a directory"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable"
    return None


def _outputs(cfg: Config) -> Iterator[str]:
    places = {
        "data.root": survey_dir(cfg),  # stage stamps and packed shards live there
        "prep.out": prep_dir(cfg),
        "data.packed" if cfg.data.packed else "data.root (packed/)": packed_dir(cfg),
        "model.anchors": anchors_path(cfg).parent,
        "run.dir": run_dir(cfg),
    }
    if cfg.evaluate.out:
        places["evaluate.out"] = Path(cfg.evaluate.out)
    for key, path in places.items():
        why = unwritable(path)
        if why:
            yield f"{key}: {path}: cannot write there ({why})"


def _inputs(cfg: Config) -> Iterator[str]:
    if cfg.data.simulated:
        return
    for name in ("catalog.fits", "members.fits"):
        if not (survey_dir(cfg) / name).is_file():
            yield f"data.root = {cfg.data.root!r}: no {name} (data.simulated is false)"


CHECKS = (_model, _prep, _simulate, _evaluate, _resources, _outputs, _inputs)


def problems(cfg: Config) -> list[str]:
    """Every problem found, one line each naming the key."""
    return [line for check in CHECKS for line in check(cfg)]


def check_run_config(cfg: Config) -> None:
    """ConfigError listing every problem, before any stage of `clusterhpc run` starts."""
    found = problems(cfg)
    if found:
        raise ConfigError(
            f"{len(found)} config value(s) would fail a stage:\n  " + "\n  ".join(found)
        )
