"""Sky -> cutout pixel coordinates, in the two conventions the toolkit supports.

Pixel coordinates are continuous: the image covers [0, size] on both axes, pixel i spans
[i, i + 1), the cutout centre is at size/2, x grows to the west (east is left) and y grows
to the south (north is up), as in SDSS ImgCutout JPEGs.

- ``"tan"`` (default): the gnomonic (TAN) projection of a FITS WCS with CRVAL = centre,
  CDELT = (-scale, -scale); `tan_wcs` builds that astropy WCS and the tests check both agree.
- ``"seed"``: the original scripts' convention, x = half - Δlon″/scale, y = half - Δlat″/scale,
  with (Δlon, Δlat) = `SkyCoord.spherical_offsets_to` (longitude and latitude of the point in
  a frame rotated so that the centre is at (0, 0)). Kept to reproduce published numbers.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from astropy.wcs import WCS

from clusterhpc.sky.geometry import ARCSEC

Projection = Literal["tan", "seed"]


def _rotated(ra0, dec0, ra, dec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cartesian coordinates of (ra, dec) in the frame whose x axis points at (ra0, dec0)."""
    ra0, dec0, ra, dec = (np.radians(np.asarray(v, dtype=np.float64)) for v in (ra0, dec0, ra, dec))
    dra = ra - ra0
    cos_dec, sin_dec = np.cos(dec), np.sin(dec)
    cos_d0, sin_d0 = np.cos(dec0), np.sin(dec0)
    x = cos_d0 * cos_dec * np.cos(dra) + sin_d0 * sin_dec
    y = cos_dec * np.sin(dra)
    z = cos_d0 * sin_dec - sin_d0 * cos_dec * np.cos(dra)
    return x, y, z


def sky_offsets(ra0, dec0, ra, dec, projection: Projection = "tan") -> tuple[np.ndarray, ...]:
    """East and north offsets (radians) of (ra, dec) from the centre (ra0, dec0), degrees in.

    "tan": gnomonic standard coordinates (ξ, η); "seed": spherical offsets (Δlon, Δlat).
    """
    x, y, z = _rotated(ra0, dec0, ra, dec)
    if projection == "tan":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x > 0, y / x, np.nan), np.where(x > 0, z / x, np.nan)
    if projection == "seed":
        return np.arctan2(y, x), np.arctan2(z, np.hypot(x, y))
    raise ValueError(f"unknown projection {projection!r}: expected 'tan' or 'seed'")


def to_pixels(
    ra0, dec0, ra, dec, scale_arcsec, size, projection: Projection = "tan"
) -> tuple[np.ndarray, np.ndarray]:
    """Continuous pixel coordinates (x, y) of (ra, dec) on the cutout centred on (ra0, dec0).

    x = size/2 - east/scale, y = size/2 - north/scale; arrays broadcast (one centre per point
    is fine). Points more than 90° from the centre get NaN with "tan".
    """
    east, north = sky_offsets(ra0, dec0, ra, dec, projection)
    per_pixel = np.asarray(scale_arcsec, dtype=np.float64) * ARCSEC
    half = np.asarray(size, dtype=np.float64) / 2.0
    return half - east / per_pixel, half - north / per_pixel


def from_tan_pixels(ra0, dec0, x, y, scale_arcsec, size) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `to_pixels(..., "tan")`: RA, Dec (degrees) of pixel coordinates (x, y)."""
    per_pixel = np.asarray(scale_arcsec, dtype=np.float64) * ARCSEC
    half = np.asarray(size, dtype=np.float64) / 2.0
    xi = (half - np.asarray(x, dtype=np.float64)) * per_pixel
    eta = (half - np.asarray(y, dtype=np.float64)) * per_pixel
    ra0r, dec0r = np.radians(ra0), np.radians(dec0)
    denom = np.cos(dec0r) - eta * np.sin(dec0r)
    ra = ra0r + np.arctan2(xi, denom)
    dec = np.arctan2(np.sin(dec0r) + eta * np.cos(dec0r), np.hypot(xi, denom))
    return np.degrees(ra) % 360.0, np.degrees(dec)


def tan_wcs(ra0: float, dec0: float, scale_arcsec: float, size: int) -> WCS:
    """The astropy TAN WCS of a cutout; its 0-based pixel p equals `to_pixels` x - 0.5."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra0, dec0]
    wcs.wcs.crpix = [size / 2.0 + 0.5, size / 2.0 + 0.5]
    wcs.wcs.cdelt = [-scale_arcsec / 3600.0, -scale_arcsec / 3600.0]
    return wcs


def wcs_pixels(wcs: WCS, ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """0-based pixel centres (x right, y down) of (ra, dec) under `wcs` (as from `tan_wcs`)."""
    return wcs.wcs_world2pix(np.asarray(ra, float), np.asarray(dec, float), 0)
