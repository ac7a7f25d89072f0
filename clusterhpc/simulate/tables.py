"""Embedded default data: the redshift tables the mock survey is built from.

m*(z) is the i-band characteristic magnitude of cluster galaxies (passive evolution, SDSS-like);
the red-sequence colours are those of cluster early-type galaxies in SDSS model magnitudes.
u-g and i-z are rougher (only written to the member catalogue, never rendered). Values are
interpolated linearly in z and extrapolated linearly outside 0.1-0.6.
"""

from __future__ import annotations

import numpy as np

Z_GRID = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
MSTAR_I = np.array([16.5, 17.9, 18.8, 19.5, 20.0, 20.5])
RED_GR = np.array([0.95, 1.25, 1.55, 1.75, 1.85, 1.90])
RED_RI = np.array([0.40, 0.45, 0.50, 0.65, 0.85, 1.00])
RED_UG = np.array([1.85, 2.05, 2.20, 2.30, 2.35, 2.40])
RED_IZ = np.array([0.32, 0.38, 0.42, 0.45, 0.52, 0.62])
_RED = {"ug": RED_UG, "gr": RED_GR, "ri": RED_RI, "iz": RED_IZ}

# SDSS 5-sigma point-source depths u, g, r, i, z (g, r, i also set the image noise).
DEPTH_UGRIZ = np.array([22.0, 22.2, 22.2, 21.3, 20.5])
# Magnitude of a 0.2 L* galaxy relative to m*.
FAINT_LIMIT = 2.5 * np.log10(5.0)


def _interp(z: np.ndarray, values: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=float)
    out = np.interp(z, Z_GRID, values)
    lo, hi = z < Z_GRID[0], z > Z_GRID[-1]
    out[lo] = values[0] + (z[lo] - Z_GRID[0]) * (values[1] - values[0]) / (Z_GRID[1] - Z_GRID[0])
    out[hi] = values[-1] + (z[hi] - Z_GRID[-1]) * (values[-1] - values[-2]) / (
        Z_GRID[-1] - Z_GRID[-2]
    )
    return out


def mstar_i(z: np.ndarray) -> np.ndarray:
    """i-band m* at redshift z."""
    return _interp(np.atleast_1d(z), MSTAR_I)


def red_colour(z: np.ndarray, colour: str) -> np.ndarray:
    """One mean red-sequence colour ("ug", "gr", "ri" or "iz") at redshift z."""
    return _interp(np.atleast_1d(z), _RED[colour])


def red_sequence(z: np.ndarray) -> dict[str, np.ndarray]:
    """Mean red-sequence colours u-g, g-r, r-i, i-z at redshift z."""
    return {colour: red_colour(z, colour) for colour in _RED}
