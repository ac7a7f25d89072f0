"""Small spherical helpers on (ra, dec) in degrees (the rest lives in `clusterhpc.sky`)."""

from __future__ import annotations

import numpy as np
from astropy.wcs import WCS

from clusterhpc.sky.geometry import angle_to_chord, chord_to_angle, quantise_degrees
from clusterhpc.sky.projection import tan_wcs


def chord(angle_deg: float | np.ndarray) -> np.ndarray:
    """Chord length on the unit sphere for an angular distance (for KD-tree radii)."""
    return angle_to_chord(np.radians(angle_deg))


def chord_to_deg(length: np.ndarray) -> np.ndarray:
    return np.degrees(chord_to_angle(np.minimum(np.asarray(length, dtype=float), 2.0)))


def offset(
    ra: np.ndarray, dec: np.ndarray, sep_deg: np.ndarray, pa_deg: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Points `sep_deg` away from (ra, dec) at position angle `pa_deg` (east of north)."""
    d0, s, pa = np.radians(dec), np.radians(sep_deg), np.radians(pa_deg)
    sin_dec = np.sin(d0) * np.cos(s) + np.cos(d0) * np.sin(s) * np.cos(pa)
    dec2 = np.arcsin(np.clip(sin_dec, -1.0, 1.0))
    dra = np.arctan2(np.sin(pa) * np.sin(s) * np.cos(d0), np.cos(s) - np.sin(d0) * sin_dec)
    ra2 = (np.asarray(ra) + np.degrees(dra)) % 360.0
    return quantise_degrees(ra2) % 360.0, quantise_degrees(np.degrees(dec2))


def cutout_wcs(ra: float, dec: float, size: int, scale_arcsec: float) -> WCS:
    """TAN WCS of a cutout whose 0-based pixel (x, y) is JPEG column x, row y (north up)."""
    return tan_wcs(ra, dec, scale_arcsec, size)


def sky_to_image(wcs: WCS, ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """0-based pixel centres (x right, y down) of (ra, dec) in the JPEG."""
    return wcs.wcs_world2pix(np.asarray(ra, float), np.asarray(dec, float), 0)
