"""Figures of the classifier's evaluation (PNG, Agg): ROC and PR curves, reliability,
a gallery of cutouts with their scores, Grad-CAM maps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clusterhpc.evaluate.plots import finish_axes, image_grid, plt, save_figure


def plot_roc_pr(roc: dict, pr: dict, point: tuple[float, float], path: Path) -> None:
    """ROC (with the operating point: FPR, completeness) and precision-recall side by side."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4))
    left.plot(roc["fpr"], roc["tpr"], color="C0", label=f"AUC = {roc['auc']:.3f}")
    left.plot([0, 1], [0, 1], color="0.6", ls=":", label="chance")
    left.plot(*point, "o", color="C3", label="operating point")
    left.set(xlabel="false-positive rate", ylabel="completeness (TPR)", title="ROC")
    right.plot(pr["recall"], pr["precision"], color="C0", label=f"AP = {pr['ap']:.3f}")
    right.set(xlabel="recall", ylabel="precision", ylim=(0, 1.05), title="precision-recall")
    finish_axes(fig, [left, right], path, "lower right")


def plot_reliability(table: dict, path: Path) -> None:
    """Observed cluster fraction against the mean predicted probability per bin."""
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot([0, 1], [0, 1], color="0.6", ls=":", label="perfect calibration")
    mean = np.array([np.nan if v is None else v for v in table["mean_prob"]], float)
    seen = np.array([np.nan if v is None else v for v in table["observed"]], float)
    ax.plot(mean, seen, "o-", color="C0", label=f"model (ECE = {table['ece']:.3f})")
    for x, y, n in zip(mean, seen, table["n"], strict=True):
        if np.isfinite(y):
            ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(0, 6), fontsize=7)
    ax.set(xlabel="predicted probability", ylabel="fraction of clusters", xlim=(0, 1))
    ax.set(ylim=(0, 1.05))
    finish_axes(fig, [ax], path, "upper left")


@dataclass(frozen=True)
class Cutout:
    image: np.ndarray  # uint8 (H, W, 3), or float (S, S, 3) in [0, 1]
    title: str
    heat: np.ndarray | None = None  # (H, W) Grad-CAM map in [0, 1] drawn over the image


def plot_cutouts(cutouts: list[Cutout], path: Path, title: str, columns: int = 4) -> None:
    """A grid of cutouts with titles (and Grad-CAM maps where given)."""
    if not cutouts:
        return
    fig, axes = image_grid(len(cutouts), columns)
    for ax, cut in zip(axes, cutouts, strict=True):
        ax.imshow(cut.image)
        if cut.heat is not None:
            ax.imshow(cut.heat, cmap="inferno", alpha=0.45, vmin=0, vmax=1)
        ax.set_title(cut.title, fontsize=7)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
