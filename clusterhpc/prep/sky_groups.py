"""Groups of cutouts that share sky: connected components of overlapping footprints.

A footprint is the TAN (gnomonic) square of side `size·scale` centred on (RA, Dec), north up,
as `clusterhpc.sky.projection` draws cutouts. The gnomonic projection maps great circles to
straight lines, so a footprint's edges are great-circle arcs and, seen in another footprint's
tangent plane, it is again a convex quadrilateral: two footprints share sky exactly when these
two convex polygons of one plane have a common interior (separating-axis test; footprints
that only touch along an edge do not overlap). Candidate pairs come from a KD-tree on unit
vectors within the sum of the circumscribed radii, so no all-pairs array is ever built and
RA 0/360 and the poles need no special case.
"""

from __future__ import annotations

import healpy as hp
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from clusterhpc.sky.geometry import ARCSEC, angle_to_chord, separation, unit_vectors
from clusterhpc.sky.projection import from_tan_pixels, sky_offsets

_UNIT_SQUARE = (np.array([0.0, 1.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0, 1.0]))


def circumradius(side_arcsec: np.ndarray) -> np.ndarray:
    """Angle (radians) from a footprint's centre to its corners: atan(side/√2)."""
    return np.arctan(np.asarray(side_arcsec, dtype=np.float64) * ARCSEC / np.sqrt(2.0))


def footprint_corners(
    ra: np.ndarray, dec: np.ndarray, side_arcsec: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(n, 4) RA and Dec (degrees) of the corners of each footprint, in polygon order."""
    ra, dec, side = (np.asarray(v, dtype=np.float64)[:, None] for v in (ra, dec, side_arcsec))
    return from_tan_pixels(ra, dec, *_UNIT_SQUARE, side, 1)


def squares_overlap(
    ra_a: np.ndarray,
    dec_a: np.ndarray,
    side_a: np.ndarray,
    ra_b: np.ndarray,
    dec_b: np.ndarray,
    side_b: np.ndarray,
) -> np.ndarray:
    """Whether footprint a[i] and footprint b[i] share sky (element-wise, exact).

    Pairs whose centres are further apart than the sum of the circumradii are apart. For the
    others, B's corners are projected on A's tangent plane, where A is the square
    |ξ|, |η| < side/2; the pair is apart when an axis of A or an edge normal of B separates
    the two polygons. A corner of B more than 90° from A's centre cannot be projected: such
    a pair counts as overlapping (only footprints of tens of degrees get there).
    """
    far = separation(ra_a, dec_a, ra_b, dec_b) >= circumradius(side_a) + circumradius(side_b)
    cra, cdec = footprint_corners(ra_b, dec_b, side_b)
    xi, eta = sky_offsets(np.asarray(ra_a)[:, None], np.asarray(dec_a)[:, None], cra, cdec)
    poly_b = np.stack([xi, eta], axis=-1)  # (m, 4, 2)
    half = np.asarray(side_a, dtype=np.float64)[:, None] * ARCSEC / 2.0
    square = np.stack([half * np.array([-1, 1, 1, -1]), half * np.array([-1, -1, 1, 1])], -1)
    with np.errstate(invalid="ignore"):
        apart = far.copy()
        for axis in (0, 1):
            apart |= (poly_b[..., axis].max(1) <= -half[:, 0]) | (
                poly_b[..., axis].min(1) >= half[:, 0]
            )
        edges = np.roll(poly_b, -1, axis=1) - poly_b
        normals = np.stack([-edges[..., 1], edges[..., 0]], axis=-1)  # (m, 4, 2)
        on_b = np.einsum("mkd,mjd->mkj", normals, poly_b)  # corners of B on each normal
        on_a = np.einsum("mkd,mjd->mkj", normals, square)
        apart |= ((on_b.max(2) <= on_a.min(2)) | (on_a.max(2) <= on_b.min(2))).any(1)
    return ~apart


def overlapping_pairs(ra: np.ndarray, dec: np.ndarray, side_arcsec: np.ndarray) -> np.ndarray:
    """(m, 2) index pairs i < j of footprints that share sky."""
    ra, dec = np.asarray(ra, dtype=np.float64), np.asarray(dec, dtype=np.float64)
    side = np.broadcast_to(np.asarray(side_arcsec, dtype=np.float64), ra.shape)
    if ra.size < 2:
        return np.zeros((0, 2), dtype=np.int64)
    radius = circumradius(side)
    tree = cKDTree(unit_vectors(ra, dec))
    pairs = tree.query_pairs(float(angle_to_chord(2.0 * radius.max())), output_type="ndarray")
    i, j = pairs.T
    return pairs[squares_overlap(ra[i], dec[i], side[i], ra[j], dec[j], side[j])].astype(np.int64)


def same_value_links(values: np.ndarray) -> np.ndarray:
    """(m, 2) index pairs chaining together the items that share a value."""
    order = np.argsort(values, kind="stable")
    same = values[order][1:] == values[order][:-1]
    return np.column_stack([order[:-1][same], order[1:][same]]).astype(np.int64)


def sky_groups(
    ra: np.ndarray,
    dec: np.ndarray,
    side_arcsec: np.ndarray,
    links: np.ndarray | None = None,
    nside: int = 0,
) -> np.ndarray:
    """Group label (0..G-1) of each footprint: connected components of sky overlap.

    `links` adds (m, 2) pairs that must share a group (e.g. cutouts showing the same cluster);
    `nside` > 0 also joins the footprints whose centres fall in one HEALPix cell of that nside.
    """
    n = np.asarray(ra).size
    edges = [overlapping_pairs(ra, dec, side_arcsec)]
    if links is not None:
        edges.append(np.asarray(links, dtype=np.int64).reshape(-1, 2))
    if nside:
        if not hp.isnsideok(nside, nest=True):
            raise ValueError(f"nside = {nside}: expected a power of 2")
        edges.append(same_value_links(hp.ang2pix(nside, ra, dec, lonlat=True)))
    pairs = np.concatenate(edges)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1].astype(np.int64)
