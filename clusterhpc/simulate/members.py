"""Member galaxies of every cluster, generated for all clusters at once (no per-galaxy loops).

- count: ceil(lambda / <P>) galaxies brighter than 0.2 L* (m*(z) + 1.75 in i);
- the BCG sits at the centre, 1.5 mag brighter than m*(z) (0.15 mag scatter);
- satellites follow a Schechter luminosity function (alpha = -1) above 0.2 L* and a projected
  NFW profile (concentration 4) truncated at R_lambda;
- colours: red sequence of the tables with `colour_scatter` per colour;
- P: decreasing with radius and magnitude, scaled per cluster so that sum(P * P_FREE) = lambda;
  P_FREE < 1 for members that also lie inside R_lambda of a richer cluster at a similar
  redshift; THETA_I and THETA_R are redMaPPer's soft magnitude (m* + 1.75, smoothed by IMAG_ERR)
  and radius (R_lambda, 0.05 h^-1 Mpc) filters, informative only (beyond z ~ 0.35 the 0.2 L*
  limit is fainter than the i-band depth, where redMaPPer would rescale lambda instead);
- photometric redshift ZRED with sigma = 0.02 (1 + z); Z_SPEC for a random `spec_fraction`
  of the satellites, and for a BCG with chance `bcg_spec_fraction` (0.8) when its observed i is
  brighter than `bcg_spec_mag` (19.0), as SDSS spectroscopy targets bright red galaxies. The
  cluster's Z_SPEC in catalog.fits is its BCG's, so on the quickstart catalogue (21,000
  clusters) 75.5 % of the clusters have Z_SPEC > 0: 95 % of the BCGs are brighter than i = 19,
  and the fraction falls from 81 % at z < 0.2 to 69 % at z > 0.5;
- shapes for rendering: de Vaucouleurs, r_e = 4 kpc (L/L*)^0.6 (BCG 15 kpc), axis ratio 0.55-1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import erfc

from clusterhpc.config import ClustersConfig
from clusterhpc.io.redmapper import Members
from clusterhpc.simulate import tables
from clusterhpc.simulate.clusters import SIMULATED, SimulatedClusters
from clusterhpc.simulate.cosmology import Cosmology
from clusterhpc.simulate.photometry import observe
from clusterhpc.sky.geometry import (
    chord_to_degrees,
    degrees_to_chord,
    offset_positions,
    unit_vectors,
)

BANDS = "ugriz"
OBJID_BASE = 1237645000000000000
_C_KMS = 299792.458


@dataclass(frozen=True, kw_only=True)
class MemberGalaxies(Members):
    """The reader's members catalogue (`io.redmapper.Members`: parent ID, position, P) plus
    what only the simulator knows of every member galaxy: its cluster row, true and observed
    photometry, light profile and membership terms, grouped by cluster."""

    cluster: np.ndarray  # row in SimulatedClusters
    r: np.ndarray  # projected distance, proper h^-1 Mpc
    p_free: np.ndarray
    theta_i: np.ndarray
    theta_r: np.ndarray
    mag_true: np.ndarray  # (n, 5) ugriz
    mag: np.ndarray  # observed (n, 5)
    mag_err: np.ndarray
    zred: np.ndarray
    zred_err: np.ndarray
    z_spec: np.ndarray
    r_e_arcsec: np.ndarray
    axis_ratio: np.ndarray
    pa_deg: np.ndarray
    start: np.ndarray  # first member row of each cluster
    count: np.ndarray  # members of each cluster


def member_objid(n: int) -> np.ndarray:
    """objID of the n members, in members.fits row order."""
    return OBJID_BASE + np.arange(n, dtype=np.int64)


def _inverse_cdf(x: np.ndarray, pdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(x))])
    return np.interp(u * cdf[-1], cdf, x)


def schechter_luminosity(n: int, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """L / L* >= 0.2 drawn from x^alpha exp(-x)."""
    x = np.geomspace(0.2, 30.0, 4000)
    return _inverse_cdf(x, x**alpha * np.exp(-x), rng.random(n))


def nfw_projected_cdf(x: np.ndarray) -> np.ndarray:
    """Projected NFW mass inside x = R / r_s (up to a constant)."""
    x = np.asarray(x, dtype=float)
    out = np.full(x.shape, 1.0 + np.log(0.5))
    lo, hi = x < 1.0 - 1e-6, x > 1.0 + 1e-6
    out[lo] = np.log(x[lo] / 2) + np.arccosh(1 / x[lo]) / np.sqrt(1 - x[lo] ** 2)
    out[hi] = np.log(x[hi] / 2) + np.arccos(1 / x[hi]) / np.sqrt(x[hi] ** 2 - 1)
    return out


def nfw_radius(n: int, concentration: float, rng: np.random.Generator) -> np.ndarray:
    """R / R_lambda for a projected NFW truncated at R_lambda = concentration * r_s."""
    x = np.geomspace(1e-5, concentration, 4000)
    cdf = nfw_projected_cdf(x)
    cdf = (cdf - cdf[0]) / (cdf[-1] - cdf[0])
    return np.interp(rng.random(n), cdf, x) / concentration


def _segment_sum(values: np.ndarray, start: np.ndarray) -> np.ndarray:
    return np.add.reduceat(values, start) if len(values) else np.zeros(len(start))


def _solve_p(
    weight: np.ndarray, factor: np.ndarray, target: np.ndarray, start: np.ndarray, owner: np.ndarray
) -> np.ndarray:
    """P = min(a w, 1) with a per cluster such that sum(P * factor) = target (bisection)."""
    lo = np.full(len(start), -12.0)
    hi = np.full(len(start), 12.0)
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        total = _segment_sum(np.minimum(np.exp(mid)[owner] * weight, 1.0) * factor, start)
        low = total < target
        lo, hi = np.where(low, mid, lo), np.where(low, hi, mid)
    return np.minimum(np.exp(hi)[owner] * weight, 1.0)


def _overlap_p_free(
    cl: SimulatedClusters,
    owner: np.ndarray,
    ra: np.ndarray,
    dec: np.ndarray,
    start: np.ndarray,
    count: np.ndarray,
) -> np.ndarray:
    """Share of a member left to its cluster when it also sits inside a richer cluster."""
    p_free = np.ones(len(owner))
    tree = cKDTree(unit_vectors(cl.ra, cl.dec))
    pairs = tree.query_pairs(
        degrees_to_chord(2 * cl.r_lambda_arcmin.max() / 60.0), output_type="ndarray"
    )
    if len(pairs) == 0:
        return p_free
    rich, poor = pairs.min(axis=1), pairs.max(axis=1)  # rows are sorted by decreasing lambda
    close = np.abs(cl.z[rich] - cl.z[poor]) < 0.05
    rich, poor = rich[close], poor[close]
    n = count[poor]
    pair = np.repeat(np.arange(len(poor)), n)
    rows = np.repeat(start[poor], n) + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    k = rich[pair]
    sep = (
        chord_to_degrees(
            np.linalg.norm(
                unit_vectors(ra[rows], dec[rows]) - unit_vectors(cl.ra[k], cl.dec[k]), axis=1
            )
        )
        * 60.0
    )
    inside = sep < cl.r_lambda_arcmin[k]
    share = cl.lam[poor[pair]] / (cl.lam[poor[pair]] + cl.lam[k])
    np.minimum.at(p_free, rows[inside], share[inside])
    return p_free


def make_members(
    cl: SimulatedClusters, cfg: ClustersConfig, cosmo: Cosmology, rng: np.random.Generator
) -> MemberGalaxies:
    count = np.ceil(cl.lam / cfg.mean_p).astype(int)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    n = int(count.sum())
    owner = np.repeat(np.arange(len(cl)), count)
    is_bcg = np.zeros(n, bool)
    is_bcg[start] = True
    z = cl.z[owner]

    # Luminosities and i-band magnitudes.
    mstar = tables.mstar_i(z)
    lum = schechter_luminosity(n, cfg.schechter_alpha, rng)
    mag_i = mstar - 2.5 * np.log10(lum)
    mag_i[is_bcg] = mstar[is_bcg] - cfg.bcg_gap + rng.normal(0.0, 0.15, len(cl))
    lum[is_bcg] = 10 ** (-0.4 * (mag_i[is_bcg] - mstar[is_bcg]))

    # Positions: projected NFW truncated at R_lambda, BCG at the centre.
    radius = nfw_radius(n, cfg.concentration, rng) * cl.r_lambda[owner]
    radius[is_bcg] = 0.0
    sep_deg = cosmo.arcmin(radius, z) / 60.0
    ra, dec = offset_positions(cl.ra[owner], cl.dec[owner], sep_deg, rng.uniform(0.0, 360.0, n))

    # Red-sequence colours -> ugriz.
    col = tables.red_sequence(z)
    scatter = rng.normal(0.0, cfg.colour_scatter, (4, n))
    mag_r = mag_i + col["ri"] + scatter[2]
    mag_g = mag_r + col["gr"] + scatter[1]
    mag_u = mag_g + col["ug"] + 2 * scatter[0]
    mag_z = mag_i - col["iz"] + scatter[3]
    mag_true = np.stack([mag_u, mag_g, mag_r, mag_i, mag_z], axis=1)
    mag, mag_err = observe(mag_true, tables.DEPTH_UGRIZ, rng)

    # Membership: weights, radial and magnitude filters, probabilities.
    r_frac = radius / cl.r_lambda[owner]
    faint = np.clip((mag_i - mstar) / tables.FAINT_LIMIT, 0.0, 1.0)
    weight = np.clip((1.0 - 0.5 * r_frac**2) * (1.0 - 0.4 * faint), 0.05, None)
    weight[is_bcg] = 1e6
    theta_i = 0.5 * erfc((mag[:, 3] - (mstar + tables.FAINT_LIMIT)) / (np.sqrt(2) * mag_err[:, 3]))
    theta_r = 0.5 * erfc((radius - cl.r_lambda[owner]) / (np.sqrt(2) * 0.05))
    p_free = _overlap_p_free(cl, owner, ra, dec, start, count)
    p = _solve_p(weight, p_free, cl.lam, start, owner)

    # Redshifts: red-sequence photo-z for all, spectroscopic for some.
    zred_err = 0.02 * (1.0 + z)
    zred = z + rng.normal(0.0, 1.0, n) * zred_err
    sigma_v = 1000.0 * (cl.lam[owner] / 100.0) ** (1 / 3) / _C_KMS * (1.0 + z)
    z_spec_true = z + rng.normal(0.0, 1.0, n) * sigma_v
    z_spec_true[is_bcg] = z[is_bcg]
    has_spec = rng.random(n) < cfg.spec_fraction
    has_spec[is_bcg] = (mag[is_bcg, 3] < cfg.bcg_spec_mag) & (
        rng.random(len(cl)) < cfg.bcg_spec_fraction
    )
    z_spec = np.where(has_spec, z_spec_true, -1.0)

    # Shapes for the images.
    r_e_kpc = 4.0 * lum**0.6 * 10 ** rng.normal(0.0, 0.15, n)
    r_e_kpc[is_bcg] = 15.0 * 10 ** rng.normal(0.0, 0.1, len(cl))
    r_e = r_e_kpc / cosmo.kpc_per_arcsec(z)

    # Within each cluster: BCG first, then by decreasing P (as redMaPPer lists them).
    order = np.lexsort((-p, ~is_bcg, owner))
    return MemberGalaxies(
        path=SIMULATED,
        id=cl.id[owner[order]],
        cluster=owner[order],
        ra=ra[order],
        dec=dec[order],
        r=radius[order],
        p=p[order],
        p_free=p_free[order],
        theta_i=theta_i[order],
        theta_r=theta_r[order],
        mag_true=mag_true[order],
        mag=mag[order],
        mag_err=mag_err[order],
        zred=zred[order],
        zred_err=zred_err[order],
        z_spec=z_spec[order],
        r_e_arcsec=r_e[order],
        axis_ratio=rng.uniform(0.55, 1.0, n)[order],
        pa_deg=rng.uniform(0.0, 180.0, n)[order],
        start=start,
        count=count,
    )
