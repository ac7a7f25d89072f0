"""Completeness, purity, false positives on empty fields, binned tables and regression scores.

Definitions (per split, at a score threshold t; predictions below t are dropped):

- a truth box *counts* when its in-image area fraction >= `min_area_fraction`; the others
  are ignored: not required, and a prediction that only matches one is not a false positive;
- likewise an image's ignore regions (visible clusters that are not labels): a prediction
  left unmatched that matches one is neither true nor false (`n_predictions_ignored`);
- completeness = matched counted truths / counted truths inside the selection cuts;
- purity = matched predictions / predictions (empty fields included, ignored ones excluded);
- fp_per_empty_field = unmatched predictions on empty fields / empty fields;
- uncertainties are Wilson score intervals at 1 σ (68.3 %) on the binomial fractions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from astropy.stats import binom_conf_interval
from scipy.special import erf

from clusterhpc.box_geometry import paired_giou
from clusterhpc.evaluate.matching import Criterion, ImageMatch, match_count, match_image
from clusterhpc.evaluate.records import Predictions, Truth

MAD_TO_SIGMA = 1.4826
FULLY_INSIDE = 1 - 1e-4  # in-image area fraction of a box wholly inside its image (float32)


def simet_log10_mass(lam: np.ndarray) -> np.ndarray:
    """log10 M200m [h⁻¹ M☉] from richness (Simet et al. 2017, as in the seed):
    10^14.344 (λ/40)^1.33."""
    return 14.344 + 1.33 * np.log10(np.asarray(lam, np.float64) / 40.0)


def wilson(k: np.ndarray, n: np.ndarray, z: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval (lower, upper) of k successes in n trials at `z` sigma
    (astropy's `binom_conf_interval`), NaN where n = 0."""
    k, n = np.broadcast_arrays(np.rint(k).astype(np.int64), np.rint(n).astype(np.int64))
    lo, hi = np.full(k.shape, np.nan), np.full(k.shape, np.nan)
    some = n > 0
    if np.any(some):
        level = float(erf(z / np.sqrt(2)))
        lo[some], hi[some] = binom_conf_interval(k[some], n[some], level, interval="wilson")
    return lo[()], hi[()]  # numpy scalars for scalar counts


@dataclass(frozen=True)
class MatchSettings:
    mode: str = "optimal"  # optimal | legacy_count
    criterion: Criterion = field(default_factory=Criterion)
    min_area_fraction: float = 0.5


@dataclass(frozen=True)
class SplitMatch:
    """Matching of a whole split at one threshold; flags index the Truth/Predictions rows."""

    threshold: float
    truth_counted: np.ndarray  # bool (M,)
    truth_matched: np.ndarray  # bool (M,)
    pred_kept: np.ndarray  # bool (K,): score >= threshold
    pred_matched: np.ndarray  # bool (K,)
    pred_ignored: np.ndarray  # bool (K,): kept, unmatched, on an ignored truth or region
    pred_on_region: np.ndarray  # bool (K,): kept, unmatched, on an ignore region
    pairs: np.ndarray  # int (k, 2): (prediction row, truth row)

    @property
    def pred_false(self) -> np.ndarray:
        return self.pred_kept & ~self.pred_matched & ~self.pred_ignored


class SplitMatcher:
    """Matches a split at any threshold; pairwise qualities are computed once."""

    def __init__(self, truth: Truth, preds: Predictions, settings: MatchSettings) -> None:
        if truth.n_images != preds.n_images:
            raise ValueError(f"{truth.n_images} truth images but {preds.n_images} predicted")
        self.truth, self.preds, self.settings = truth, preds, settings
        self.counted = truth.weight >= settings.min_area_fraction
        has_truth = (np.diff(truth.offsets) > 0) | (np.diff(truth.ignore_offsets) > 0)
        self.both = np.flatnonzero(has_truth & (np.diff(preds.offsets) > 0))

    def _image(self, i: int, k: int) -> ImageMatch:
        t0, t1 = self.truth.offsets[i], self.truth.offsets[i + 1]
        p0 = self.preds.offsets[i]
        pred = self.preds.boxes[p0 : p0 + k]
        ignore = ~self.counted[t0:t1]
        if self.settings.mode == "legacy_count":
            return match_count(pred, self.truth.boxes[t0:t1], self.truth.central[t0:t1], ignore)
        pixscale = float(self.truth.meta["pixscale"][i])
        return match_image(
            pred,
            self.truth.boxes[t0:t1],
            ignore,
            self.settings.criterion,
            pixscale,
            self.truth.ignore_of(i),
        )

    def at(self, threshold: float) -> SplitMatch:
        truth, preds = self.truth, self.preds
        kept = preds.scores >= threshold
        cum = np.concatenate([[0], np.cumsum(kept)])
        n_kept = cum[preds.offsets[1:]] - cum[preds.offsets[:-1]]  # a prefix: sorted by score
        truth_matched = np.zeros(len(truth.z), bool)
        pred_matched = np.zeros(len(kept), bool)
        pred_ignored = np.zeros(len(kept), bool)
        pred_on_region = np.zeros(len(kept), bool)
        pairs = []
        for i in self.both:
            k = int(n_kept[i])
            if k == 0:
                continue
            t0, p0 = truth.offsets[i], preds.offsets[i]
            m = self._image(int(i), k)
            truth_matched[t0 : truth.offsets[i + 1]] = m.truth_matched
            pred_matched[p0 : p0 + k] = m.pred_matched
            pred_ignored[p0 : p0 + k] = m.pred_ignored
            pred_on_region[p0 : p0 + k] = m.pred_on_region
            pairs.append(m.pairs + np.array([p0, t0]))
        return SplitMatch(
            threshold=float(threshold),
            truth_counted=self.counted,
            truth_matched=truth_matched,
            pred_kept=kept,
            pred_matched=pred_matched,
            pred_ignored=pred_ignored,
            pred_on_region=pred_on_region,
            pairs=np.concatenate(pairs) if pairs else np.zeros((0, 2), int),
        )


@dataclass(frozen=True)
class Selection:
    """Cuts defining the headline completeness sample."""

    lambda_min: float = 20.0
    z_range: tuple[float, float] = (0.1, 0.6)

    def z_ok(self, z: np.ndarray) -> np.ndarray:
        return (z > self.z_range[0]) & (z < self.z_range[1])

    def lambda_ok(self, lam: np.ndarray) -> np.ndarray:
        return lam >= self.lambda_min

    def mask(self, truth: Truth) -> np.ndarray:
        return self.z_ok(truth.z) & self.lambda_ok(truth.lam)


def counts(truth: Truth, preds: Predictions, match: SplitMatch, selection: Selection) -> dict:
    """Headline numbers of one split at one threshold."""
    sample = match.truth_counted & selection.mask(truth)
    n_truth, n_found = int(sample.sum()), int((match.truth_matched & sample).sum())
    n_pred = int((match.pred_kept & ~match.pred_ignored).sum())
    n_true = int(match.pred_matched.sum())
    empty_images = np.asarray(truth.meta["empty"], bool)
    on_empty = empty_images[preds.image_of_box()] if len(preds.scores) else np.zeros(0, bool)
    n_empty = int(empty_images.sum())
    fp_empty = int((match.pred_false & on_empty).sum())
    c_lo, c_hi = wilson(n_found, n_truth)
    p_lo, p_hi = wilson(n_true, n_pred)
    return {
        "score_threshold": match.threshold,
        "completeness": n_found / n_truth if n_truth else float("nan"),
        "completeness_err": [float(c_lo), float(c_hi)],
        "purity": n_true / n_pred if n_pred else float("nan"),
        "purity_err": [float(p_lo), float(p_hi)],
        "fp_per_empty_field": fp_empty / n_empty if n_empty else float("nan"),
        "n_truth": n_truth,
        "n_truth_found": n_found,
        "n_predictions": n_pred,
        "n_predictions_true": n_true,
        "n_predictions_ignored": int(match.pred_ignored.sum()),
        "n_predictions_on_ignore_regions": int(match.pred_on_region.sum()),
        "n_ignore_regions": len(truth.ignore_boxes),
        "n_false_on_empty": fp_empty,
        "n_images": truth.n_images,
        "n_empty_fields": n_empty,
        "giou": giou_summary(truth, preds, match),
        "completeness_by_position": {
            "central": fraction_with_error(match.truth_matched[sample & truth.central]),
            "neighbour": fraction_with_error(match.truth_matched[sample & ~truth.central]),
            "neighbour_inside": fraction_with_error(
                match.truth_matched[sample & ~truth.central & (truth.weight >= FULLY_INSIDE)]
            ),
        },
    }


def fraction_with_error(success: np.ndarray) -> dict:
    """Fraction of True with its 68 % Wilson interval."""
    n, k = len(success), int(success.sum())
    lo, hi = wilson(k, n)
    return {
        "n": n,
        "found": k,
        "value": k / n if n else float("nan"),
        "err": [float(lo), float(hi)],
    }


def giou_summary(truth: Truth, preds: Predictions, match: SplitMatch) -> dict:
    """Mean and median GIoU of the matched pairs (a mean over pairs, not the seed's sum)."""
    if not len(match.pairs):
        return {"n_pairs": 0, "mean": float("nan"), "median": float("nan")}
    values = paired_giou(preds.boxes[match.pairs[:, 0]], truth.boxes[match.pairs[:, 1]])
    return {
        "n_pairs": len(values),
        "mean": float(values.mean()),
        "median": float(np.median(values)),
    }


def sweep(
    matcher: SplitMatcher, thresholds: Sequence[float], selection: Selection
) -> dict[str, list[float]]:
    """Completeness, purity, FP per empty field and counts at every threshold."""
    keys = ("completeness", "purity", "fp_per_empty_field", "n_predictions", "n_truth_found")
    curve: dict[str, list[float]] = {"score_threshold": [float(t) for t in thresholds]}
    curve.update({k: [] for k in keys})
    for t in thresholds:
        row = counts(matcher.truth, matcher.preds, matcher.at(t), selection)
        for k in keys:
            curve[k].append(row[k])
    return curve


def operating_point(curve: dict[str, list[float]]) -> dict[str, float]:
    """Thresholds maximising min(C, P) and where C = P (linear interpolation on the grid)."""
    t = np.asarray(curve["score_threshold"], np.float64)
    c = np.nan_to_num(np.asarray(curve["completeness"], np.float64))
    p = np.nan_to_num(np.asarray(curve["purity"], np.float64))
    low = np.minimum(c, p)
    best = int(np.argmax(low))
    diff = c - p
    equal = float(t[best])
    cross = np.flatnonzero((diff[:-1] >= 0) & (diff[1:] < 0))
    if len(cross):
        j = int(cross[0])
        frac = diff[j] / (diff[j] - diff[j + 1])
        equal = float(t[j] + frac * (t[j + 1] - t[j]))
    return {"max_min": float(t[best]), "max_min_value": float(low[best]), "equal": equal}


def binned_fraction(values: np.ndarray, success: np.ndarray, edges: Sequence[float]) -> dict:
    """Counts, fraction and Wilson 1σ interval of `success` in bins of `values`."""
    edges = np.asarray(edges, np.float64)
    which = np.digitize(values, edges) - 1
    inside = (which >= 0) & (which < len(edges) - 1)
    n = np.bincount(which[inside], minlength=len(edges) - 1)
    k = np.bincount(which[inside], weights=success[inside], minlength=len(edges) - 1)
    lo, hi = wilson(k, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = k / n
    return {
        "lo": edges[:-1].tolist(),
        "hi": edges[1:].tolist(),
        "n": n.astype(int).tolist(),
        "k": k.astype(int).tolist(),
        "fraction": _clean(frac),
        "err_lo": _clean(lo),
        "err_hi": _clean(hi),
    }


def binned_completeness(
    truth: Truth,
    match: SplitMatch,
    selection: Selection,
    bins: dict[str, Sequence[float]],
) -> dict[str, dict]:
    """Completeness in bins of z (with the λ cut), of λ and log10 M (with the z cut)."""
    counted = match.truth_counted
    found = match.truth_matched.astype(np.float64)
    z_sample = counted & selection.lambda_ok(truth.lam)
    lam_sample = counted & selection.z_ok(truth.z)
    return {
        "z": binned_fraction(truth.z[z_sample], found[z_sample], bins["z"]),
        "lambda": binned_fraction(truth.lam[lam_sample], found[lam_sample], bins["lambda"]),
        "log10_mass": binned_fraction(
            simet_log10_mass(truth.lam[lam_sample]), found[lam_sample], bins["log10_mass"]
        ),
    }


def companion_separation_arcmin(truth: Truth) -> np.ndarray:
    """Per truth box: its centre's distance (arcmin) from its image's centre, where the
    cluster the cutout is centred on lies (box centres of the clipped boxes)."""
    height, width = truth.image_shape
    image = truth.image_of_box()
    x = (truth.boxes[:, 0] + truth.boxes[:, 2]) / 2 - width / 2
    y = (truth.boxes[:, 1] + truth.boxes[:, 3]) / 2 - height / 2
    scale = np.asarray(truth.meta["pixscale"], np.float64)[image]
    return np.hypot(x, y) * scale / 60.0


def companion_completeness(
    truth: Truth, match: SplitMatch, selection: Selection, edges: Sequence[float]
) -> dict:
    """Completeness of the selected clusters other than the one a cutout is centred on, in
    bins of their separation from it (arcmin): where close pairs merge into one box."""
    sample = match.truth_counted & selection.mask(truth) & ~truth.central
    found = match.truth_matched.astype(np.float64)
    return binned_fraction(companion_separation_arcmin(truth)[sample], found[sample], edges)


def binned_purity(preds: Predictions, match: SplitMatch, name: str, edges: Sequence[float]):
    """Purity in bins of a predicted quantity ('z' or 'lam' from a regression head)."""
    col = preds.value_names.index(name)
    values = preds.values[:, col]
    if name == "lam":
        values = np.exp(values)
    use = match.pred_kept & ~match.pred_ignored
    return binned_fraction(values[use], match.pred_matched[use].astype(np.float64), edges)


def redshift_scores(z_true: np.ndarray, z_pred: np.ndarray, outlier: float) -> dict:
    """Bias (median), mean, σ_NMAD = 1.4826 MAD and outlier fraction of Δz/(1+z)."""
    dz = (np.asarray(z_pred) - np.asarray(z_true)) / (1 + np.asarray(z_true))
    if not len(dz):
        return {"n": 0, "bias": None, "mean": None, "sigma_nmad": None, "outlier_fraction": None}
    median = float(np.median(dz))
    return {
        "n": len(dz),
        "bias": median,
        "mean": float(dz.mean()),
        "sigma_nmad": float(MAD_TO_SIGMA * np.median(np.abs(dz - median))),
        "outlier_fraction": float(np.mean(np.abs(dz) > outlier)),
    }


def ln_scores(true: np.ndarray, pred: np.ndarray) -> dict:
    """Bias (median), mean, scatter (std) and σ_NMAD of Δ = pred - true (ln quantities)."""
    d = np.asarray(pred, np.float64) - np.asarray(true, np.float64)
    if not len(d):
        return {"n": 0, "bias": None, "mean": None, "scatter": None, "sigma_nmad": None}
    median = float(np.median(d))
    return {
        "n": len(d),
        "bias": median,
        "mean": float(d.mean()),
        "scatter": float(d.std()),
        "sigma_nmad": float(MAD_TO_SIGMA * np.median(np.abs(d - median))),
    }


def richness_scores(lam_true: np.ndarray, ln_lam_pred: np.ndarray) -> dict:
    """Bias (median), scatter (std) and σ_NMAD of Δ ln λ."""
    s = ln_scores(np.log(np.asarray(lam_true, np.float64)), ln_lam_pred)
    names = {"bias": "bias_ln", "scatter": "scatter_ln", "sigma_nmad": "sigma_nmad_ln"}
    return {"n": s["n"], **{new: s[old] for old, new in names.items()}}


def value_scores(
    name: str,
    z_true: np.ndarray,
    lam_true: np.ndarray,
    pred: np.ndarray,
    outlier: float,
    z_edges: Sequence[float],
) -> dict:
    """Scores of predictions of 'z' (z) or 'lam' (ln λ), overall and in bins of true z."""
    which = np.digitize(z_true, z_edges) - 1

    def score(sel: np.ndarray) -> dict:
        if name == "z":
            return redshift_scores(z_true[sel], pred[sel], outlier)
        return richness_scores(lam_true[sel], pred[sel])

    return {
        "all": score(np.ones(len(pred), bool)),
        "binned_z": [
            {"lo": float(z_edges[b]), "hi": float(z_edges[b + 1]), **score(which == b)}
            for b in range(len(z_edges) - 1)
        ],
    }


def regression_scores(
    truth: Truth,
    preds: Predictions,
    match: SplitMatch,
    outlier: float,
    z_edges: Sequence[float],
    baselines: dict[str, dict[str, np.ndarray]] | None = None,
) -> dict:
    """Regression-head scores on the matched pairs, overall and in bins of true z.

    `baselines` maps a value name to {key: prediction per truth row, NaN where there is none};
    each is scored, with the model, on the matched clusters it has a prediction for."""
    if not preds.value_names or not len(match.pairs):
        return {}
    p, t = match.pairs[:, 0], match.pairs[:, 1]
    z_true, lam_true = truth.z[t], truth.lam[t]
    out: dict[str, dict] = {}
    for col, name in enumerate(preds.value_names):
        pred = preds.values[p, col]
        out[name] = value_scores(name, z_true, lam_true, pred, outlier, z_edges)
        for key, values in (baselines or {}).get(name, {}).items():
            has = np.isfinite(values[t])
            z_has, lam_has = z_true[has], lam_true[has]
            out[name][key] = {
                "model": value_scores(name, z_has, lam_has, pred[has], outlier, z_edges),
                "baseline": value_scores(name, z_has, lam_has, values[t][has], outlier, z_edges),
            }
    return out


def class_scores(true_class: np.ndarray, pred_class: np.ndarray, edges: Sequence[float]) -> dict:
    """Confusion matrix (rows: true z bin, columns: predicted) and accuracy, overall and per
    true z bin, with Wilson 68 % intervals."""
    n_classes = len(edges) - 1
    true_class, pred_class = np.asarray(true_class, int), np.asarray(pred_class, int)
    confusion = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(confusion, (true_class, pred_class), 1)
    n, k = confusion.sum(axis=1), np.diag(confusion)
    lo, hi = wilson(k, n)
    total, correct = int(n.sum()), int(k.sum())
    all_lo, all_hi = wilson(correct, total)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = k / n
    return {
        "n": total,
        "accuracy": correct / total if total else float("nan"),
        "accuracy_err": [float(all_lo), float(all_hi)],
        "confusion": confusion.tolist(),
        "binned_z": [
            {
                "lo": float(edges[b]),
                "hi": float(edges[b + 1]),
                "n": int(n[b]),
                "correct": int(k[b]),
                "accuracy": _clean(accuracy[b : b + 1])[0],
                "err": _clean(np.array([lo[b], hi[b]])),
            }
            for b in range(n_classes)
        ],
    }


def _clean(values: np.ndarray) -> list[float | None]:
    """JSON-friendly: NaN -> None."""
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(values, np.float64)]
