"""Which cutouts the survey has: one per (selected) cluster, plus empty fields.

Cluster cutouts are centred on the cluster (optionally offset at random by up to
`max_offset_arcmin`) and named `cutouts/<ID>.jpeg`; empty fields are random footprint positions
whose nearest cluster is `empty_min_arcmin`-`empty_max_arcmin` away, named
`empty/empty_NNNNNN.jpeg`. Everything a later stage needs is in the returned table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from clusterhpc.config import CutoutsConfig
from clusterhpc.errors import ClusterHPCError
from clusterhpc.simulate.clusters import SimulatedClusters
from clusterhpc.sky.footprint import Footprint
from clusterhpc.sky.geometry import (
    chord_to_degrees,
    degrees_to_chord,
    offset_positions,
    unit_vectors,
)
from clusterhpc.sky.projection import sky_offsets


@dataclass(frozen=True)
class CutoutPlan:
    file: np.ndarray  # relative to the survey directory
    name: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    id: np.ndarray  # cluster ID, -1 for empty fields
    empty: np.ndarray
    nearest_arcmin: np.ndarray  # nearest cluster other than the target
    n_clusters: np.ndarray  # cluster centres inside the cutout

    def __len__(self) -> int:
        return len(self.ra)


def _empty_positions(
    n: int, cfg: CutoutsConfig, tree: cKDTree, footprint: Footprint, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    ras, decs, found = [np.zeros(0)], [np.zeros(0)], 0
    for _ in range(1000):
        if found >= n:
            break
        ra, dec = footprint.random_points(max(4 * (n - found), 256), rng)
        dist = chord_to_degrees(tree.query(unit_vectors(ra, dec))[0]) * 60.0
        ok = (dist >= cfg.empty_min_arcmin) & (dist <= cfg.empty_max_arcmin)
        ras.append(ra[ok])
        decs.append(dec[ok])
        found += int(ok.sum())
    if found < n:
        raise ClusterHPCError(
            f"simulate.cutouts.empty = {n}: found only {found} footprint positions whose nearest "
            f"cluster is {cfg.empty_min_arcmin}'-{cfg.empty_max_arcmin}' away; widen the range "
            "or the footprint"
        )
    return np.concatenate(ras)[:n], np.concatenate(decs)[:n]


def count_inside(
    ra: np.ndarray, dec: np.ndarray, half_deg: float, tree: cKDTree, cl: SimulatedClusters
) -> np.ndarray:
    """Number of cluster centres inside each square cutout of half side `half_deg`."""
    centres = cKDTree(unit_vectors(ra, dec))
    pairs = centres.sparse_distance_matrix(
        tree, degrees_to_chord(half_deg * np.sqrt(2)), output_type="ndarray"
    )
    i, j = pairs["i"], pairs["j"]
    east, north = np.degrees(sky_offsets(ra[i], dec[i], cl.ra[j], cl.dec[j], "tan"))
    inside = (np.abs(east) < half_deg) & (np.abs(north) < half_deg)
    return np.bincount(i[inside], minlength=len(ra))


def plan_cutouts(
    cfg: CutoutsConfig, cl: SimulatedClusters, footprint: Footprint, rng: np.random.Generator
) -> CutoutPlan:
    tree = cKDTree(unit_vectors(cl.ra, cl.dec))
    n_cl = len(cl) if cfg.clusters == 0 else min(cfg.clusters, len(cl))
    rows = np.sort(rng.choice(len(cl), n_cl, replace=False)) if n_cl < len(cl) else np.arange(n_cl)
    sep = cfg.max_offset_arcmin / 60.0 * np.sqrt(rng.random(n_cl))
    ra, dec = offset_positions(cl.ra[rows], cl.dec[rows], sep, rng.uniform(0.0, 360.0, n_cl))
    era, edec = _empty_positions(cfg.empty, cfg, tree, footprint, rng)
    ids = cl.id[rows]
    names = np.concatenate([ids.astype(str), [f"empty_{k:06d}" for k in range(1, cfg.empty + 1)]])
    files = np.concatenate(
        [[f"cutouts/{i}.jpeg" for i in ids], [f"empty/{name}.jpeg" for name in names[n_cl:]]]
    )
    ra, dec = np.concatenate([ra, era]), np.concatenate([dec, edec])
    dist, nn = tree.query(unit_vectors(ra, dec), k=min(2, len(cl)))
    dist, nn = dist.reshape(len(ra), -1), nn.reshape(len(ra), -1)
    target = np.concatenate([rows, np.full(cfg.empty, -1)])
    other = np.where(nn[:, 0] == target, dist[:, -1], dist[:, 0])
    if len(cl) == 1:
        other = np.where(target == 0, np.inf, other)
    half = cfg.size * cfg.scale / 3600.0 / 2.0
    return CutoutPlan(
        file=files,
        name=names,
        ra=ra,
        dec=dec,
        id=np.concatenate([ids, np.full(cfg.empty, -1)]),
        empty=np.arange(len(ra)) >= n_cl,
        nearest_arcmin=chord_to_degrees(other) * 60.0,
        n_clusters=count_inside(ra, dec, half, tree, cl),
    )
