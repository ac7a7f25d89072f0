"""Render gri images by stamping objects on small pixel blocks, all objects of a size at once.

A Sérsic profile (n = 1 exponential, n = 4 de Vaucouleurs) is a mixture of circular Gaussians
in units of r_e (fitted here once by non-negative least squares); sheared by the axis ratio and
convolved with the Gaussian PSF and the pixel (variance 1/12 px^2) it stays a Gaussian mixture,
evaluated at pixel centres and normalised to the object's flux. Objects are grouped by stamp
size and evaluated as (objects, components, pixels) arrays, then added with `np.bincount`.
Sky noise per pixel gives the 5-sigma point-source depths; images are in nanomaggies.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

POINT, EXP, DEV = 0, 1, 2
_STAMP_HALF = np.array([1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192])
_CHUNK = 4_000_000  # array elements evaluated at once


@functools.cache
def sersic_mixture(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(amplitudes, variances in r_e^2) of a Gaussian mixture with the profile of Sérsic n."""
    b = {1: 1.678, 4: 7.669}[n]
    r_max = {1: 4.0, 4: 8.0}[n]
    r = np.linspace(1e-3, r_max * 1.5, 3000)
    target = np.where(r < r_max, np.exp(-b * (r ** (1.0 / n) - 1.0)), 0.0)
    var = np.geomspace(1e-4 if n == 4 else 2e-3, 12.0 if n == 4 else 3.0, 10)
    basis = np.exp(-0.5 * r[:, None] ** 2 / var) / (2 * np.pi * var)
    w = np.sqrt(r)[:, None]  # least squares in the plane (area element r dr)
    amp, _ = nnls(basis * w, target * w[:, 0])
    keep = amp > 0
    return amp[keep] / amp[keep].sum(), var[keep]


@dataclass(frozen=True)
class LightProfiles:
    """The objects to draw into one cutout: positions, fluxes and light profiles."""

    x: np.ndarray  # pixel column (0-based centres)
    y: np.ndarray  # pixel row from the top
    flux: np.ndarray  # (n, bands) nanomaggies
    kind: np.ndarray  # POINT, EXP or DEV
    r_e_px: np.ndarray
    axis_ratio: np.ndarray
    pa_deg: np.ndarray


def _components(src: LightProfiles, psf_var: float) -> tuple[np.ndarray, np.ndarray]:
    """Per object and component: amplitude (n, K) and covariance terms (3, n, K)."""
    mixtures = {POINT: (np.ones(1), np.zeros(1)), EXP: sersic_mixture(1), DEV: sersic_mixture(4)}
    k_max = max(len(a) for a, _ in mixtures.values())
    amp = np.zeros((len(src.x), k_max))
    var = np.zeros((len(src.x), k_max))
    for kind, (a, v) in mixtures.items():
        sel = src.kind == kind
        amp[sel, : len(a)] = a
        var[sel, : len(v)] = v
    scale = var * (src.r_e_px**2)[:, None]
    theta = np.radians(src.pa_deg)[:, None]
    q2 = (src.axis_ratio**2)[:, None]
    c, s = np.cos(theta), np.sin(theta)
    cxx = scale * (s**2 + q2 * c**2) + psf_var
    cyy = scale * (c**2 + q2 * s**2) + psf_var
    cxy = scale * (1 - q2) * s * c
    return amp, np.stack([cxx, cyy, cxy])


def _stamp_half_width(amp: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Half width (px) enclosing ~3.5 sigma of the widest significant component."""
    spread = np.where(amp > 0.02, np.maximum(cov[0], cov[1]), 0.0).max(axis=1)
    need = np.ceil(3.5 * np.sqrt(spread))
    return _STAMP_HALF[np.minimum(np.searchsorted(_STAMP_HALF, need), len(_STAMP_HALF) - 1)]


def stamp_profiles(dx: np.ndarray, dy: np.ndarray, inv: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """Normalised stamps (m, w, w) of m objects from their pixel offsets dx, dy (m, w).

    inv (3, m, K) holds each component's inverse covariance (xx, yy, xy), norm (m, K) its
    amplitude. The arrays are laid out component-major and object-last, (K, w, w, m), so that
    every full-size operation runs over long contiguous rows (1.5x faster than (m, K, w, w),
    whose inner rows are w long); each pixel gets the same operations in the same order, so
    the images are bit for bit those of the plain layout (tests/simulate/test_render.py).
    """
    ixx, iyy, ixy = (np.ascontiguousarray(t.T)[:, None, :] for t in inv)  # (K, 1, m)
    dx_t, dy_t = np.ascontiguousarray(dx.T), np.ascontiguousarray(dy.T)  # (w, m)
    across = ixx * dx_t**2  # (K, w_x, m)
    down = iyy * dy_t**2  # (K, w_y, m)
    cross = 2 * ixy * dx_t  # (K, w_x, m)
    q = np.add(across[:, None], down[:, :, None])  # (K, w_y, w_x, m)
    q += cross[:, None] * dy_t[None, :, None]
    q *= -0.5
    np.exp(q, out=q)
    q *= np.ascontiguousarray(norm.T)[:, None, None, :]
    prof = q[0].copy()
    for component in q[1:]:  # summed in component order, as a reduction over K would
        prof += component
    prof = np.ascontiguousarray(prof.transpose(2, 0, 1))  # (m, w_y, w_x)
    prof /= prof.sum(axis=(1, 2), keepdims=True)
    return prof


def render(src: LightProfiles, size: int, psf_sigma_px: float) -> np.ndarray:
    """Noise-free images (bands, size, size) of all sources."""
    n_bands = src.flux.shape[1]
    image = np.zeros((n_bands, size * size))
    if len(src.x) == 0:
        return image.reshape(n_bands, size, size)
    amp, cov = _components(src, psf_sigma_px**2 + 1.0 / 12.0)
    det = cov[0] * cov[1] - cov[2] ** 2
    norm = amp / (2 * np.pi * np.sqrt(det))
    inv = np.stack([cov[1] / det, cov[0] / det, -cov[2] / det])
    half = _stamp_half_width(amp, cov)
    x0, y0 = np.rint(src.x).astype(int), np.rint(src.y).astype(int)
    for h in np.unique(half):
        d = np.arange(-h, h + 1)
        width = len(d)
        group = np.flatnonzero(half == h)
        per_chunk = max(1, _CHUNK // (width * width * amp.shape[1]))
        for i in range(0, len(group), per_chunk):
            idx = group[i : i + per_chunk]
            px = x0[idx, None] + d  # (m, w)
            py = y0[idx, None] + d
            prof = stamp_profiles(
                px - src.x[idx, None], py - src.y[idx, None], inv[:, idx], norm[idx]
            )
            inside = ((px >= 0) & (px < size))[:, None, :] & ((py >= 0) & (py < size))[:, :, None]
            flat = (py[:, :, None] * size + px[:, None, :])[inside]
            values = prof[inside]
            owner = np.broadcast_to(np.arange(len(idx))[:, None, None], inside.shape)[inside]
            for b in range(n_bands):
                image[b] += np.bincount(
                    flat, weights=values * src.flux[idx, b][owner], minlength=size * size
                )
    return image.reshape(n_bands, size, size)


def sky_sigma(depth_mag: np.ndarray, psf_sigma_px: float) -> np.ndarray:
    """Per-pixel sky noise (nanomaggies) giving 5-sigma point sources at `depth_mag`."""
    nea = 4 * np.pi * (psf_sigma_px**2 + 1.0 / 12.0)
    return 10 ** (-0.4 * (np.asarray(depth_mag) - 22.5)) / (5.0 * np.sqrt(nea))
