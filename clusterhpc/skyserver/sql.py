"""SkyServer SQL search: box queries around clusters, and the CSV replies read back.

A box is a range of RA and Dec (degrees). Around a cluster the RA range is widened by 1/cos δ
at the box edge farther from the equator, so the box is at least `2 * half` wide at every
declination it spans; a box across RA 0/360 is two ranges, and one reaching a pole covers
every RA. One request asks for the OR of the boxes of a batch of clusters; the rows come back
as a table (SkyServer's `format=csv`: a `#Table1` line, a header, the rows) and are assigned
to each cluster whose box holds them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import Table, vstack

from clusterhpc.errors import DataError


@dataclass(frozen=True)
class Box:
    ra_min: float
    ra_max: float
    dec_min: float
    dec_max: float

    def sql(self) -> str:
        return (
            f"(ra BETWEEN {self.ra_min:.8f} AND {self.ra_max:.8f} AND "
            f"dec BETWEEN {self.dec_min:.8f} AND {self.dec_max:.8f})"
        )

    def holds(self, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
        return (
            (ra >= self.ra_min)
            & (ra <= self.ra_max)
            & (dec >= self.dec_min)
            & (dec <= self.dec_max)
        )


def boxes_around(ra: float, dec: float, half_deg: float) -> list[Box]:
    """The RA/Dec ranges of the box of half side `half_deg` centred on (ra, dec)."""
    dec_min, dec_max = max(dec - half_deg, -90.0), min(dec + half_deg, 90.0)
    widest = max(abs(dec_min), abs(dec_max))
    if widest >= 90.0 or half_deg / np.cos(np.radians(widest)) >= 180.0:
        return [Box(0.0, 360.0, dec_min, dec_max)]
    half_ra = half_deg / np.cos(np.radians(widest))
    lo, hi = ra - half_ra, ra + half_ra
    if lo < 0.0:
        return [Box(0.0, hi, dec_min, dec_max), Box(lo + 360.0, 360.0, dec_min, dec_max)]
    if hi > 360.0:
        return [Box(lo, 360.0, dec_min, dec_max), Box(0.0, hi - 360.0, dec_min, dec_max)]
    return [Box(lo, hi, dec_min, dec_max)]


def box_query(table: str, columns: list[str], where: str, boxes: list[Box]) -> str:
    """SELECT the columns (objID, ra, dec first) of `table` rows inside any of `boxes`."""
    wanted = ["objID", "ra", "dec"] + [c for c in columns if c not in ("objID", "ra", "dec")]
    inside = " OR ".join(box.sql() for box in boxes)
    condition = f"({where}) AND ({inside})" if where.strip() else f"({inside})"
    return f"SELECT {', '.join(wanted)} FROM {table} WHERE {condition}"


def parse_csv_reply(text: str, source: str) -> Table:
    """The table of a `format=csv` reply; anything else (an error page) is a DataError."""
    lines = text.lstrip().splitlines()
    if not lines or not lines[0].startswith("#Table"):
        first = lines[0][:200] if lines else "(empty reply)"
        raise DataError(f"{source}: not a SkyServer CSV table: {first}")
    if len(lines) < 3:
        names = lines[1].split(",") if len(lines) > 1 else ["objID", "ra", "dec"]
        return Table(names=names, dtype=[np.int64 if n == "objID" else np.float64 for n in names])
    return Table.read(lines[1:], format="ascii.csv")


def assign_to_clusters(rows: Table, ids: np.ndarray, boxes: list[list[Box]]) -> Table:
    """Rows inside each cluster's boxes, with its CLUSTER_ID (a galaxy in two boxes twice)."""
    ra, dec = np.asarray(rows["ra"], float), np.asarray(rows["dec"], float)
    parts = []
    for cluster, own in zip(ids, boxes, strict=True):
        inside = np.zeros(len(rows), bool)
        for box in own:
            inside |= box.holds(ra, dec)
        part = rows[inside]
        part.add_column(np.full(len(part), int(cluster), np.int64), name="CLUSTER_ID", index=0)
        parts.append(part)
    filled = [part for part in parts if len(part)]
    return vstack(filled) if filled else parts[0] if parts else rows[:0]
