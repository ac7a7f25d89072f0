"""Scores of the catalogue models' per-set predictions, for the model and baselines alike.

Regression targets (z, lnlam = ln λ, lnmass = ln M, centre) are scored on the member sets
(`is_cluster`) whose true value is known; a member set with an unknown truth (NaN ln M) is
left out and counted. Figures:

- z: `redshift_scores` of Δz/(1+z): bias (median), mean, `sigma_nmad`, outlier fraction;
- ln λ, ln M: residual Δ = predicted - true: bias (median), mean, `scatter` (std) and the
  robust `sigma_nmad` = 1.4826 MAD;
- centre: distance of the predicted to the true centre in arcsec (both are tangent-plane
  offsets from the same reference point, `set_geometry`): median, mean, 68th and 95th
  percentiles;
- calibration of the predicted σ: the fraction of truths within 1 σ and 2 σ, expected 0.683 and
  0.954 for a Gaussian; for the 2-D centre (one σ per axis) within the radii 1.515 σ and
  2.486 σ that hold those fractions of an isotropic 2-D Gaussian;
- detection: ROC AUC and average precision, and purity at a fixed completeness (0.90, 0.95)
  with the threshold chosen on a tuning set, next to the report set's own curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np
from scipy.special import erf, erfinv

from clusterhpc.data.set_features import set_targets
from clusterhpc.evaluate.classifier_metrics import pr_curve, rates_at, roc_curve
from clusterhpc.evaluate.metrics import ln_scores, redshift_scores
from clusterhpc.io.set_shards import MemberSets

TARGETS = ("z", "lnlam", "lnmass", "centre")
# the figure that says which predictor is better (lower is better), per target
HEADLINE = {"z": "sigma_nmad", "lnlam": "scatter", "lnmass": "scatter", "centre": "median_arcsec"}
COMPLETENESS_LEVELS = (0.90, 0.95)
CURVE_K = tuple(0.25 * k for k in range(1, 15))  # 0.25 ... 3.5


def set_truth(sets: MemberSets) -> dict[str, np.ndarray]:
    """True z, lnlam, lnmass (NaN: unknown), centre (n, 2) arcmin and is_cluster per set."""
    truth = set_targets(sets, list(TARGETS))
    truth["is_cluster"] = np.asarray(sets.meta["is_cluster"], bool)
    return truth


def scored_rows(truth: dict[str, np.ndarray], target: str) -> np.ndarray:
    """(n,) bool: member sets whose true `target` is known."""
    values = truth[target].reshape(len(truth["is_cluster"]), -1)
    return truth["is_cluster"] & np.isfinite(values).all(axis=1)


def centre_distance_arcsec(true: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """(n,) distance in arcsec between (n, 2) arcmin offsets."""
    d = np.asarray(pred, np.float64) - np.asarray(true, np.float64)
    return 60.0 * np.hypot(d[:, 0], d[:, 1])


def centre_scores(true: np.ndarray, pred: np.ndarray) -> dict:
    """Median, mean, 68th and 95th percentile of the centre offset (arcsec)."""
    r = centre_distance_arcsec(true, pred)
    keys = ("median_arcsec", "mean_arcsec", "p68_arcsec", "p95_arcsec")
    if not len(r):
        return {"n": 0, **dict.fromkeys(keys)}
    values = (np.median(r), r.mean(), np.percentile(r, 68.27), np.percentile(r, 95.45))
    return {"n": len(r), **{k: float(v) for k, v in zip(keys, values, strict=True)}}


def target_scores(target: str, true: np.ndarray, pred: np.ndarray, outlier: float) -> dict:
    """The figures of one target (see the module doc)."""
    if target == "z":
        return redshift_scores(true, pred, outlier)
    if target == "centre":
        return centre_scores(true, pred)
    if target in ("lnlam", "lnmass"):
        return ln_scores(true, pred)
    raise ValueError(f"unknown set target {target!r}")


def binned_scores(
    target: str,
    true: np.ndarray,
    pred: np.ndarray,
    by: np.ndarray,
    edges: Sequence[float],
    outlier: float,
) -> list[dict]:
    """`target_scores` in bins [lo, hi) of `by` (say true z or true λ), with their counts."""
    which = np.digitize(by, edges) - 1
    rows = []
    for k, (lo, hi) in enumerate(pairwise(edges)):
        inside = which == k
        scores = target_scores(target, true[inside], pred[inside], outlier)
        rows.append({"lo": float(lo), "hi": float(hi), **scores})
    return rows


def better(target: str, model: dict, other: dict) -> bool | None:
    """Whether `model` has the lower headline figure of `target` (None when one is missing)."""
    key = HEADLINE[target]
    if model.get(key) is None or other.get(key) is None:
        return None
    return bool(model[key] < other[key])


def expected_within(k: np.ndarray | float, dims: int) -> np.ndarray:
    """Probability that a Gaussian of σ per axis falls within k σ (dims 1) or radius k σ
    (dims 2, isotropic)."""
    k = np.asarray(k, np.float64)
    return erf(k / np.sqrt(2)) if dims == 1 else 1 - np.exp(-0.5 * k**2)


def radius_holding(fraction: float, dims: int) -> float:
    """The k with `expected_within(k, dims)` = fraction."""
    if dims == 1:
        return float(np.sqrt(2) * erfinv(fraction))
    return float(np.sqrt(-2 * np.log1p(-fraction)))


def pulls(true: np.ndarray, mean: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """(n,) |true - mean| / σ, the 2-D distance for (n, 2) values."""
    d = np.asarray(true, np.float64) - np.asarray(mean, np.float64)
    distance = np.hypot(d[:, 0], d[:, 1]) if d.ndim == 2 else np.abs(d)
    return distance / np.asarray(sigma, np.float64)


def calibration(true: np.ndarray, mean: np.ndarray, sigma: np.ndarray) -> dict:
    """Observed fraction of truths within 1 σ and 2 σ against the Gaussian expectation, and
    the curve of that fraction against k."""
    dims = 2 if np.ndim(true) == 2 else 1
    p = pulls(true, mean, sigma)
    out: dict = {"n": len(p), "dims": dims}
    for k in (1, 2):
        expected = float(erf(k / np.sqrt(2)))
        radius = radius_holding(expected, dims)
        out[f"within_{k}sigma"] = float(np.mean(p <= radius)) if len(p) else None
        out[f"expected_{k}sigma"] = expected
        out[f"radius_{k}sigma"] = radius
    k = np.asarray(CURVE_K)
    observed = (p[:, None] <= k[None]).mean(axis=0) if len(p) else np.full(len(k), np.nan)
    out["median_pull"] = float(np.median(p)) if len(p) else None
    out["curve"] = {
        "k": k.tolist(),
        "observed": observed.tolist(),
        "expected": expected_within(k, dims).tolist(),
    }
    return out


def detection_scores(labels: np.ndarray, probs: np.ndarray) -> dict:
    """ROC AUC and average precision of set detection (labels: is a member set)."""
    labels = np.asarray(labels, bool)
    n_pos = int(labels.sum())
    out: dict = {"n": len(labels), "n_clusters": n_pos}
    if not n_pos or n_pos == len(labels):
        return {**out, "unavailable": "detection needs member and non-member sets"}
    return {
        **out,
        "auc": roc_curve(labels, probs)["auc"],
        "ap": pr_curve(labels, probs)["ap"],
    }


def threshold_at_completeness(labels: np.ndarray, scores: np.ndarray, level: float) -> float:
    """The highest threshold whose completeness (TPR) is at least `level`."""
    roc = roc_curve(labels, scores)
    return float(roc["thresholds"][np.argmax(roc["tpr"] >= level)])


def purity_at_completeness(
    tune_labels: np.ndarray | None,
    tune_probs: np.ndarray | None,
    labels: np.ndarray,
    probs: np.ndarray,
    levels: Sequence[float] = COMPLETENESS_LEVELS,
) -> list[dict]:
    """Per completeness level: the threshold reaching it on the tune set and the report set's
    completeness and purity there (`rates_at`, Wilson 68 % intervals); and the purity of the
    report set's own curve at that completeness (its threshold chosen on itself: optimistic).
    Without a tune set of both kinds only the own-curve figures are given."""
    tuned = tune_labels is not None and tune_probs is not None
    tuned = tuned and 0 < np.sum(tune_labels) < len(tune_labels)
    rows = []
    for level in levels:
        own = threshold_at_completeness(labels, probs, level)
        row: dict = {
            "completeness_target": float(level),
            "threshold_own_curve": own,
            "purity_own_curve": rates_at(labels, probs, own)["purity"],
        }
        if not tuned:
            row |= {"threshold": None, "unavailable": "no tune set with both kinds of sets"}
        else:
            threshold = threshold_at_completeness(tune_labels, tune_probs, level)
            row |= {"threshold": threshold, **rates_at(labels, probs, threshold)}
        rows.append(row)
    return rows
