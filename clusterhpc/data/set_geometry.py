"""Where a member set sits on the sky: its reference point and tangent-plane offsets.

The reference point of a set is the normalised mean of its galaxies' unit vectors (the member
mean, no weights): it is what the centre target and its "member mean" baseline are measured
from, and it never uses the catalogue or true centre, so nothing leaks the centre target.
Offsets are gnomonic (ξ east, η north) in arcmin, exact at any RA and declination.
"""

from __future__ import annotations

import numpy as np

from clusterhpc.sky.geometry import ARCMIN, unit_vectors, vectors_to_radec
from clusterhpc.sky.projection import sky_offsets


def segment_sum(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Sums of `values` rows over the ragged segments offsets[i]:offsets[i+1] (empty: 0)."""
    values = np.asarray(values)
    cumulative = np.concatenate([np.zeros((1, *values.shape[1:])), np.cumsum(values, axis=0)])
    return cumulative[offsets[1:]] - cumulative[offsets[:-1]]


def mean_directions(vectors: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(n, 3) normalised mean unit vector of each segment (NaN for an empty one)."""
    total = segment_sum(vectors, offsets)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / np.linalg.norm(total, axis=1, keepdims=True)


def reference_positions(
    ra: np.ndarray, dec: np.ndarray, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """RA, Dec (degrees) of each set's member mean, from its galaxies' RA, Dec."""
    return vectors_to_radec(mean_directions(unit_vectors(ra, dec), offsets))


def offsets_arcmin(
    ra0: np.ndarray, dec0: np.ndarray, ra: np.ndarray, dec: np.ndarray
) -> np.ndarray:
    """(..., 2) gnomonic offsets (east, north) in arcmin of (ra, dec) from (ra0, dec0)."""
    xi, eta = sky_offsets(ra0, dec0, ra, dec)
    return np.stack([xi, eta], axis=-1) / ARCMIN
