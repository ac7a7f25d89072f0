"""Survey footprint as a HEALPix map: read it, test positions, draw uniform points inside.

The map may have any nside and RING or NESTED ordering (healpy reads the ORDERING keyword and
returns RING); a pixel is inside when its value is > 0 (UNSEEN and NaN are outside).
"""

from __future__ import annotations

from pathlib import Path

import healpy as hp
import numpy as np

from clusterhpc.errors import DataError
from clusterhpc.io.atomic import atomic_path
from clusterhpc.sky.geometry import quantise_degrees, vectors_to_radec


class Footprint:
    """A boolean HEALPix map (RING ordering) with point tests and uniform sampling."""

    def __init__(self, mask: np.ndarray, source: str = "footprint") -> None:
        self.mask = np.asarray(mask, dtype=bool)
        self.nside = hp.npix2nside(self.mask.size)
        self.source = source
        self.inside_pixels = np.flatnonzero(self.mask)
        if self.inside_pixels.size == 0:
            raise DataError(f"{source}: the footprint map has no pixel with a value > 0")

    @classmethod
    def read(cls, path: str | Path) -> Footprint:
        """Read a HEALPix map FITS file (first map column), RING or NESTED per its header."""
        try:
            values = hp.read_map(str(path), field=0, dtype=None)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path}: cannot read a HEALPix map ({exc})") from exc
        inside = np.isfinite(values) & (values != hp.UNSEEN) & (values > 0)
        return cls(inside, source=str(path))

    @property
    def area_deg2(self) -> float:
        return self.inside_pixels.size * hp.nside2pixarea(self.nside, degrees=True)

    def contains(self, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
        """True where (ra, dec) in degrees falls in an inside pixel."""
        return self.mask[hp.ang2pix(self.nside, ra, dec, lonlat=True)]

    def random_points(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n positions (RA, Dec in degrees) uniform on the sphere inside the footprint.

        A pixel is drawn uniformly among inside pixels (all have equal area), then a point
        uniformly in the cap of radius max_pixrad around its centre, kept if it falls in that
        pixel: exactly uniform over the footprint, and efficient for footprints of any size.
        """
        radius = hp.max_pixrad(self.nside)
        ras, decs, have = [np.zeros(0)], [np.zeros(0)], 0
        while have < n:
            m = max(2 * (n - have), 256)
            pix = self.inside_pixels[rng.integers(self.inside_pixels.size, size=m)]
            centre = np.stack(hp.pix2vec(self.nside, pix), axis=-1)
            cos_t = 1.0 - rng.random(m) * (1.0 - np.cos(radius))
            phi = 2.0 * np.pi * rng.random(m)
            points = _around(centre, cos_t, phi)
            keep = hp.vec2pix(self.nside, points[:, 0], points[:, 1], points[:, 2]) == pix
            ra, dec = vectors_to_radec(points[keep])
            ras.append(ra)
            decs.append(dec)
            have += ra.size
        ra = quantise_degrees(np.concatenate(ras)[:n]) % 360.0
        return ra, quantise_degrees(np.concatenate(decs)[:n])


def _around(centre: np.ndarray, cos_t: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Unit vectors at polar angle arccos(cos_t) and azimuth phi around each centre vector."""
    axis = np.where(np.abs(centre[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    e1 = np.cross(axis, centre)
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 = np.cross(centre, e1)
    sin_t = np.sqrt(np.clip(1.0 - cos_t**2, 0.0, None))[:, None]
    return cos_t[:, None] * centre + sin_t * (np.cos(phi)[:, None] * e1 + np.sin(phi)[:, None] * e2)


def write_footprint(path: Path, nested: np.ndarray, spec: str) -> None:
    """Write a NESTED uint8 map (1 = observed) as `footprint.fits`, its recipe in FPSPEC."""
    with atomic_path(path) as tmp:
        hp.write_map(
            str(tmp),
            nested.astype(np.uint8),
            nest=True,
            coord="C",
            dtype=np.uint8,
            overwrite=True,
            extra_header=[("FPSPEC", spec, "recipe of this footprint")],
        )
