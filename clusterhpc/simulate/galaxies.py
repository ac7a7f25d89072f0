"""Galaxies around every cluster, as `prep query` fetches them from SkyServer.

With `simulate.galaxies.write`, `simulate` writes `<data.root>/galaxies/galaxies.fits`: one row
per (cluster, galaxy) for every galaxy within `radius_r_lambda` x R_lambda (1.5) of the
cluster centre and brighter in observed i than the members' limit m*(z) + 1.75 (0.2 L*) plus
`mag_margin` (0.5) at the cluster's redshift. The columns and dtypes are those of `prep query`
with its default `query.columns` (CLUSTER_ID, objID, ra, dec, type, modelMag_u..z,
modelMagErr_u..z: int64 and float64), plus zred and zred_e, a red-sequence photo-z. Rows are
sorted by CLUSTER_ID, then objID. Two populations, the ones the images show:

- members of any cluster: objID, position, observed magnitudes and errors, ZRED and ZRED_E as
  in members.fits (its float32 values); a member fainter than the cut after photometric noise
  is left out, as a magnitude condition on a real query would (0.4 % of the members in the
  quickstart survey, 0.9 % at z > 0.5);
- field galaxies (no stars; type = 3) of `field.py`, cell by cell from the same streams as the
  images, with objID = FIELD_OBJID_BASE + cell * CELL_STRIDE + their index in the cell. Only g,
  r, i are drawn there; u, z, the photometric noise and zred come from the cell's own stream
  `SKY_GALAXY_EXTRAS`, drawn for every galaxy of the cell whatever the cuts, so a galaxy has
  the same entry in every aperture and every configuration:
  - red galaxies: u-g and i-z of the red sequence at their own redshift (scatter 0.1 and 0.05
    mag), zred = z + 0.02 (1 + z) N(0, 1) and zred_e = 0.02 (1 + z), like members;
  - blue galaxies: u-g = 1.1 +- 0.25, i-z = 0.15 +- 0.1; a red-sequence fit to a blue galaxy
    says little about its redshift, so zred is uniform over 0.05-0.7 (the range of the red
    ones; mostly wrong for the cluster) with a larger error zred_e = 0.05 (1 + zred).

Speed: each sky cell is generated once, whatever the number of apertures reaching it. Its
galaxies are first cut by position (the 64 sub-pixels of the cell, nside 2048, that some
aperture reaches) and by observed i against the faintest cut of those apertures; photometry
and exact distances are computed for the few left, batch by batch. On the quickstart survey
(21,000 clusters, 52,000 cells) this takes about 40 s on one core, of which 10 s write the
9.4 million rows (about 450 per cluster, 1.3 GB) in chunks; only rank 0 does it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from typing import TypeVar

import healpy as hp
import numpy as np
from scipy.spatial import cKDTree
from scipy.special import ndtri

from clusterhpc.config import SimulateConfig, SkyObjectsConfig
from clusterhpc.log import progress
from clusterhpc.ragged import segment_positions
from clusterhpc.simulate import tables
from clusterhpc.simulate.clusters import SimulatedClusters
from clusterhpc.simulate.field import (
    CELL_NSIDE,
    SUB_LEVELS,
    GalaxyDraws,
    galaxy_draws,
    galaxy_gri,
    galaxy_positions,
)
from clusterhpc.simulate.members import MemberGalaxies, member_objid
from clusterhpc.simulate.photometry import observe_with
from clusterhpc.simulate.streams import SKY_GALAXY_EXTRAS, stream
from clusterhpc.sky.geometry import angle_to_chord, unit_vectors

FIELD_OBJID_BASE = 1237660000000000000  # above every member objID (OBJID_BASE + row)
CELL_STRIDE = 2**24  # objIDs per sky cell (a cell holds ~1,700 galaxies to r = 23)
TYPE_GALAXY = 3  # SDSS PhotoObj type of galaxies
FINE_LEVELS = 3  # sub-pixels of a cell for the first position cut: 4^3 = 64 per cell
_FINE_SHIFT = 2 * (SUB_LEVELS - FINE_LEVELS)
BATCH_CELLS = 512  # cells whose candidates are processed together
EXTRA_WORDS = 9  # raw 64-bit words of the extra stream per field galaxy
T = TypeVar("T")


@dataclass(frozen=True)
class Photometry:
    """Catalogue entries of galaxies: what a photometric query returns of each."""

    objid: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    mag: np.ndarray  # observed (n, 5) ugriz
    mag_err: np.ndarray
    zred: np.ndarray
    zred_err: np.ndarray


@dataclass(frozen=True)
class ApertureGalaxies:
    """One row per (cluster, galaxy), sorted by cluster ID then objID: row k is the entry
    galaxy[order[k]] in the aperture of cluster cluster_id[k] (gathered when written)."""

    cluster_id: np.ndarray
    galaxy: Photometry
    order: np.ndarray

    def __len__(self) -> int:
        return self.order.size

    def rows(self, which: slice) -> tuple[np.ndarray, Photometry]:
        """Cluster IDs and entries of some rows."""
        return self.cluster_id[which], take(self.galaxy, self.order[which])


@dataclass(frozen=True)
class Candidates:
    """Field galaxies in a sub-pixel that some aperture reaches, with their extra draws."""

    draws: GalaxyDraws
    index: np.ndarray  # in their cell
    slot: np.ndarray  # their cell's position in Apertures.cells
    limit: np.ndarray  # faintest cut of the apertures reaching their sub-pixel
    raw: np.ndarray  # (n, EXTRA_WORDS) words of the cell's extra stream (`field_photometry`)


def take(table: T, rows: np.ndarray) -> T:
    """The rows of a dataclass of row-aligned arrays (nested ones too)."""
    return type(table)(
        *[
            take(v, rows) if is_dataclass(v) else v[rows]
            for v in (getattr(table, f.name) for f in fields(table))
        ]
    )


def concat(parts: list[T]) -> T:
    """Dataclasses of row-aligned arrays (nested ones too) one after the other."""
    first = parts[0]
    return type(first)(
        *[
            concat(values) if is_dataclass(values[0]) else np.concatenate(values)
            for values in ([getattr(p, f.name) for p in parts] for f in fields(first))
        ]
    )


@dataclass(frozen=True)
class Apertures:
    """Every cluster's aperture, and the sky cells and sub-pixels (fine pixels) it reaches."""

    centre: np.ndarray  # (N, 3) unit vectors
    chord: np.ndarray  # radius as a chord of the unit sphere
    i_cut: np.ndarray  # faintest observed i
    cells: np.ndarray  # sky cells reached, sorted
    clusters: np.ndarray  # cluster rows reaching each cell, cell by cell
    cluster_start: np.ndarray  # first entry of each cell in `clusters` (len(cells) + 1)
    fine: np.ndarray  # fine pixels reached, sorted
    fine_cut: np.ndarray  # faintest cut of the apertures reaching each
    fine_start: np.ndarray  # first fine pixel of each cell (len(cells) + 1)

    def sub_pixel_cuts(self, k: int) -> np.ndarray:
        """Faintest cut reaching each of the k-th cell's 64 sub-pixels (-inf: none)."""
        rows = slice(self.fine_start[k], self.fine_start[k + 1])
        cuts = np.full(4**FINE_LEVELS, -np.inf)
        cuts[self.fine[rows] & (4**FINE_LEVELS - 1)] = self.fine_cut[rows]
        return cuts

    def cell_pairs(self, slot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(item, cluster row) for every cluster reaching the cell of each item."""
        start = self.cluster_start[slot]
        count = self.cluster_start[slot + 1] - start
        item = np.repeat(np.arange(len(slot)), count)
        return item, self.clusters[segment_positions(start, count)]


def plan_apertures(cl: SimulatedClusters, sim: SimulateConfig) -> Apertures:
    """Apertures of `simulate.galaxies` and the sky they reach (one query_disc per cluster)."""
    radius = np.radians(sim.galaxies.radius_r_lambda * cl.r_lambda_arcmin / 60.0)
    i_cut = tables.mstar_i(cl.z) + tables.FAINT_LIMIT + sim.galaxies.mag_margin
    centre = unit_vectors(cl.ra, cl.dec)
    nside = CELL_NSIDE * 2**FINE_LEVELS
    touched = [
        hp.query_disc(nside, v, r, inclusive=True, nest=True)
        for v, r in zip(centre, radius, strict=True)
    ]
    owner = np.repeat(np.arange(len(cl)), [len(t) for t in touched])
    fine_all = np.concatenate(touched)
    fine, inverse = np.unique(fine_all, return_inverse=True)
    fine_cut = np.full(len(fine), -np.inf)
    np.maximum.at(fine_cut, inverse, i_cut[owner])
    cell_of, clusters = np.divmod(
        np.unique((fine_all >> 2 * FINE_LEVELS) * len(cl) + owner), len(cl)
    )
    cells = np.unique(cell_of)
    bounds = np.append(cells, cells[-1] + 1)
    return Apertures(
        centre,
        angle_to_chord(radius),
        i_cut,
        cells,
        clusters,
        np.searchsorted(cell_of, bounds),
        fine,
        fine_cut,
        np.searchsorted(fine >> 2 * FINE_LEVELS, bounds),
    )


def candidates(k: int, ap: Apertures, cfg: SkyObjectsConfig, seed: int) -> Candidates:
    """The k-th reached cell's galaxies in reached sub-pixels (the extra words are drawn
    for every galaxy of the cell, so a galaxy's do not depend on which are kept)."""
    cell = int(ap.cells[k])
    draws, _ = galaxy_draws(cell, cfg, seed)
    extra = stream(seed, SKY_GALAXY_EXTRAS, cell).bit_generator
    raw = extra.random_raw((len(draws), EXTRA_WORDS))
    limit = ap.sub_pixel_cuts(k)[draws.child >> _FINE_SHIFT]
    near = np.flatnonzero(limit > -np.inf)
    return Candidates(take(draws, near), near, np.full(len(near), k), limit[near], raw[near])


def _uniform(raw: np.ndarray) -> np.ndarray:
    """Uniform deviates in (0, 1) from the top 53 bits of raw 64-bit words."""
    return ((raw >> np.uint64(11)).astype(float) + 0.5) * 2.0**-53


def observed_i(cand: Candidates, cfg: SkyObjectsConfig) -> np.ndarray:
    """The candidates' observed i alone (the values `field_photometry` gives), to cut early."""
    i = galaxy_gri(cand.draws, cfg)[:, 2]
    return observe_with(i, tables.DEPTH_UGRIZ[3], ndtri(_uniform(cand.raw[:, 3])))[0]


def field_photometry(cand: Candidates, cfg: SkyObjectsConfig) -> Photometry:
    """Catalogue entries of field galaxies: ugriz observed at the survey depths, and zred.

    A galaxy's extra words become 8 unit normals through the normal quantile (ugriz noise,
    u-g and i-z scatter, zred noise) and a uniform zred guess in 0.05-0.7."""
    draws = cand.draws
    uniform = _uniform(cand.raw)
    noise, guess = ndtri(uniform[:, :8]), 0.05 + 0.65 * uniform[:, 8]
    red, z = draws.red, draws.z_red
    g, r, i = galaxy_gri(draws, cfg).T
    ug = np.where(red, tables.red_colour(z, "ug"), 1.1) + noise[:, 5] * np.where(red, 0.1, 0.25)
    iz = np.where(red, tables.red_colour(z, "iz"), 0.15) + noise[:, 6] * np.where(red, 0.05, 0.1)
    true = np.stack([g + ug, g, r, i, i - iz], axis=1)
    mag, mag_err = observe_with(true, tables.DEPTH_UGRIZ, noise[:, :5])
    sigma = 0.02 * (1.0 + z)
    zred = np.where(red, z + noise[:, 7] * sigma, guess)
    zred_err = np.where(red, sigma, 0.05 * (1.0 + guess))
    objid = FIELD_OBJID_BASE + draws.cell * CELL_STRIDE + cand.index
    return Photometry(objid, *galaxy_positions(draws), mag, mag_err, zred, zred_err)


def field_rows(
    cand: Candidates, ap: Apertures, cfg: SkyObjectsConfig
) -> tuple[np.ndarray, Photometry]:
    """(cluster row, entry) of the candidates inside an aperture of their cell and its cut."""
    cand = take(cand, np.flatnonzero(observed_i(cand, cfg) < cand.limit))
    entry = field_photometry(cand, cfg)
    gal, clusters = ap.cell_pairs(cand.slot)
    dot = np.einsum("ij,ij->i", unit_vectors(entry.ra, entry.dec)[gal], ap.centre[clusters])
    inside = (2.0 - 2.0 * dot <= ap.chord[clusters] ** 2) & (entry.mag[gal, 3] < ap.i_cut[clusters])
    return clusters[inside], take(entry, gal[inside])


def member_rows(ap: Apertures, mem: MemberGalaxies) -> tuple[np.ndarray, Photometry]:
    """(cluster row, entry) of the members of any cluster in apertures, as in members.fits."""
    f32 = np.float32
    entries = Photometry(
        member_objid(len(mem)),
        mem.ra,
        mem.dec,
        mem.mag.astype(f32).astype(float),
        mem.mag_err.astype(f32).astype(float),
        mem.zred.astype(f32).astype(float),
        mem.zred_err.astype(f32).astype(float),
    )
    found = cKDTree(unit_vectors(mem.ra, mem.dec)).query_ball_point(
        ap.centre, ap.chord, return_sorted=False
    )
    owner = np.repeat(np.arange(len(found)), [len(f) for f in found])
    rows = np.concatenate([np.asarray(f, dtype=np.int64) for f in found])
    keep = np.flatnonzero(entries.mag[rows, 3] < ap.i_cut[owner])
    keep = keep[np.argsort(rows[keep], kind="stable")]  # by objID
    return owner[keep], take(entries, rows[keep])


def aperture_galaxies(
    cl: SimulatedClusters, mem: MemberGalaxies, sim: SimulateConfig, seed: int
) -> ApertureGalaxies:
    """Every member and field galaxy inside each cluster's aperture and magnitude cut."""
    ap = plan_apertures(cl, sim)
    parts = [member_rows(ap, mem)]
    bar = progress(total=len(ap.cells), desc="galaxies", unit="cell")
    for first in range(0, len(ap.cells), BATCH_CELLS):
        slots = range(first, min(first + BATCH_CELLS, len(ap.cells)))
        cand = concat([candidates(k, ap, sim.sky, seed) for k in slots])
        parts.append(field_rows(cand, ap, sim.sky))
        bar.update(len(slots))
    bar.close()
    # Every part is in objID order (members first, then the cells in order): a stable sort
    # by cluster leaves each cluster's galaxies in objID order.
    owner = np.concatenate([p[0] for p in parts])
    order = np.argsort(owner, kind="stable")
    galaxies = concat([p[1] for p in parts])
    return ApertureGalaxies(cl.id[owner[order]].astype(np.int64), galaxies, order)
