"""Evaluation figures (PNG, Agg): binned completeness, threshold sweeps, PR curve, gallery."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np

from clusterhpc.io.atomic import atomic_path

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle


def save_figure(fig, path: Path) -> None:
    """Write `fig` to `path` as PNG (atomically) and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def finish_axes(fig, axes: list, path: Path, legend_loc: str, fontsize: int = 8) -> None:
    """Grid and legend on each of `axes`, then lay out `fig` and save it to `path`."""
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=fontsize, loc=legend_loc)
    fig.tight_layout()
    save_figure(fig, path)


def _nan(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], np.float64)


def plot_binned(table: dict, xlabel: str, path: Path, title: str = "") -> None:
    """Fraction per bin with Wilson 1σ error bars; bin counts written above the points."""
    lo, hi = np.asarray(table["lo"]), np.asarray(table["hi"])
    mid, frac = (lo + hi) / 2, _nan(table["fraction"])
    err = np.abs(np.stack([frac - _nan(table["err_lo"]), _nan(table["err_hi"]) - frac]))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.errorbar(mid, frac, yerr=err, xerr=(hi - lo) / 2, fmt="o", capsize=2, color="C0")
    for x, y, n in zip(mid, frac, table["n"], strict=True):
        if np.isfinite(y):
            ax.annotate(
                str(n),
                (x, y),
                textcoords="offset points",
                xytext=(0, 6),
                fontsize=7,
                ha="center",
                color="0.4",
            )
    ax.set(xlabel=xlabel, ylabel="completeness", ylim=(0, 1.08), title=title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


def plot_thresholds(curves: dict[str, dict], threshold: float, path: Path) -> None:
    """Completeness and purity against the score threshold for each split; the chosen one."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for j, (name, curve) in enumerate(curves.items()):
        style = "-" if j == 0 else "--"
        t = curve["score_threshold"]
        ax.plot(t, _nan(curve["completeness"]), style, color="C0", label=f"completeness ({name})")
        ax.plot(t, _nan(curve["purity"]), style, color="C3", label=f"purity ({name})")
    ax.axvline(threshold, color="k", lw=0.8, ls=":", label=f"threshold {threshold:.2f}")
    ax.set(xlabel="score threshold", ylabel="fraction", ylim=(0, 1.05))
    finish_axes(fig, [ax], path, "lower left", fontsize=7)


def plot_precision_recall(
    recall: np.ndarray, precision: np.ndarray, ap: float, point: tuple[float, float], path: Path
) -> None:
    """Raw and interpolated precision-recall at IoU 0.5, and the operating point."""
    fig, ax = plt.subplots(figsize=(5, 4.5))
    envelope = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
    ax.plot(recall, precision, color="0.7", lw=0.8, label="raw")
    ax.plot(recall, envelope, color="C0", label=f"interpolated (AP50 = {ap:.3f})")
    ax.plot(*point, "o", color="C3", label="operating point")
    ax.set(
        xlabel="recall (completeness, all truths)",
        ylabel="precision",
        xlim=(0, 1.02),
        ylim=(0, 1.05),
    )
    finish_axes(fig, [ax], path, "lower left")


@dataclass(frozen=True)
class Panel:
    """One gallery image with what to draw on it."""

    image: np.ndarray  # uint8 (H, W, 3)
    truth: np.ndarray  # (n, 4) xyxy
    pred: np.ndarray  # (m, 4) xyxy
    scores: np.ndarray  # (m,)
    pred_matched: np.ndarray  # bool (m,)
    members: np.ndarray  # (k, 2) x, y pixel positions of member galaxies
    title: str


def image_grid(n: int, columns: int) -> tuple:
    """A figure with `n` image panels, `columns` across, their axes off: (fig, the n axes)."""
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3.1 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    return fig, axes.ravel()[:n]


def plot_gallery(panels: list[Panel], path: Path, columns: int = 4) -> None:
    """Truth boxes (green), matched (yellow) / false (red) detections with scores, members."""
    if not panels:
        return
    fig, axes = image_grid(len(panels), columns)
    for ax, panel in zip(axes, panels, strict=True):
        height, width = panel.image.shape[:2]
        ax.imshow(panel.image, extent=(0, width, height, 0))
        if len(panel.members):
            ax.scatter(*panel.members.T, s=14, facecolors="none", edgecolors="tab:red", lw=0.6)
        for x1, y1, x2, y2 in panel.truth:
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec="lime", lw=1.2))
        for (x1, y1, x2, y2), s, ok in zip(
            panel.pred, panel.scores, panel.pred_matched, strict=True
        ):
            colour = "yellow" if ok else "red"
            ax.add_patch(
                Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec=colour, lw=1.0, ls="--")
            )
            ax.text(x1, y1, f"{s:.2f}", color=colour, fontsize=6, va="bottom")
        ax.set(xlim=(0, width), ylim=(height, 0))
        ax.set_title(panel.title, fontsize=7)
    fig.suptitle(
        "truth (green), detections matched (yellow) / false (red), members (circles)", fontsize=8
    )
    fig.tight_layout()
    save_figure(fig, path)
