"""Match an external cluster catalogue to redMaPPer on the sky and in redshift.

Candidates are the redMaPPer clusters within `radius_arcmin` (astropy `search_around_sky`);
where both redshifts are known, a candidate must also have |z_ext − z_λ| / (1 + z_ext) at most
`dz`. Each external cluster takes its nearest candidate, and each redMaPPer cluster keeps
only its nearest external cluster (one-to-one; the others stay unmatched).
"""

from __future__ import annotations

from dataclasses import dataclass

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord, search_around_sky

from clusterhpc.io.external import ExternalClusters
from clusterhpc.io.redmapper import Clusters


@dataclass(frozen=True)
class Matches:
    """Pairs (row in the external catalogue, row in redMaPPer) with their separation (arcmin)
    and Δz/(1+z) (NaN where a redshift is unknown), in external-row order."""

    external: np.ndarray
    redmapper: np.ndarray
    sep_arcmin: np.ndarray
    dz: np.ndarray

    def __len__(self) -> int:
        return self.external.size


def cross_match(
    ext: ExternalClusters, clusters: Clusters, radius_arcmin: float, dz: float
) -> Matches:
    """The one-to-one matches of `ext` to `clusters` (see the module docstring)."""
    empty = Matches(*(np.zeros(0, int),) * 2, *(np.zeros(0),) * 2)
    if len(ext) == 0 or len(clusters) == 0:
        return empty
    a = SkyCoord(ext.ra * u.deg, ext.dec * u.deg)
    b = SkyCoord(clusters.ra * u.deg, clusters.dec * u.deg)
    i, j, sep, _ = search_around_sky(a, b, radius_arcmin * u.arcmin)
    sep = sep.to_value(u.arcmin)
    offset = (clusters.z[j] - ext.z[i]) / (1.0 + ext.z[i])
    keep = ~(np.abs(offset) > dz)  # NaN (unknown z) passes
    i, j, sep, offset = i[keep], j[keep], sep[keep], offset[keep]
    order = np.lexsort((j, sep, i))  # per external row, nearest first (ties: lower row)
    i, j, sep, offset = i[order], j[order], sep[order], offset[order]
    first = np.concatenate([[True], i[1:] != i[:-1]]) if i.size else np.zeros(0, bool)
    i, j, sep, offset = i[first], j[first], sep[first], offset[first]
    order = np.lexsort((i, sep, j))  # per redMaPPer row, nearest external first
    i, j, sep, offset = i[order], j[order], sep[order], offset[order]
    first = np.concatenate([[True], j[1:] != j[:-1]]) if j.size else np.zeros(0, bool)
    i, j, sep, offset = i[first], j[first], sep[first], offset[first]
    order = np.argsort(i, kind="stable")
    return Matches(i[order], j[order], sep[order], offset[order])
