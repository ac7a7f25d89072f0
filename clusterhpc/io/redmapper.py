"""redMaPPer catalogue and member files (DR8 column names), read and checked.

Real and simulated files drop in unchanged. Required columns, dtypes, finite coordinates and
unique cluster IDs are checked; every problem is a `DataError` naming the file, the column and
the first bad row (0-based). Members are matched to clusters by ID, never by row position:
`group_members` builds sorted offsets and counts (and reports) members whose ID matches no
cluster instead of dropping them silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from clusterhpc.errors import DataError

CLUSTER_COLUMNS = ("ID", "RA", "DEC", "Z_LAMBDA", "LAMBDA")
MEMBER_COLUMNS = ("ID", "RA", "DEC")


def read_columns(path: str | Path, columns: tuple[str, ...], hdu: int = 1) -> dict[str, np.ndarray]:
    """Native-endian copies of `columns` from a FITS table (float64; columns named *ID must be
    integers and stay int64)."""
    try:
        with fits.open(path, memmap=True) as hdul:
            if len(hdul) <= hdu or not isinstance(hdul[hdu], fits.BinTableHDU):
                raise DataError(f"{path}: HDU {hdu} is not a binary table")
            data = hdul[hdu].data
            names = [n.upper() for n in data.columns.names]
            out = {}
            for col in columns:
                if col not in names:
                    raise DataError(
                        f"{path}: HDU {hdu} has no column '{col}' "
                        f"(required: {', '.join(columns)}; found: {', '.join(names)})"
                    )
                values = np.asarray(data[data.columns.names[names.index(col)]])
                if values.ndim != 1 or values.dtype.kind not in "iuf":
                    raise DataError(
                        f"{path}: column '{col}' has dtype {values.dtype.name} shape "
                        f"{values.shape[1:]}: expected a numeric scalar column"
                    )
                identifier = col.endswith("ID")  # ID, OBJID, CLUSTER_ID: exact integers
                if identifier and values.dtype.kind not in "iu":
                    raise DataError(
                        f"{path}: column '{col}' has dtype {values.dtype.name}: expected integers"
                    )
                out[col] = values.astype(np.int64 if identifier else np.float64)
    except OSError as exc:
        raise DataError(f"{path}: cannot read FITS file ({exc})") from exc
    return out


def column_names(path: str | Path, hdu: int = 1) -> list[str]:
    """Upper-case column names of a FITS table HDU."""
    try:
        with fits.open(path, memmap=True) as hdul:
            if len(hdul) <= hdu or not isinstance(hdul[hdu], fits.BinTableHDU):
                raise DataError(f"{path}: HDU {hdu} is not a binary table")
            return [n.upper() for n in hdul[hdu].columns.names]
    except OSError as exc:
        raise DataError(f"{path}: cannot read FITS file ({exc})") from exc


def read_optional_columns(
    path: str | Path, required: tuple[str, ...], optional: tuple[str, ...], hdu: int = 1
) -> dict[str, np.ndarray]:
    """`read_columns` of the required columns and of those optional ones the file has."""
    present = set(column_names(path, hdu))
    return read_columns(path, required + tuple(c for c in optional if c.upper() in present), hdu)


def _check_coordinates(path: str | Path, ra: np.ndarray, dec: np.ndarray) -> None:
    for name, values, lo, hi in (("RA", ra, -360.0, 360.0), ("DEC", dec, -90.0, 90.0)):
        bad = ~(np.isfinite(values) & (values >= lo) & (values <= hi))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{path}: column '{name}' row {row} (0-based) = {values[row]!r}: expected a finite "
                f"value in [{lo:g}, {hi:g}] degrees ({int(bad.sum())} bad rows)"
            )


@dataclass(frozen=True)
class Clusters:
    """Cluster catalogue columns used by the stages (one entry per row of catalog.fits)."""

    path: str
    id: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    z: np.ndarray  # Z_LAMBDA
    lam: np.ndarray  # LAMBDA

    def __len__(self) -> int:
        return self.id.size


@dataclass(frozen=True)
class Members:
    """Member-galaxy columns used by the stages; `p` is None when P was not requested."""

    path: str
    id: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    p: np.ndarray | None = None

    def __len__(self) -> int:
        return self.id.size

    def select(self, keep: np.ndarray) -> Members:
        p = None if self.p is None else self.p[keep]
        return Members(self.path, self.id[keep], self.ra[keep], self.dec[keep], p)


def read_clusters(path: str | Path) -> Clusters:
    """catalog.fits HDU 1 -> Clusters; missing columns, bad coordinates, duplicate IDs fail."""
    cols = read_columns(path, CLUSTER_COLUMNS)
    _check_coordinates(path, cols["RA"], cols["DEC"])
    ids = cols["ID"]
    uniq, counts = np.unique(ids, return_counts=True)
    if uniq.size != ids.size:
        dup = int(uniq[np.argmax(counts > 1)])
        raise DataError(
            f"{path}: column 'ID' value {dup} appears more than once: IDs must be unique"
        )
    return Clusters(str(path), ids, cols["RA"], cols["DEC"], cols["Z_LAMBDA"], cols["LAMBDA"])


def read_members(path: str | Path, with_p: bool = False) -> Members:
    """members.fits HDU 1 -> Members (with the P column when `with_p`)."""
    cols = read_columns(path, MEMBER_COLUMNS + (("P",) if with_p else ()))
    _check_coordinates(path, cols["RA"], cols["DEC"])
    if with_p and not np.all(np.isfinite(cols["P"])):
        row = int(np.flatnonzero(~np.isfinite(cols["P"]))[0])
        raise DataError(f"{path}: column 'P' row {row} (0-based) is not finite")
    return Members(str(path), cols["ID"], cols["RA"], cols["DEC"], cols.get("P"))


@dataclass(frozen=True)
class MemberGroups:
    """Members grouped by parent cluster: rows `order[start[i] : start[i] + count[i]]` of the
    members table belong to cluster row i. Members whose ID matches no cluster are counted."""

    order: np.ndarray
    start: np.ndarray
    count: np.ndarray
    n_orphans: int
    orphan_ids: np.ndarray

    def rows(self, cluster_row: int) -> np.ndarray:
        s = self.start[cluster_row]
        return self.order[s : s + self.count[cluster_row]]


def group_members(clusters: Clusters, members: Members) -> MemberGroups:
    """Sorted-offset group index of members by cluster row, matched by ID (O(M log M))."""
    order = np.argsort(members.id, kind="stable")
    uniq, first, counts = np.unique(members.id[order], return_index=True, return_counts=True)
    by_id = np.argsort(clusters.id)
    sorted_ids = clusters.id[by_id]
    pos = np.minimum(np.searchsorted(sorted_ids, uniq), max(sorted_ids.size - 1, 0))
    matched = sorted_ids[pos] == uniq if sorted_ids.size else np.zeros(uniq.size, bool)
    start = np.zeros(len(clusters), dtype=np.int64)
    count = np.zeros(len(clusters), dtype=np.int64)
    rows = by_id[pos[matched]]
    start[rows] = first[matched]
    count[rows] = counts[matched]
    return MemberGroups(
        order=order,
        start=start,
        count=count,
        n_orphans=int(counts[~matched].sum()),
        orphan_ids=uniq[~matched],
    )
