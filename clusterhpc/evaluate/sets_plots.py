"""Figures of the catalogue models' evaluation (PNG, Agg): predicted against true values,
residuals against true z, calibration of the predicted σ, detection ROC, centre offsets."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clusterhpc.evaluate.plots import finish_axes, plt


def plot_predicted_vs_true(
    panels: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    path: Path,
    max_errorbars: int = 150,
    seed: int = 0,
) -> None:
    """One panel per label (true, predicted mean, σ): every point, a fixed random subset of
    at most `max_errorbars` with ±1 σ bars, and the 1:1 line."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.3), squeeze=False)
    rng = np.random.default_rng(seed)
    for ax, (label, (true, mean, sigma)) in zip(axes[0], panels.items(), strict=True):
        ax.plot(true, mean, ".", ms=2, alpha=0.4, color="C0", label="model")
        shown = rng.choice(len(true), size=min(len(true), max_errorbars), replace=False)
        ax.errorbar(
            true[shown],
            mean[shown],
            yerr=sigma[shown],
            fmt="none",
            lw=0.6,
            color="C1",
            alpha=0.7,
            label=f"±1 σ ({len(shown)} shown)",
        )
        finite = np.concatenate([true, mean])
        finite = finite[np.isfinite(finite)]
        if len(finite):
            span = [finite.min(), finite.max()]
            ax.plot(span, span, color="k", lw=0.8, ls=":", label="1:1")
        ax.set(xlabel=f"true {label}", ylabel=f"predicted {label}")
    finish_axes(fig, list(axes[0]), path, "upper left")


def _binned_median(x: np.ndarray, y: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, ...]:
    """Bin centres, median, 16th and 84th percentiles of y in bins of x (NaN where empty)."""
    which = np.digitize(x, edges) - 1
    stats = np.full((3, len(edges) - 1), np.nan)
    for k in range(len(edges) - 1):
        inside = y[which == k]
        if len(inside):
            stats[:, k] = np.percentile(inside, [50, 16, 84])
    return (edges[:-1] + edges[1:]) / 2, *stats


def plot_residuals_vs_z(
    z_true: np.ndarray,
    residuals: dict[str, np.ndarray],
    ylabel: str,
    edges: list[float],
    path: Path,
) -> None:
    """Residuals against true z: the first predictor's points and 16-84 % band, and the
    binned median of every predictor (model first, then its baselines)."""
    fig, ax = plt.subplots(figsize=(6.5, 4.3))
    edges_array = np.asarray(edges, np.float64)
    for j, (label, residual) in enumerate(residuals.items()):
        mid, median, lo, hi = _binned_median(z_true, residual, edges_array)
        if j == 0:
            ax.plot(z_true, residual, ".", ms=2, alpha=0.3, color="C0")
            ax.fill_between(mid, lo, hi, color="C0", alpha=0.2, label=f"{label}: 16-84 %")
        ax.plot(mid, median, "o-", ms=3, color=f"C{j}", label=f"{label}: median")
    ax.axhline(0, color="k", lw=0.8, ls=":")
    ax.set(xlabel="true z", ylabel=ylabel)
    finish_axes(fig, [ax], path, "best", fontsize=7)


def plot_calibration(tables: dict[str, dict], path: Path) -> None:
    """Observed fraction of truths within k σ against k per target (`calibration` tables),
    with the Gaussian expectation (1-D, and 2-D for the centre)."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    expected_drawn = set()
    for j, (label, table) in enumerate(tables.items()):
        curve = table["curve"]
        ax.plot(curve["k"], curve["observed"], "o-", ms=3, color=f"C{j}", label=label)
        if table["dims"] not in expected_drawn:
            expected_drawn.add(table["dims"])
            style = "--" if table["dims"] == 1 else "-."
            ax.plot(
                curve["k"],
                curve["expected"],
                style,
                color="0.4",
                label=f"Gaussian ({table['dims']}-D)",
            )
    ax.set(xlabel="k (σ)", ylabel="fraction of truths within k σ", ylim=(0, 1.02))
    finish_axes(fig, [ax], path, "lower right")


def plot_roc(curves: dict[str, dict], path: Path) -> None:
    """ROC curves (`roc_curve` results) of set detection, model and baselines."""
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for j, (label, roc) in enumerate(curves.items()):
        ax.plot(roc["fpr"], roc["tpr"], color=f"C{j}", label=f"{label} (AUC {roc['auc']:.3f})")
    ax.plot([0, 1], [0, 1], color="0.6", ls=":", label="chance")
    ax.set(xlabel="false-positive rate", ylabel="completeness (TPR)", title="set detection")
    finish_axes(fig, [ax], path, "lower right")


def plot_centre_offsets(offsets: dict[str, np.ndarray], path: Path, bins: int = 40) -> None:
    """Histograms of the centre offset (arcsec) of the model and its baselines, up to the
    largest 99th percentile."""
    fig, ax = plt.subplots(figsize=(6, 4))
    finite = {k: v[np.isfinite(v)] for k, v in offsets.items()}
    top = max((np.percentile(v, 99) for v in finite.values() if len(v)), default=1.0)
    edges = np.linspace(0, max(top, 1e-6), bins + 1)
    for j, (label, values) in enumerate(finite.items()):
        median = np.median(values) if len(values) else np.nan
        ax.hist(
            np.clip(values, 0, edges[-1]),
            bins=edges,
            histtype="step",
            color=f"C{j}",
            label=f"{label} (median {median:.1f}″)",
        )
    ax.set(xlabel="offset from the true centre (arcsec)", ylabel="sets")
    finish_axes(fig, [ax], path, "upper right")
