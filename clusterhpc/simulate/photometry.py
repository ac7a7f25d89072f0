"""Magnitudes and their SDSS-like errors; fluxes in nanomaggies (AB zero point 22.5)."""

from __future__ import annotations

import numpy as np

ZERO_POINT = 22.5
# Calibration floor of SDSS model magnitudes.
ERROR_FLOOR = 0.01


def to_flux(mag: np.ndarray) -> np.ndarray:
    """AB magnitude -> flux in nanomaggies."""
    return 10.0 ** (-0.4 * (np.asarray(mag) - ZERO_POINT))


def mag_error(mag: np.ndarray, depth: np.ndarray | float) -> np.ndarray:
    """1-sigma error of a sky-limited measurement whose 5-sigma limit is `depth`."""
    snr = 5.0 * 10.0 ** (-0.4 * (np.asarray(mag) - depth))
    return np.sqrt((2.5 / np.log(10.0) / snr) ** 2 + ERROR_FLOOR**2)


def observe(
    mag: np.ndarray, depth: np.ndarray | float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Observed magnitudes (true + Gaussian noise) and their errors."""
    return observe_with(mag, depth, rng.normal(0.0, 1.0, np.shape(mag)))


def observe_with(
    mag: np.ndarray, depth: np.ndarray | float, noise: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`observe` with the unit normal deviates given (drawn ahead for a whole sky cell)."""
    err = mag_error(mag, depth)
    return mag + noise * err, err
