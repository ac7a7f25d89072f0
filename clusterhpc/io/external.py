"""External cluster catalogues (Planck PSZ2 union, MCXC, COMPRASS) as one type, read and checked.

Each layout names the file's columns: an identifier, the position (degrees, J2000), the
redshift (negative or NaN = unknown), and a mass with its errors in 1e14 M☉ (MSZ for PSZ2,
M500 for MCXC and COMPRASS; zero or NaN = unknown). Column names match in any case. Every
problem is a `DataError` naming the file and the column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from astropy.table import Table

from clusterhpc.errors import DataError

ExternalKind = Literal["psz2", "mcxc", "comprass"]


@dataclass(frozen=True)
class Layout:
    """Column names of one catalogue, alternatives in order of preference (none: absent)."""

    ident: tuple[str, ...]
    ra: tuple[str, ...]
    dec: tuple[str, ...]
    z: tuple[str, ...]
    mass: tuple[str, ...]
    mass_err_low: tuple[str, ...]
    mass_err_up: tuple[str, ...]


LAYOUTS: dict[str, Layout] = {
    # HFI_PCCS_SZ-union_R2.08.fits: Planck 2015 XXVII, PSZ2 union (1653 detections)
    "psz2": Layout(("NAME", "INDEX"), ("RA",), ("DEC",), ("REDSHIFT",), ("MSZ",),
                   ("MSZ_ERR_LOW",), ("MSZ_ERR_UP",)),
    # MCXC (Piffaretti et al. 2011, VizieR J/A+A/534/A109): M500 without errors
    "mcxc": Layout(("MCXC", "NAME"), ("RADEG", "RA"), ("DEDEG", "DEC"), ("Z", "REDSHIFT"),
                   ("M500",), (), ()),
    # COMPRASS (Tarrío et al. 2019): Planck + RASS clusters, matched to redMaPPer by NAME
    "comprass": Layout(("NAME", "INDEX"), ("RAJ2000", "RA"), ("DEJ2000", "DEC"),
                       ("Z", "REDSHIFT"), ("M500",), ("M500_ERR_LOW",), ("M500_ERR_UPP",)),
}  # fmt: skip


@dataclass(frozen=True)
class ExternalClusters:
    """Rows of an external catalogue: `ident` (text), ra, dec, z (NaN = unknown), mass and its
    lower/upper errors in 1e14 M☉ (NaN = unknown), and which catalogue it came from."""

    kind: str
    path: str
    ident: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    z: np.ndarray
    mass: np.ndarray
    mass_err_low: np.ndarray
    mass_err_up: np.ndarray

    def __len__(self) -> int:
        return self.ra.size


def _column(table: Table, path: Path, names: tuple[str, ...], required: bool) -> np.ndarray | None:
    for name in names:
        if name in table.colnames:
            column = table[name]
            if getattr(column, "mask", None) is not None and np.any(column.mask):
                kind = np.asarray(column).dtype.kind
                return np.ma.filled(column, np.nan if kind in "iuf" else "").astype(
                    np.float64 if kind in "iuf" else str
                )
            return np.asarray(column)
    if required:
        raise DataError(
            f"{path}: no column {' or '.join(names)} (found: {', '.join(table.colnames)})"
        )
    return None


def _numeric(values: np.ndarray | None, path: Path, names: tuple[str, ...], n: int) -> np.ndarray:
    if values is None:
        return np.full(n, np.nan)
    if values.ndim != 1 or values.dtype.kind not in "iuf":
        raise DataError(
            f"{path}: column {names[0]} has dtype {values.dtype.name}: expected numbers"
        )
    return values.astype(np.float64)


def read_external(path: str | Path, kind: ExternalKind) -> ExternalClusters:
    """One external catalogue (FITS, ECSV or CSV) in its published layout."""
    path = Path(path)
    if kind not in LAYOUTS:
        raise DataError(f"{path}: unknown catalogue kind {kind!r} (known: {', '.join(LAYOUTS)})")
    layout = LAYOUTS[kind]
    try:
        table = Table.read(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the {kind} catalogue ({exc})") from exc
    table.rename_columns(table.colnames, [name.upper() for name in table.colnames])
    n = len(table)
    ident = _column(table, path, layout.ident, required=True)
    ra = _numeric(_column(table, path, layout.ra, True), path, layout.ra, n)
    dec = _numeric(_column(table, path, layout.dec, True), path, layout.dec, n)
    for name, values, lo, hi in (("RA", ra, -360.0, 360.0), ("DEC", dec, -90.0, 90.0)):
        bad = ~(np.isfinite(values) & (values >= lo) & (values <= hi))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(f"{path}: {name} row {row} (0-based) = {values[row]!r} is not valid")
    z = _numeric(_column(table, path, layout.z, False), path, layout.z, n)
    mass, low, up = (
        _numeric(_column(table, path, names, False), path, names, n)
        for names in (layout.mass, layout.mass_err_low, layout.mass_err_up)
    )
    return ExternalClusters(
        kind=kind,
        path=str(path),
        ident=np.char.strip(np.asarray(ident).astype(str)),
        ra=ra % 360.0,
        dec=dec,
        z=np.where(z >= 0, z, np.nan),
        mass=np.where(mass > 0, mass, np.nan),
        mass_err_low=low,
        mass_err_up=up,
    )
