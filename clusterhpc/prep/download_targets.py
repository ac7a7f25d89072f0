"""The cutouts `prep download` fetches: a user's position table, or every cluster of
`catalog.fits` (`<prep.boxes.image_dir>/<ID>.jpeg`) plus the empty fields `prep empty` chose
(`<prep.empty.image_dir>/<NAME>.jpeg`, with position sidecars)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from astropy.table import Table

from clusterhpc.config import Config
from clusterhpc.errors import DataError
from clusterhpc.io.cutouts import Cutouts, cluster_cutouts, read_cutout_table
from clusterhpc.io.redmapper import read_clusters
from clusterhpc.paths import prep_dir, survey_dir, survey_path
from clusterhpc.skyserver.imgcutout import CutoutRequest


def _requests(cutouts: Cutouts, folder: Path, sidecar: np.ndarray) -> list[CutoutRequest]:
    return [
        CutoutRequest(
            folder / str(cutouts.file[i]),
            float(cutouts.ra[i]),
            float(cutouts.dec[i]),
            float(cutouts.scale[i]),
            int(cutouts.size[i]),
            bool(sidecar[i]),
        )
        for i in range(len(cutouts))
    ]


def empty_field_cutouts(path: Path, scale: float, size: int) -> Cutouts:
    """`empty_fields.fits` (NAME, RA, DEC) as cutouts named `<NAME>.jpeg`."""
    if not path.exists():
        raise DataError(
            f"{path}: no empty-field list (run `clusterhpc prep empty` first, or set "
            "download.empty=false)"
        )
    table = Table.read(path)
    n = len(table)
    return Cutouts(
        file=np.array([f"{name}.jpeg" for name in table["NAME"]]),
        ra=np.asarray(table["RA"], np.float64),
        dec=np.asarray(table["DEC"], np.float64),
        scale=np.full(n, float(scale)),
        size=np.full(n, int(size), dtype=np.int64),
        central_id=np.full(n, -1, dtype=np.int64),
    )


def download_requests(cfg: Config) -> list[CutoutRequest]:
    """Every cutout of the configured list, in a fixed order (the same on every process);
    two rows for one file are an error."""
    found = _listed(cfg)
    counts = Counter(str(r.path) for r in found)
    if len(counts) != len(found):
        twice = sorted(p for p, n in counts.items() if n > 1)
        raise DataError(
            f"the download list names {len(twice)} file(s) twice: {', '.join(twice[:5])}"
        )
    return found


def _listed(cfg: Config) -> list[CutoutRequest]:
    prep, opts = cfg.prep, cfg.download
    if opts.positions:
        table = read_cutout_table(survey_path(cfg, opts.positions), prep.scale, prep.size)
        return _requests(table, survey_dir(cfg), table.central_id < 0)
    clusters = cluster_cutouts(
        read_clusters(survey_dir(cfg) / "catalog.fits"), prep.scale, prep.size
    )
    found = _requests(
        clusters, survey_path(cfg, prep.boxes.image_dir), np.zeros(len(clusters), bool)
    )
    if opts.empty:
        empty = empty_field_cutouts(prep_dir(cfg) / "empty_fields.fits", prep.scale, prep.size)
        found += _requests(empty, survey_path(cfg, prep.empty.image_dir), np.ones(len(empty), bool))
    return found
