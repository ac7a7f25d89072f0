"""Empty-field positions: uniform in the footprint, nearest cluster between two distances.

Candidates are drawn in chunks of fixed size, chunk k from its own stream
`SeedSequence(seed, spawn_key=(k,))`; accepted positions are taken in chunk order. Ranks share
the chunks of each round, so the chosen fields are the same for any number of ranks.
"""

from __future__ import annotations

from dataclasses import dataclass

import healpy as hp
import numpy as np
from scipy.spatial import cKDTree

from clusterhpc.errors import DataError
from clusterhpc.hpc.mpi import Comm
from clusterhpc.log import progress
from clusterhpc.sky.footprint import Footprint
from clusterhpc.sky.geometry import ARCMIN, chord_to_angle, unit_vectors
from clusterhpc.sky.projection import from_tan_pixels


@dataclass(frozen=True)
class EmptyRules:
    min_sep_arcmin: float = 20.0
    max_sep_arcmin: float = 300.0
    whole_cutout: bool = False  # all pixels touched by the cutout must be inside the footprint
    size: int = 2048
    scale: float = 0.396127


@dataclass(frozen=True)
class EmptyFields:
    ra: np.ndarray
    dec: np.ndarray
    nearest: np.ndarray  # row of the nearest cluster
    sep_arcmin: np.ndarray  # distance to it

    @classmethod
    def concat(cls, parts: list[EmptyFields]) -> EmptyFields:
        return cls(*(np.concatenate([getattr(p, k) for p in parts]) for k in cls.__annotations__))

    def head(self, n: int) -> EmptyFields:
        return EmptyFields(self.ra[:n], self.dec[:n], self.nearest[:n], self.sep_arcmin[:n])

    def __len__(self) -> int:
        return self.ra.size


def cutout_in_footprint(footprint: Footprint, ra: float, dec: float, rules: EmptyRules) -> bool:
    """True when every HEALPix pixel overlapping the (TAN) cutout square is inside."""
    corners = np.array([0, rules.size, rules.size, 0]), np.array([0, 0, rules.size, rules.size])
    cra, cdec = from_tan_pixels(ra, dec, *corners, rules.scale, rules.size)
    vertices = np.stack(hp.ang2vec(cra, cdec, lonlat=True), axis=0)
    pix = hp.query_polygon(footprint.nside, vertices, inclusive=True)
    return bool(footprint.mask[pix].all())


def accept(
    ra: np.ndarray, dec: np.ndarray, footprint: Footprint, tree: cKDTree, rules: EmptyRules
) -> tuple[np.ndarray, EmptyFields]:
    """Mask of the positions that qualify as empty fields, and those positions."""
    dist, nearest = tree.query(unit_vectors(ra, dec), k=1)
    sep = chord_to_angle(dist) / ARCMIN
    ok = footprint.contains(ra, dec) & (sep >= rules.min_sep_arcmin) & (sep <= rules.max_sep_arcmin)
    if rules.whole_cutout:
        for i in np.flatnonzero(ok):
            ok[i] = cutout_in_footprint(footprint, ra[i], dec[i], rules)
    return ok, EmptyFields(ra[ok], dec[ok], np.asarray(nearest)[ok].astype(np.int64), sep[ok])


def draw_chunk(
    k: int, seed: int, chunk: int, footprint: Footprint, tree: cKDTree, rules: EmptyRules
) -> EmptyFields:
    """Accepted positions among the `chunk` candidates of chunk k (vectorised)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,)))
    ra, dec = footprint.random_points(chunk, rng)
    return accept(ra, dec, footprint, tree, rules)[1]


def choose_empty_fields(
    n: int,
    seed: int,
    footprint: Footprint,
    cluster_ra: np.ndarray,
    cluster_dec: np.ndarray,
    rules: EmptyRules,
    comm: Comm,
    chunk: int = 4096,
    max_candidates: int = 100_000_000,
) -> EmptyFields | None:
    """The first n accepted positions in chunk order (on rank 0; None on other ranks)."""
    tree = cKDTree(unit_vectors(cluster_ra, cluster_dec))
    mine: dict[int, EmptyFields] = {}
    total, k0 = 0, 0
    bar = progress(None, total=n, desc="empty fields", unit="field")
    while total < n:
        if k0 * chunk >= max_candidates:
            raise DataError(
                f"{footprint.source}: only {total} of {n} positions found in {k0 * chunk} "
                f"candidates: footprint too small or distance limits too strict"
            )
        k = k0 + comm.rank
        mine[k] = draw_chunk(k, seed, chunk, footprint, tree, rules)
        found = comm.allreduce_sum(len(mine[k]))
        bar.update(min(found, n - total))
        total += found
        k0 += comm.size
    bar.close()
    gathered = comm.gather(mine)
    if gathered is None:
        return None
    every = {k: v for part in gathered for k, v in part.items()}
    return EmptyFields.concat([every[k] for k in sorted(every)]).head(n)
