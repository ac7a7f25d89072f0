"""Scores of a binary classifier: ROC and PR curves with their areas, a threshold at a fixed
false-positive rate, completeness in bins, calibration (reliability) and z metrics.

Conventions: labels are 1 (cluster) / 0 (empty field); an example is called positive when
its score is >= the threshold. Ties in the scores are handled as one step of the curves.
"""

from __future__ import annotations

import numpy as np

from clusterhpc.evaluate.metrics import redshift_scores, wilson


def _counts(labels: np.ndarray, scores: np.ndarray):
    """Distinct thresholds (descending) and true/false positives called at each."""
    labels = np.asarray(labels, bool)
    scores = np.asarray(scores, np.float64)
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last row of each distinct score
    tp = np.cumsum(y)[last]
    fp = np.cumsum(~y)[last]
    return s[last], tp, fp


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> dict:
    """False- and true-positive rates from the strictest threshold down (starting at (0, 0)),
    the thresholds, and the area under the curve (trapezoids: ties count one half)."""
    thresholds, tp, fp = _counts(labels, scores)
    n_pos, n_neg = int(np.sum(labels)), len(labels) - int(np.sum(labels))
    if not n_pos or not n_neg:
        raise ValueError(f"ROC needs both classes ({n_pos} positives, {n_neg} negatives)")
    tpr = np.r_[0.0, tp / n_pos]
    fpr = np.r_[0.0, fp / n_neg]
    return {
        "fpr": fpr,
        "tpr": tpr,
        "thresholds": np.r_[np.inf, thresholds],
        "auc": float(np.trapz(tpr, fpr)),
    }


def pr_curve(labels: np.ndarray, scores: np.ndarray) -> dict:
    """Precision and recall at each distinct threshold, and the average precision
    AP = sum over thresholds of (R_k - R_{k-1}) P_k (step integral, no interpolation)."""
    thresholds, tp, fp = _counts(labels, scores)
    n_pos = int(np.sum(labels))
    if not n_pos:
        raise ValueError("precision-recall needs at least one positive")
    precision = tp / (tp + fp)
    recall = tp / n_pos
    ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return {"precision": precision, "recall": recall, "thresholds": thresholds, "ap": ap}


def threshold_at_fpr(labels: np.ndarray, scores: np.ndarray, rate: float) -> float:
    """The lowest threshold whose false-positive rate is at most `rate` (so that the most
    clusters are kept at that rate); above every score when even the strictest exceeds it."""
    roc = roc_curve(labels, scores)
    allowed = np.flatnonzero(roc["fpr"] <= rate)
    threshold = roc["thresholds"][allowed[-1]]
    return float(np.nextafter(np.max(scores), np.inf)) if np.isinf(threshold) else float(threshold)


def rates_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    """Completeness (TPR), false-positive rate and purity at a threshold, with Wilson 68 %
    intervals."""
    labels = np.asarray(labels, bool)
    called = np.asarray(scores) >= threshold
    out = {}
    for name, k, n in (
        ("completeness", np.sum(called & labels), np.sum(labels)),
        ("false_positive_rate", np.sum(called & ~labels), np.sum(~labels)),
        ("purity", np.sum(called & labels), np.sum(called)),
    ):
        lo, hi = wilson(k, n)
        value = float(k / n) if n else None
        out[name] = value
        out[f"{name}_err"] = [float(lo), float(hi)] if n else [None, None]
        out[f"n_{name}"] = int(n)
    return out


def reliability(labels: np.ndarray, probs: np.ndarray, n_bins: int = 10) -> dict:
    """Calibration in equal-width probability bins: mean predicted probability, observed
    cluster fraction, counts; and the expected calibration error (count-weighted |gap|)."""
    probs = np.asarray(probs, np.float64)
    labels = np.asarray(labels, np.float64)
    edges = np.linspace(0, 1, n_bins + 1)
    which = np.clip(np.digitize(probs, edges) - 1, 0, n_bins - 1)
    n = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_prob = np.bincount(which, probs, n_bins) / n
        observed = np.bincount(which, labels, n_bins) / n
    gap = np.where(n > 0, np.abs(mean_prob - observed), 0.0)
    return {
        "lo": edges[:-1].tolist(),
        "hi": edges[1:].tolist(),
        "n": n.tolist(),
        "mean_prob": mean_prob.tolist(),
        "observed": observed.tolist(),
        "ece": float(np.sum(n * gap) / max(n.sum(), 1)),
    }


def redshift_metrics(
    z_true: np.ndarray, z_pred: np.ndarray, z_sigma: np.ndarray, outlier: float
) -> dict:
    """Bias, σ_NMAD, outlier fraction of Δz/(1+z) and the median of |Δz| / σ (≈ 0.67 when
    the predicted σ is right)."""
    scores = redshift_scores(z_true, z_pred, outlier)
    pulls = np.abs(np.asarray(z_pred) - np.asarray(z_true)) / np.asarray(z_sigma)
    scores["median_abs_pull"] = float(np.median(pulls)) if len(pulls) else None
    return scores
