"""Detections on cutouts -> sky positions, duplicate merging, the FITS catalogue.

Pixel convention as `clusterhpc.sky.projection`: the image spans [0, W] x [0, H], its centre
(W/2, H/2) is the cutout's RA/Dec, x grows to the west and y to the south; the inverse TAN
projection maps a box centre back to RA/Dec.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.table import Table
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from clusterhpc.io.atomic import atomic_path
from clusterhpc.sky.geometry import ARCMIN, angle_to_chord, unit_vectors
from clusterhpc.sky.projection import from_tan_pixels


def boxes_to_sky(
    boxes: np.ndarray, ra0: float, dec0: float, scale: float, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """RA, Dec (degrees) of the box centres and box width, height (arcmin)."""
    height, width = shape
    side = max(height, width)
    xc = (boxes[:, 0] + boxes[:, 2]) / 2 + (side - width) / 2
    yc = (boxes[:, 1] + boxes[:, 3]) / 2 + (side - height) / 2
    ra, dec = from_tan_pixels(ra0, dec0, xc, yc, scale, side)
    to_arcmin = scale / 60.0
    return ra, dec, (boxes[:, 2] - boxes[:, 0]) * to_arcmin, (boxes[:, 3] - boxes[:, 1]) * to_arcmin


def merge_groups(ra: np.ndarray, dec: np.ndarray, radius_arcmin: float) -> np.ndarray:
    """Friends-of-friends group label per detection: linked when closer than the radius."""
    n = len(ra)
    if n == 0:
        return np.zeros(0, int)
    if radius_arcmin <= 0:
        return np.arange(n)
    pairs = cKDTree(unit_vectors(ra, dec)).query_pairs(
        float(angle_to_chord(radius_arcmin * ARCMIN)), output_type="ndarray"
    )
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def merge_duplicates(table: Table, radius_arcmin: float) -> Table:
    """One row per group of detections within `radius_arcmin`: the best-scored one is kept,
    with N_MERGED (group size) and the group's score-weighted mean position."""
    groups = merge_groups(np.asarray(table["RA"]), np.asarray(table["DEC"]), radius_arcmin)
    if not len(table):
        out = table.copy()
        out["N_MERGED"] = np.zeros(0, int)
        return out
    order = np.lexsort((-np.asarray(table["SCORE"]), groups))
    first = order[np.r_[True, np.diff(groups[order]) != 0]]
    out = table[first]
    w = np.asarray(table["SCORE"], np.float64)
    vec = unit_vectors(np.asarray(table["RA"]), np.asarray(table["DEC"])) * w[:, None]
    summed = np.zeros((groups.max() + 1, 3))
    np.add.at(summed, groups, vec)
    mean = summed[groups[first]]
    out["RA"] = np.degrees(np.arctan2(mean[:, 1], mean[:, 0])) % 360.0
    out["DEC"] = np.degrees(np.arctan2(mean[:, 2], np.hypot(mean[:, 0], mean[:, 1])))
    out["N_MERGED"] = np.bincount(groups)[groups[first]]
    out.sort("SCORE", reverse=True)
    return out


UNITS = {
    "RA": u.deg,
    "DEC": u.deg,
    "WIDTH": u.arcmin,
    "HEIGHT": u.arcmin,
    "X": u.pix,
    "Y": u.pix,
}


def write_catalog(table: Table, path: Path, meta: dict) -> None:
    """Write the catalogue as a FITS binary table, atomically, with units and provenance."""
    for name, unit in UNITS.items():
        if name in table.colnames:
            table[name].unit = unit
    table.meta.update({k.upper()[:8]: v for k, v in meta.items()})
    with atomic_path(path) as tmp:
        table.write(tmp, format="fits", overwrite=True)
