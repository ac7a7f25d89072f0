"""Member sets of every catalogue cluster, with aperture non-members, as ragged arrays.

For each cluster of `catalog.fits`:
- its **member set** (kind 0): its rows of `members.fits`; with `prep.sets.contamination`
  c > 0 a fraction f ~ U(0, c) of them is replaced by non-members of the same aperture;
- with `prep.sets.negatives` > 0, a **non-member set** (kind 1) for that fraction of the
  clusters: as many aperture non-members as the cluster has members (a negative of set
  detection: the same aperture made only of non-members);
- with `prep.sets.contaminated` > 0, a **contaminated set** (kind 2) for that fraction of the
  clusters: its members with `prep.sets.contaminated_fraction` of them replaced by aperture
  non-members (the other negative of set detection: the aperture contaminated).

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
    contaminated_sets: int
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


def _mixed(
    cat: Catalogue, fraction: np.ndarray, cap: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every cluster's members with round(fraction x N) of them replaced by aperture
    non-members (as many as there are): rows, offsets and the fraction reached."""
    mem_rows, mem_off = cat.members
    field_rows, field_off = cat.field
    n_members = np.diff(mem_off)
    n = n_members.size
    n_swap = np.minimum(np.round(fraction * n_members).astype(np.int64), np.diff(field_off))
    kept, kept_off = _random_picks(mem_off, n_members - n_swap, rng)
    swapped, swap_off = _random_picks(field_off, n_swap, rng)
    rows = np.concatenate([mem_rows[kept], field_rows[swapped]])
    owner = np.concatenate(
        [np.repeat(np.arange(n), np.diff(kept_off)), np.repeat(np.arange(n), np.diff(swap_off))]
    )
    rows = rows[np.argsort(owner, kind="stable")]
    rows, offsets = _sorted_capped(
        rows, ragged.offsets_from_counts(n_members), cat.galaxies[:, I_MAG], cap
    )
    return rows, offsets, n_swap / np.maximum(n_members, 1)


def build_sets(
    cat: Catalogue, opts: SetsPrepConfig, rng: np.random.Generator
) -> tuple[MemberSets, BuildReport]:
    """Member sets (kind 0), non-member sets (kind 1) and contaminated member sets (kind 2,
    negatives of set detection), in catalogue order within each kind."""
    field_rows, field_off = cat.field
    n = cat.members[1].size - 1
    n_members = np.diff(cat.members[1])
    has_field = np.diff(field_off) > 0
    keep = []

    # Member sets, a random fraction f ~ U(0, c) of each replaced by aperture non-members.
    f = rng.uniform(0.0, opts.contamination, n) if opts.contamination else np.zeros(n)
    rows, offsets, reached = _mixed(cat, f, opts.max_members, rng)
    big = np.diff(offsets) >= opts.min_members
    keep.append(_assemble(cat, rows, offsets, np.arange(n), 0, reached).take(np.flatnonzero(big)))

    # Non-member sets for a fraction `negatives` of the clusters (with candidates).
    chosen = has_field & (rng.random(n) < opts.negatives)
    picked, picked_off = _random_picks(field_off, np.where(chosen, n_members, 0), rng)
    rows, offsets = _sorted_capped(
        field_rows[picked], picked_off, cat.galaxies[:, I_MAG], opts.max_members
    )
    clusters = np.flatnonzero(chosen)
    offsets = ragged.offsets_from_counts(np.diff(offsets)[clusters])
    keep.append(_assemble(cat, rows, offsets, clusters, 1, np.ones(clusters.size)))

    # Contaminated member sets, negatives: `contaminated_fraction` of the members replaced.
    chosen = has_field & (rng.random(n) < opts.contaminated)
    fraction = np.full(n, opts.contaminated_fraction)
    rows, offsets, reached = _mixed(cat, fraction, opts.max_members, rng)
    clusters = np.flatnonzero(chosen)
    sub, sub_off = ragged.take(offsets, clusters)
    keep.append(_assemble(cat, rows[sub], sub_off, clusters, 2, reached[clusters]))

    for kind in (1, 2):
        keep[kind] = keep[kind].take(np.flatnonzero(keep[kind].sizes >= opts.min_members))
    report = BuildReport(
        clusters=n,
        member_sets=len(keep[0]),
        non_member_sets=len(keep[1]),
        contaminated_sets=len(keep[2]),
        too_small=int((~big).sum()),
        without_non_members=int((~has_field).sum()),
    )
    return MemberSets.concatenate(keep), report


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
