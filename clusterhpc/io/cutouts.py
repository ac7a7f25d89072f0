"""Cutout geometry: one image per cluster by default, or a table of cutout centres."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table

from clusterhpc.errors import DataError
from clusterhpc.io.redmapper import Clusters


@dataclass(frozen=True)
class Cutouts:
    """Per-image file name, centre (degrees), pixel scale (″/px), size (px), central cluster ID
    (-1 when the image is not centred on a catalogue cluster)."""

    file: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    scale: np.ndarray
    size: np.ndarray
    central_id: np.ndarray

    def __len__(self) -> int:
        return self.ra.size


def cluster_cutouts(clusters: Clusters, scale: float, size: int) -> Cutouts:
    """One cutout `<ID>.jpeg` centred on each cluster (the seed's layout)."""
    n = len(clusters)
    return Cutouts(
        file=np.array([f"{i}.jpeg" for i in clusters.id]),
        ra=clusters.ra,
        dec=clusters.dec,
        scale=np.full(n, float(scale)),
        size=np.full(n, int(size), dtype=np.int64),
        central_id=clusters.id.copy(),
    )


def read_cutout_table(path: str | Path, scale: float, size: int) -> Cutouts:
    """A cutout table (FITS, ECSV or CSV; column names in any case): FILE (or NAME, for the
    file NAME.jpeg), RA, DEC, optional ID (central cluster), SCALE, SIZE.

    The one place that knows these column names; missing optional columns take the config
    values (`scale`, `size`) and ID -1.
    """
    try:
        table = Table.read(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the cutout table ({exc})") from exc
    table.rename_columns(table.colnames, [name.upper() for name in table.colnames])
    if "FILE" not in table.colnames and "NAME" in table.colnames:
        table["FILE"] = [f"{name}.jpeg" for name in table["NAME"]]
    missing = [c for c in ("FILE", "RA", "DEC") if c not in table.colnames]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} (have {table.colnames})")
    n = len(table)

    def column(name: str, default: float, dtype: type) -> np.ndarray:
        return (
            np.asarray(table[name], dtype) if name in table.colnames else np.full(n, default, dtype)
        )

    ra, dec = column("RA", 0.0, np.float64), column("DEC", 0.0, np.float64)
    if not (np.all(np.isfinite(ra)) and np.all(np.abs(dec) <= 90)):
        raise DataError(f"{path}: RA/DEC must be finite with |DEC| <= 90")
    return Cutouts(
        file=np.asarray(table["FILE"], dtype=str),
        ra=ra,
        dec=dec,
        scale=column("SCALE", scale, np.float64),
        size=column("SIZE", size, np.int64),
        central_id=column("ID", -1, np.int64),
    )
