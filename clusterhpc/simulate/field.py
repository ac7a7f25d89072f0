"""Field galaxies and stars, generated per HEALPix sky cell so overlapping cutouts agree.

Each cell (nside 256, ~14' across) draws its objects from its own random stream, so the same
sky appears in every cutout covering it, whatever the rank or order of rendering.

- Galaxies: N(<r) = density * 10^(slope (r - 21)) per deg^2 (4,000 deg^-2 at r = 21, slope
  0.45), from r = 14 to `mag_limit`; 60 % blue (g-r ~ 0.45, r-i ~ 0.25), 40 % red with colours of
  the red sequence at a random z (interlopers); exponential discs with
  r_e = 1.0" 10^(-0.12 (r - 20)) (0.2 dex scatter) and axis ratios 0.25-1.
- Stars: 1,000 deg^-2 to r = 21 (slope 0.25), point sources on the stellar locus (g-r ~ 0.4
  turn-off stars, and K/M dwarfs with r-i rising steeply at g-r ~ 1.4).
"""

from __future__ import annotations

from dataclasses import dataclass

import healpy as hp
import numpy as np

from clusterhpc.config import SkyObjectsConfig
from clusterhpc.simulate import tables
from clusterhpc.simulate.streams import SKY_GALAXIES, SKY_STARS, stream

CELL_NSIDE = 256
_SUB = 10
_BRIGHT = 14.0


@dataclass(frozen=True)
class SkyObjects:
    ra: np.ndarray
    dec: np.ndarray
    mag_gri: np.ndarray  # (n, 3)
    point: np.ndarray  # True for stars
    r_e_arcsec: np.ndarray
    axis_ratio: np.ndarray
    pa_deg: np.ndarray


def _positions(cell: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    child = cell * 4**_SUB + rng.integers(0, 4**_SUB, n)
    return hp.pix2ang(CELL_NSIDE * 2**_SUB, child, nest=True, lonlat=True)


def _power_law_mags(n: int, slope: float, faint: float, rng: np.random.Generator) -> np.ndarray:
    lo, hi = 10 ** (slope * _BRIGHT), 10 ** (slope * faint)
    return np.log10(lo + rng.random(n) * (hi - lo)) / slope


def _expected(density: float, slope: float, faint: float) -> float:
    area = hp.nside2pixarea(CELL_NSIDE, degrees=True)
    return density * area * (10 ** (slope * (faint - 21)) - 10 ** (slope * (_BRIGHT - 21)))


def _galaxies(cell: int, cfg: SkyObjectsConfig, seed: int) -> SkyObjects:
    rng = stream(seed, SKY_GALAXIES, cell)
    n = rng.poisson(_expected(cfg.galaxy_density, cfg.galaxy_slope, cfg.mag_limit))
    ra, dec = _positions(cell, n, rng)
    r = _power_law_mags(n, cfg.galaxy_slope, cfg.mag_limit, rng)
    red = rng.random(n) < 0.4
    col = tables.red_sequence(rng.uniform(0.05, 0.7, n))
    gr = np.where(red, col["gr"], 0.45) + rng.normal(0.0, 1.0, n) * np.where(red, 0.08, 0.15)
    ri = np.where(red, col["ri"], 0.25) + rng.normal(0.0, 1.0, n) * np.where(red, 0.05, 0.1)
    r_e = 10 ** (rng.normal(0.0, 0.2, n) - 0.12 * (r - 20.0))
    return SkyObjects(
        ra,
        dec,
        np.stack([r + gr, r, r - ri], axis=1),
        np.zeros(n, bool),
        r_e,
        rng.uniform(0.25, 1.0, n),
        rng.uniform(0.0, 180.0, n),
    )


def _stars(cell: int, cfg: SkyObjectsConfig, seed: int) -> SkyObjects:
    rng = stream(seed, SKY_STARS, cell)
    n = rng.poisson(_expected(cfg.star_density, cfg.star_slope, cfg.mag_limit))
    ra, dec = _positions(cell, n, rng)
    r = _power_law_mags(n, cfg.star_slope, cfg.mag_limit, rng)
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
