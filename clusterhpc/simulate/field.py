"""Field galaxies and stars, generated per HEALPix sky cell so overlapping cutouts agree.

Each cell (nside 256, ~14' across) draws its objects from its own random stream, so the same
sky appears in every cutout covering it, whatever the rank or order of rendering.

- Galaxies: N(<r) = density * 10^(slope (r - 21)) per deg^2 (4,000 deg^-2 at r = 21, slope
  0.45), from r = 14 to `mag_limit`; 60 % blue (g-r ~ 0.45, r-i ~ 0.25), 40 % red with colours of
  the red sequence at a random z (interlopers); exponential discs with
  r_e = 1.0" 10^(-0.12 (r - 20)) (0.2 dex scatter) and axis ratios 0.25-1.
- Stars: 1,000 deg^-2 to r = 21 (slope 0.25), point sources on the stellar locus (g-r ~ 0.4
  turn-off stars, and K/M dwarfs with r-i rising steeply at g-r ~ 1.4).

A cell's galaxy draws up to their colours (`GalaxyDraws`) can be kept apart from the rest and
turned into positions and gri magnitudes for any subset of them (`galaxy_positions`,
`galaxy_gri`), with the values the images use: `galaxies.py` builds its catalogue that way.
"""

from __future__ import annotations

from dataclasses import dataclass

import healpy as hp
import numpy as np

from clusterhpc.config import SkyObjectsConfig
from clusterhpc.simulate import tables
from clusterhpc.simulate.streams import SKY_GALAXIES, SKY_STARS, stream

CELL_NSIDE = 256
SUB_LEVELS = 10
_BRIGHT = 14.0


@dataclass(frozen=True)
class GalaxyDraws:
    """The draws that place one cell's field galaxies and set their colours (stream order)."""

    cell: np.ndarray  # sky cell of each galaxy
    child: np.ndarray  # sub-pixel inside the cell (nested, SUB_LEVELS levels down)
    u_mag: np.ndarray  # uniform deviate of the r magnitude
    red: np.ndarray  # red-sequence galaxy
    z_red: np.ndarray  # redshift whose red-sequence colours it has (used when red)
    e_gr: np.ndarray  # unit normal deviates of the g-r and r-i scatter
    e_ri: np.ndarray

    def __len__(self) -> int:
        return self.child.size


@dataclass(frozen=True)
class SkyObjects:
    ra: np.ndarray
    dec: np.ndarray
    mag_gri: np.ndarray  # (n, 3)
    point: np.ndarray  # True for stars
    r_e_arcsec: np.ndarray
    axis_ratio: np.ndarray
    pa_deg: np.ndarray


def _sky_position(cell: int | np.ndarray, child: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return hp.pix2ang(
        CELL_NSIDE * 2**SUB_LEVELS, cell * 4**SUB_LEVELS + child, nest=True, lonlat=True
    )


def _power_law(u: np.ndarray, slope: float, faint: float) -> np.ndarray:
    """Magnitudes from uniform deviates for N(<m) ~ 10^(slope m) between _BRIGHT and faint."""
    lo, hi = 10 ** (slope * _BRIGHT), 10 ** (slope * faint)
    return np.log10(lo + u * (hi - lo)) / slope


def _expected(density: float, slope: float, faint: float) -> float:
    area = hp.nside2pixarea(CELL_NSIDE, degrees=True)
    return density * area * (10 ** (slope * (faint - 21)) - 10 ** (slope * (_BRIGHT - 21)))


def galaxy_draws(
    cell: int, cfg: SkyObjectsConfig, seed: int
) -> tuple[GalaxyDraws, np.random.Generator]:
    """A cell's galaxy draws up to their colours, and its stream (the shapes come next)."""
    rng = stream(seed, SKY_GALAXIES, cell)
    n = rng.poisson(_expected(cfg.galaxy_density, cfg.galaxy_slope, cfg.mag_limit))
    child = rng.integers(0, 4**SUB_LEVELS, n)
    u_mag = rng.random(n)
    red = rng.random(n) < 0.4
    z_red = rng.uniform(0.05, 0.7, n)
    e_gr = rng.normal(0.0, 1.0, n)
    cells = np.full(n, cell)
    return GalaxyDraws(cells, child, u_mag, red, z_red, e_gr, rng.normal(0.0, 1.0, n)), rng


def galaxy_positions(draws: GalaxyDraws) -> tuple[np.ndarray, np.ndarray]:
    """RA, Dec (degrees) of the galaxies."""
    return _sky_position(draws.cell, draws.child)


def galaxy_gri(draws: GalaxyDraws, cfg: SkyObjectsConfig) -> np.ndarray:
    """True g, r, i magnitudes (n, 3): blue (g-r 0.45, r-i 0.25) or red-sequence colours."""
    red = draws.red
    r = _power_law(draws.u_mag, cfg.galaxy_slope, cfg.mag_limit)
    gr = np.where(red, tables.red_colour(draws.z_red, "gr"), 0.45)
    ri = np.where(red, tables.red_colour(draws.z_red, "ri"), 0.25)
    gr = gr + draws.e_gr * np.where(red, 0.08, 0.15)
    ri = ri + draws.e_ri * np.where(red, 0.05, 0.1)
    return np.stack([r + gr, r, r - ri], axis=1)


def _galaxies(cell: int, cfg: SkyObjectsConfig, seed: int) -> SkyObjects:
    draws, rng = galaxy_draws(cell, cfg, seed)
    n = len(draws)
    gri = galaxy_gri(draws, cfg)
    r_e = 10 ** (rng.normal(0.0, 0.2, n) - 0.12 * (gri[:, 1] - 20.0))
    return SkyObjects(
        *galaxy_positions(draws),
        gri,
        np.zeros(n, bool),
        r_e,
        rng.uniform(0.25, 1.0, n),
        rng.uniform(0.0, 180.0, n),
    )


def _stars(cell: int, cfg: SkyObjectsConfig, seed: int) -> SkyObjects:
    rng = stream(seed, SKY_STARS, cell)
    n = rng.poisson(_expected(cfg.star_density, cfg.star_slope, cfg.mag_limit))
    ra, dec = _sky_position(cell, rng.integers(0, 4**SUB_LEVELS, n))
    r = _power_law(rng.random(n), cfg.star_slope, cfg.mag_limit)
    dwarf = rng.random(n) < 0.35
    gr = np.where(dwarf, rng.uniform(1.0, 1.5, n), np.clip(rng.normal(0.4, 0.12, n), 0.1, 1.0))
    ri = np.where(gr < 1.3, 0.38 * gr - 0.06, 0.5 + 1.1 * rng.random(n))
    ri = ri + rng.normal(0.0, 0.04, n)
    zeros = np.zeros(n)
    return SkyObjects(
        ra, dec, np.stack([r + gr, r, r - ri], axis=1), np.ones(n, bool), zeros, zeros + 1.0, zeros
    )


def _concat(parts: list[SkyObjects]) -> SkyObjects:
    return SkyObjects(
        *[np.concatenate([getattr(p, f) for p in parts]) for f in SkyObjects.__dataclass_fields__]
    )


def sky_objects(
    ra: float, dec: float, radius_deg: float, cfg: SkyObjectsConfig, seed: int
) -> SkyObjects:
    """All field galaxies and stars of the cells within `radius_deg` of (ra, dec)."""
    vec = hp.ang2vec(ra, dec, lonlat=True)
    cells = hp.query_disc(CELL_NSIDE, vec, np.radians(radius_deg), inclusive=True, nest=True)
    parts = [maker(int(c), cfg, seed) for c in np.sort(cells) for maker in (_galaxies, _stars)]
    return _concat(parts)
