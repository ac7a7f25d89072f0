"""Member sets of every catalogue cluster, with aperture non-members, as ragged arrays.

For each cluster of `catalog.fits`:
- its **member set** (kind 0): its rows of `members.fits`; with `prep.sets.contamination`
  c > 0 a fraction f ~ U(0, c) of them is replaced by non-members of the same aperture;
- with `prep.sets.negatives` > 0, a **non-member set** (kind 1) for that fraction of the
  clusters: as many aperture non-members as the cluster has members (set detection's
  negatives: the same aperture made only of non-members).

Aperture non-members are the rows of a galaxy table in the `prep query` layout (CLUSTER_ID,
objID, ra, dec, modelMag_*, modelMagErr_*, optional zred) for that cluster, inside
`aperture_r_lambda` x R_lambda of the catalogue position, not among the cluster's own members
(by objID), and no fainter in i than its faintest member (so magnitude alone cannot tell
them apart). Galaxies within a set are ordered brightest first and capped at `max_members`.
Every step is vectorised over the whole catalogue; random draws come from one seeded stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.cosmology import FlatLambdaCDM

from clusterhpc import ragged
from clusterhpc.config import SetsPrepConfig
from clusterhpc.io.set_shards import GALAXY_COLUMNS, MemberSets
from clusterhpc.sky.geometry import separation

QUERY_COLUMNS = {  # prep query's galaxy columns -> members.fits names
    **{f"modelMag_{b}": f"MODEL_MAG_{b.upper()}" for b in "ugriz"},
    **{f"modelMagErr_{b}": f"MODEL_MAGERR_{b.upper()}" for b in "ugriz"},
    "zred": "ZRED",
}
I_MAG = GALAXY_COLUMNS.index("MODEL_MAG_I")


def r_lambda_arcmin(
    lam: np.ndarray, z: np.ndarray, h0: float = 70.0, om0: float = 0.3
) -> np.ndarray:
    """redMaPPer's R_lambda = (lambda/100)^0.2 h^-1 Mpc (proper), in arcmin at z."""
    cosmo = FlatLambdaCDM(H0=h0, Om0=om0)
    mpc = (np.asarray(lam, np.float64) / 100.0) ** 0.2 / (h0 / 100.0)
    kpc_per_arcmin = cosmo.kpc_proper_per_arcmin(np.maximum(z, 1e-4)).value
    return mpc * 1000.0 / kpc_per_arcmin


@dataclass(frozen=True)
class Catalogue:
    """What the sets are built from: per-cluster truth and ragged galaxy rows.

    `members` and `field` are (rows, offsets) over `galaxies`/`positions`: members of cluster
    i, and its aperture non-member candidates."""

    meta: dict[str, np.ndarray]  # io.set_shards.META_FIELDS except kind/is_cluster/contamination
    positions: np.ndarray  # (K, 2) RA, Dec
    galaxies: np.ndarray  # (K, C) GALAXY_COLUMNS
    members: tuple[np.ndarray, np.ndarray]
    field: tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class BuildReport:
    clusters: int
    member_sets: int
    non_member_sets: int
    too_small: int  # member sets left out (fewer than min_members galaxies)
    without_non_members: int  # clusters whose aperture has no non-member candidate


def aperture_candidates(
    cluster_ra: np.ndarray,
    cluster_dec: np.ndarray,
    aperture_arcmin: np.ndarray,
    faintest_member_i: np.ndarray,
    owner: np.ndarray,
    ra: np.ndarray,
    dec: np.ndarray,
    mag_i: np.ndarray,
    is_own_member: np.ndarray,
) -> np.ndarray:
    """Which galaxy rows (of cluster row `owner`) are aperture non-members of their cluster."""
    sep = np.degrees(separation(cluster_ra[owner], cluster_dec[owner], ra, dec)) * 60.0
    return (
        (sep <= aperture_arcmin[owner])
        & (mag_i <= faintest_member_i[owner])
        & ~is_own_member
        & np.isfinite(mag_i)
    )


def _random_picks(offsets: np.ndarray, wanted: np.ndarray, rng: np.random.Generator) -> tuple:
    """Up to `wanted[i]` distinct random rows of each segment i: (positions, new offsets)."""
    counts = np.diff(offsets)
    take = np.minimum(wanted, counts)
    owner = np.repeat(np.arange(counts.size), counts)
    order = np.lexsort((rng.random(owner.size), owner))  # random order within each segment
    rank = np.arange(owner.size) - np.repeat(offsets[:-1], counts)
    chosen = order[rank < take[owner]]
    return chosen, ragged.offsets_from_counts(take)


def _sorted_capped(
    rows: np.ndarray, offsets: np.ndarray, mag_i: np.ndarray, cap: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of each set ordered brightest first, at most `cap` per set (0: all)."""
    owner = np.repeat(np.arange(offsets.size - 1), np.diff(offsets))
    order = np.lexsort((mag_i[rows], owner))
    rows, counts = rows[order], np.diff(offsets)
    if cap:
        keep = (np.arange(rows.size) - np.repeat(offsets[:-1], counts)) < cap
        rows, counts = rows[keep], np.minimum(counts, cap)
    return rows, ragged.offsets_from_counts(counts)


def build_sets(
    cat: Catalogue, opts: SetsPrepConfig, rng: np.random.Generator
) -> tuple[MemberSets, BuildReport]:
    """Member sets (kind 0) then non-member sets (kind 1), in catalogue order."""
    mem_rows, mem_off = cat.members
    field_rows, field_off = cat.field
    n = mem_off.size - 1
    n_members = np.diff(mem_off)
    n_field = np.diff(field_off)
    mag_i = cat.galaxies[:, I_MAG]

    # Member sets, a random fraction f ~ U(0, c) of each replaced by aperture non-members.
    f = rng.uniform(0.0, opts.contamination, n) if opts.contamination else np.zeros(n)
    n_swap = np.minimum(np.round(f * n_members).astype(np.int64), n_field)
    kept, kept_off = _random_picks(mem_off, n_members - n_swap, rng)
    swapped, swap_off = _random_picks(field_off, n_swap, rng)
    pos_rows = np.concatenate([mem_rows[kept], field_rows[swapped]])
    pos_owner = np.concatenate(
        [np.repeat(np.arange(n), np.diff(kept_off)), np.repeat(np.arange(n), np.diff(swap_off))]
    )
    order = np.argsort(pos_owner, kind="stable")
    pos_rows, pos_off = _sorted_capped(
        pos_rows[order], ragged.offsets_from_counts(n_members), mag_i, opts.max_members
    )

    # Non-member sets for a fraction `negatives` of the clusters (with candidates).
    has_field = n_field > 0
    chosen = has_field & (rng.random(n) < opts.negatives)
    neg_size = np.where(chosen, n_members, 0)
    neg_rows, neg_off = _random_picks(field_off, neg_size, rng)
    neg_rows, neg_off = _sorted_capped(field_rows[neg_rows], neg_off, mag_i, opts.max_members)
    neg_clusters = np.flatnonzero(chosen)
    neg_off = ragged.offsets_from_counts(np.diff(neg_off)[neg_clusters])

    big = np.diff(pos_off) >= opts.min_members
    pos_sets = _assemble(cat, pos_rows, pos_off, np.arange(n), 0, n_swap / np.maximum(n_members, 1))
    pos_sets = pos_sets.take(np.flatnonzero(big))
    neg_sets = _assemble(cat, neg_rows, neg_off, neg_clusters, 1, np.ones(neg_clusters.size))
    neg_sets = neg_sets.take(np.flatnonzero(np.diff(neg_sets.offsets) >= opts.min_members))
    report = BuildReport(
        clusters=n,
        member_sets=len(pos_sets),
        non_member_sets=len(neg_sets),
        too_small=int((~big).sum()),
        without_non_members=int((~has_field).sum()),
    )
    return MemberSets.concatenate([pos_sets, neg_sets]), report


def _assemble(
    cat: Catalogue,
    rows: np.ndarray,
    offsets: np.ndarray,
    clusters: np.ndarray,
    kind: int,
    contamination: np.ndarray,
) -> MemberSets:
    """MemberSets of galaxy `rows` (ragged by `offsets`) for catalogue rows `clusters`."""
    meta = {k: v[clusters] for k, v in cat.meta.items()}
    meta["kind"] = np.full(clusters.size, kind, np.int8)
    meta["is_cluster"] = np.full(clusters.size, kind == 0)
    meta["contamination"] = np.asarray(contamination, np.float32)
    member_flag = np.zeros(len(cat.positions), bool)
    member_flag[cat.members[0]] = True
    return MemberSets(
        offsets.astype(np.int64),
        cat.positions[rows],
        cat.galaxies[rows],
        member_flag[rows],
        meta,
    )
