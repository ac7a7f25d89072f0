"""Cluster population: positions in the footprint, redshifts, richnesses and sizes.

- z follows the comoving volume between z_min and z_max;
- dN/dlambda is a power law (slope about -3) between lambda_min and lambda_max;
- spatial clustering: a fraction of clusters are companions placed around a parent (Gaussian
  offsets of `companion_arcmin` rms per axis), half of them at the parent's redshift (physical
  pairs) and half at an unrelated one (projections), so cutouts contain neighbours as in SDSS;
- R_lambda = 1.0 h^-1 Mpc (lambda / 100)^0.2 (proper);
- true mass (M200m in h^-1 Msun): ln M = ln(10^14.344 (lambda / 40)^1.33) + N(0, 0.25), the
  mean relation of Simet et al. (2017) with `mass_scatter` in ln M at fixed lambda, so M is
  not a function of lambda. It is drawn from its own stream (`streams.CLUSTER_MASS`, one
  normal per cluster in ID order), after and apart from everything else.

Clusters are sorted by decreasing richness and numbered ID = 1, 2, ... as in redMaPPer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clusterhpc.config import ClustersConfig
from clusterhpc.io.redmapper import Clusters
from clusterhpc.simulate.cosmology import Cosmology
from clusterhpc.sky.footprint import Footprint
from clusterhpc.sky.geometry import offset_positions


@dataclass(frozen=True)
class SimulatedClusters(Clusters):
    """The reader's cluster catalogue (`io.redmapper.Clusters`) plus what only the simulator
    knows: sizes and the parents of companions."""

    r_lambda: np.ndarray  # proper h^-1 Mpc
    r_lambda_arcmin: np.ndarray
    parent_id: np.ndarray  # ID of the parent for companions, -1 otherwise
    ln_mass: np.ndarray  # ln (M / h^-1 Msun)


SIMULATED = "(simulated, not yet written)"  # the `path` of a catalogue made in memory


def richness_r(lam: np.ndarray) -> np.ndarray:
    """redMaPPer cluster radius R_lambda in proper h^-1 Mpc."""
    return 1.0 * (np.asarray(lam) / 100.0) ** 0.2


def sample_richness(n: int, cfg: ClustersConfig, rng: np.random.Generator) -> np.ndarray:
    """Truncated power law dN/dlambda ~ lambda^slope by inverse transform."""
    a = cfg.lambda_slope + 1.0
    lo, hi = cfg.lambda_min**a, cfg.lambda_max**a
    return (lo + rng.random(n) * (hi - lo)) ** (1.0 / a)


def sample_ln_mass(lam: np.ndarray, cfg: ClustersConfig, rng: np.random.Generator) -> np.ndarray:
    """ln M: the mean mass-richness relation plus log-normal scatter at fixed lambda."""
    mean = cfg.mass_pivot_log10 * np.log(10.0) + cfg.mass_slope * np.log(np.asarray(lam) / 40.0)
    return mean + rng.normal(0.0, cfg.mass_scatter, np.size(lam))


def cluster_count(cfg: ClustersConfig, footprint: Footprint) -> int:
    return cfg.n or max(1, round(cfg.density * footprint.area_deg2))


def make_clusters(
    cfg: ClustersConfig,
    footprint: Footprint,
    cosmo: Cosmology,
    rng: np.random.Generator,
    mass_rng: np.random.Generator,
) -> SimulatedClusters:
    """The clusters, sorted by decreasing richness; masses come from `mass_rng` only."""
    n = cluster_count(cfg, footprint)
    n_comp = round(cfg.companion_fraction * n) if n > 1 else 0
    n_parent = n - n_comp
    ra, dec = footprint.random_points(n_parent, rng)
    z = cosmo.sample_volume(n, cfg.z_min, cfg.z_max, rng)
    lam = sample_richness(n, cfg, rng)
    parent = np.full(n, -1)
    if n_comp:
        host = rng.integers(0, n_parent, n_comp)
        sep = np.hypot(*rng.normal(0.0, cfg.companion_arcmin, (2, n_comp))) / 60.0
        cra, cdec = offset_positions(ra[host], dec[host], sep, rng.uniform(0.0, 360.0, n_comp))
        outside = ~footprint.contains(cra, cdec)
        if outside.any():
            cra[outside], cdec[outside] = footprint.random_points(int(outside.sum()), rng)
        host[outside] = -1
        # Half of the companions are physical pairs at the parent's redshift.
        pair = n_parent + np.flatnonzero((rng.random(n_comp) < 0.5) & (host >= 0))
        z[pair] = np.clip(
            z[host[pair - n_parent]] + rng.normal(0.0, 0.005, len(pair)), cfg.z_min, cfg.z_max
        )
        ra, dec = np.concatenate([ra, cra]), np.concatenate([dec, cdec])
        parent[n_parent:] = host
    order = np.argsort(-lam, kind="stable")
    rank = np.empty(n, int)
    rank[order] = np.arange(n)
    parent_id = np.where(parent >= 0, rank[np.maximum(parent, 0)] + 1, -1)
    r_lambda = richness_r(lam)
    return SimulatedClusters(
        path=SIMULATED,
        id=np.arange(1, n + 1),
        ra=ra[order],
        dec=dec[order],
        z=z[order],
        lam=lam[order],
        r_lambda=r_lambda[order],
        r_lambda_arcmin=cosmo.arcmin(r_lambda, z)[order],
        parent_id=parent_id[order],
        ln_mass=sample_ln_mass(lam[order], cfg, mass_rng),
    )
