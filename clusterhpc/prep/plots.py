"""Figures of the prep stages: overlap histograms and the footprint map (PNG, Agg)."""

from __future__ import annotations

import warnings
from pathlib import Path

import healpy as hp
import matplotlib
import numpy as np

from clusterhpc.io.atomic import atomic_path
from clusterhpc.sky.footprint import Footprint

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def plot_overlaps(n_other: np.ndarray, overlap: np.ndarray, path: Path) -> None:
    """Left: images by number of other clusters; right: box fractions covered by others."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    counts = np.bincount(n_other) if n_other.size else np.zeros(1, int)
    left.bar(np.arange(counts.size), counts, color="C0")
    left.set(xlabel="other clusters in the image", ylabel="images", yscale="log")
    right.hist(overlap[overlap > 0], bins=np.linspace(0, 1, 21), color="C1")
    right.set(xlabel="fraction of box covered by other boxes (> 0)", ylabel="boxes")
    fig.tight_layout()
    _save(fig, path)


def plot_footprint(
    footprint: Footprint,
    clusters: tuple[np.ndarray, np.ndarray],
    fields: tuple[np.ndarray, np.ndarray],
    path: Path,
) -> None:
    """Mollweide view of the footprint with clusters (blue) and chosen empty fields (red)."""
    low = hp.ud_grade(footprint.mask.astype(np.float64), min(footprint.nside, 128))
    with warnings.catch_warnings():  # healpy's own matplotlib deprecations
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        hp.mollview(low, title="footprint, clusters, empty fields", cmap="Greys", min=0, max=2,
                    cbar=False)  # fmt: skip
    fig = plt.gcf()
    hp.graticule(dpar=30, dmer=60, alpha=0.3)
    hp.projscatter(*clusters, lonlat=True, s=0.3, c="C0", label=f"{clusters[0].size} clusters")
    hp.projscatter(*fields, lonlat=True, s=0.3, c="C3", label=f"{fields[0].size} empty fields")
    plt.legend(loc="lower right", markerscale=10, fontsize=8)
    _save(fig, path)
