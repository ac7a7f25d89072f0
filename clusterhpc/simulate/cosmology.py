"""Flat LambdaCDM distances for the mock survey (astropy), tabulated for fast vectorised lookups."""

from __future__ import annotations

import numpy as np
from astropy.cosmology import FlatLambdaCDM


class Cosmology:
    """Angular scales and the comoving-volume redshift distribution of a flat LCDM model."""

    def __init__(self, h0: float = 70.0, om0: float = 0.3) -> None:
        self.model = FlatLambdaCDM(H0=h0, Om0=om0)
        self.h = h0 / 100.0
        self._z = np.linspace(0.0, 1.5, 3001)[1:]
        self._kpc_per_arcsec = self.model.kpc_proper_per_arcmin(self._z).value / 60.0
        self._dv = self.model.differential_comoving_volume(self._z).value

    def kpc_per_arcsec(self, z: np.ndarray) -> np.ndarray:
        """Proper kpc per arcsec at redshift z."""
        return np.interp(z, self._z, self._kpc_per_arcsec)

    def arcmin(self, r_mpc_h: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Angle in arcmin of a proper length given in h^-1 Mpc."""
        return np.asarray(r_mpc_h) / self.h * 1000.0 / self.kpc_per_arcsec(z) / 60.0

    def sample_volume(
        self, n: int, z_min: float, z_max: float, rng: np.random.Generator
    ) -> np.ndarray:
        """Redshifts distributed as dV_comoving/dz between z_min and z_max."""
        keep = (self._z >= z_min) & (self._z <= z_max)
        z = np.concatenate([[z_min], self._z[keep], [z_max]])
        dv = np.interp(z, self._z, self._dv)
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dv[1:] + dv[:-1]) * np.diff(z))])
        return np.interp(rng.random(n) * cdf[-1], cdf, z)
