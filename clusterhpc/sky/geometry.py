"""Unit vectors on the sphere, chord <-> angle conversion and angular separations."""

from __future__ import annotations

import numpy as np

ARCSEC = np.pi / (180.0 * 3600.0)  # radians per arcsecond
ARCMIN = 60.0 * ARCSEC


def unit_vectors(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    """(n, 3) unit vectors X = cosδ cosα, Y = cosδ sinα, Z = sinδ (degrees in)."""
    ra = np.radians(np.asarray(ra_deg, dtype=np.float64))
    dec = np.radians(np.asarray(dec_deg, dtype=np.float64))
    cos_dec = np.cos(dec)
    return np.stack([cos_dec * np.cos(ra), cos_dec * np.sin(ra), np.sin(dec)], axis=-1)


def vectors_to_radec(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RA in [0, 360) and Dec in degrees of (n, 3) vectors (any length > 0)."""
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    ra = np.degrees(np.arctan2(y, x)) % 360.0
    dec = np.degrees(np.arctan2(z, np.hypot(x, y)))
    return ra, dec


def angle_to_chord(angle_rad: np.ndarray | float) -> np.ndarray:
    """Straight-line distance between two unit vectors separated by `angle_rad`."""
    return 2.0 * np.sin(np.minimum(np.asarray(angle_rad, dtype=np.float64), np.pi) / 2.0)


def chord_to_angle(chord: np.ndarray | float) -> np.ndarray:
    """Inverse of `angle_to_chord` (radians)."""
    return 2.0 * np.arcsin(np.clip(np.asarray(chord, dtype=np.float64) / 2.0, 0.0, 1.0))


def degrees_to_chord(angle_deg: float | np.ndarray) -> np.ndarray:
    """Chord length on the unit sphere for an angular distance in degrees (KD-tree radii)."""
    return angle_to_chord(np.radians(angle_deg))


def chord_to_degrees(chord: np.ndarray | float) -> np.ndarray:
    """Inverse of `degrees_to_chord`; chords beyond the diameter (KD-tree misses: inf) clip."""
    return np.degrees(chord_to_angle(np.minimum(np.asarray(chord, dtype=np.float64), 2.0)))


def separation(ra1: np.ndarray, dec1: np.ndarray, ra2: np.ndarray, dec2: np.ndarray) -> np.ndarray:
    """Angular separation in radians (atan2 form: accurate at all angles), degrees in."""
    a = unit_vectors(ra1, dec1)
    b = unit_vectors(ra2, dec2)
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    return np.arctan2(cross, np.sum(a * b, axis=-1))


POSITION_DECIMALS = 9  # 1e-9 degree = 3.6 micro-arcseconds


def quantise_degrees(values: np.ndarray) -> np.ndarray:
    """Round generated sky positions to 1e-9 degree.

    Far below any astrometric precision, but it makes files byte-identical across runs even
    where vectorised trigonometry differs in the last bit (seen on this VM under load)."""
    return np.round(values, POSITION_DECIMALS)


def offset_positions(
    ra: np.ndarray, dec: np.ndarray, sep_deg: np.ndarray, pa_deg: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Points `sep_deg` away from (ra, dec) at position angle `pa_deg` (east of north)."""
    d0, s, pa = np.radians(dec), np.radians(sep_deg), np.radians(pa_deg)
    sin_dec = np.sin(d0) * np.cos(s) + np.cos(d0) * np.sin(s) * np.cos(pa)
    dec2 = np.arcsin(np.clip(sin_dec, -1.0, 1.0))
    dra = np.arctan2(np.sin(pa) * np.sin(s) * np.cos(d0), np.cos(s) - np.sin(d0) * sin_dec)
    ra2 = (np.asarray(ra) + np.degrees(dra)) % 360.0
    return quantise_degrees(ra2) % 360.0, quantise_degrees(np.degrees(dec2))
