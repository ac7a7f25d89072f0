"""Scores of the class and regression heads on the matched clusters, next to baselines.

Every baseline predicts from the catalogue alone and is scored on the same matched clusters
as the model (those it has a prediction for):

- `baseline_constant`: the median true z (ln λ) of the tune split's clusters, for everyone;
- `baseline_member_photoz` (z): the median photo-z of the cluster's members (the packed member
  column `evaluate.baseline_photoz`);
- `baseline_member_count` (ln λ): ln λ = a + b ln N of the member count N, a and b fitted by
  least squares on the tune split's clusters (never on the reported ones);
- class head: `baseline_majority` (the tune split's most frequent class) and
  `baseline_member_photoz` (the class of the median member photo-z).

Members are packed per image for the cluster it is centred on, so a cluster has member
figures when one of the set's images is centred on it and its member list is not empty.
"""

from __future__ import annotations

import numpy as np

from clusterhpc.config import Config, EvaluateConfig
from clusterhpc.evaluate.metrics import SplitMatch, class_scores, regression_scores
from clusterhpc.evaluate.records import Truth
from clusterhpc.evaluate.scored import Scored
from clusterhpc.models.yolo_setup import z_class


def member_stats(s: Scored, photoz: str) -> dict[str, np.ndarray]:
    """Per truth box: member count N and median member photo-z (NaN where unknown)."""
    truth = s.truth
    by_id: dict[int, tuple[float, float]] = {}
    if len(s.sources) == truth.n_images:
        for i, (split, index) in enumerate(s.sources):
            cluster = int(truth.meta["id"][i])
            if cluster < 0 or bool(truth.meta["empty"][i]):
                continue
            shard, local = split.locate(index)
            lo, hi = shard.member_offsets[local], shard.member_offsets[local + 1]
            if hi <= lo:
                continue
            median = np.nan
            if photoz in shard.member_features:
                column = shard.members[lo:hi, shard.member_features.index(photoz)]
                median = float(np.median(column))
            by_id[cluster] = (float(hi - lo), median)
    rows = np.array([by_id.get(int(c), (np.nan, np.nan)) for c in truth.cluster_id]).reshape(-1, 2)
    return {"n_members": rows[:, 0], "median_photoz": rows[:, 1]}


def _unique_clusters(truth: Truth, usable: np.ndarray) -> np.ndarray:
    """Row index of the first usable box of each cluster (a cluster seen twice counts once)."""
    rows = np.flatnonzero(usable)
    _, first = np.unique(truth.cluster_id[rows], return_index=True)
    return rows[first]


def line_fit(x: np.ndarray, y: np.ndarray) -> dict | None:
    """Least-squares y = a + b x: {a, b, n_fit}; None with under 3 points or one distinct x."""
    if len(x) < 3 or len(np.unique(x)) < 2:
        return None
    b, a = np.polyfit(x, y, 1)
    return {"a": float(a), "b": float(b), "n_fit": len(x)}


def member_count_fit(truth: Truth, n_members: np.ndarray) -> dict | None:
    """Least-squares ln λ = a + b ln N over the clusters with members; None if under-determined."""
    rows = _unique_clusters(truth, np.isfinite(n_members) & (truth.lam > 0))
    return line_fit(np.log(n_members[rows]), np.log(truth.lam[rows]))


def _constant(truth: Truth, values: np.ndarray) -> float:
    rows = _unique_clusters(truth, np.isfinite(values))
    return float(np.median(values[rows])) if len(rows) else float("nan")


def _ln_lam(lam: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(lam, 1e-3))  # as the regression targets (`box_extra_targets`)


def regression_baselines(
    ev: EvaluateConfig, names: tuple[str, ...], tune: Scored | None, report: Scored
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, dict]]]:
    """Per value name: {baseline key: prediction per report truth box} and {baseline key:
    its method and fitted values, or why it is unavailable}."""
    truth, stats = report.truth, member_stats(report, ev.baseline_photoz)
    values: dict[str, dict[str, np.ndarray]] = {name: {} for name in names}
    notes: dict[str, dict[str, dict]] = {name: {} for name in names}

    def add(name: str, key: str, prediction: np.ndarray | None, note: dict) -> None:
        if prediction is not None:
            values[name][key] = prediction
        notes[name][key] = note

    for name in names:
        if tune is None:
            add(name, "baseline_constant", None, {"unavailable": "no tune set"})
            continue
        tune_truth = tune.truth.z if name == "z" else _ln_lam(tune.truth.lam)
        value = _constant(tune.truth, tune_truth)
        note = {"method": "median of the tune clusters", "value": value}
        add(name, "baseline_constant", np.full(len(truth.z), value), note)
    if "z" in names:
        photoz = stats["median_photoz"]
        if np.isfinite(photoz).any():
            add("z", "baseline_member_photoz", photoz, {"method": _photoz_method(ev)})
        else:
            add("z", "baseline_member_photoz", None, {"unavailable": _no_photoz(ev)})
    if "lam" in names:
        tune_n = member_stats(tune, ev.baseline_photoz)["n_members"] if tune else None
        fit = member_count_fit(tune.truth, tune_n) if tune else None
        if fit is None:
            reason = "too few tune clusters with members to fit ln λ = a + b ln N"
            add("lam", "baseline_member_count", None, {"unavailable": reason})
        else:
            method = "ln λ = a + b ln N (N: member count), fitted on the tune clusters"
            prediction = fit["a"] + fit["b"] * np.log(stats["n_members"])
            add("lam", "baseline_member_count", prediction, {"method": method, **fit})
    return values, notes


def regression_head_scores(
    ev: EvaluateConfig, tune: Scored | None, report: Scored, match: SplitMatch
) -> dict:
    """`regression_scores` of the report set with the constant and member baselines."""
    names = report.preds.value_names
    values, notes = regression_baselines(ev, names, tune, report)
    scores = regression_scores(report.truth, report.preds, match, ev.outlier, ev.z_bins, values)
    for name in scores:
        for key, note in notes[name].items():
            scores[name][key] = {**note, **scores[name].get(key, {})}
    return scores


def _photoz_method(ev: EvaluateConfig) -> str:
    return f"median member {ev.baseline_photoz}"


def _no_photoz(ev: EvaluateConfig) -> str:
    return (
        f"no packed member column {ev.baseline_photoz!r} (evaluate.baseline_photoz): add it "
        "to prep.pack.member_features and repack"
    )


def class_head_scores(
    ev: EvaluateConfig,
    edges: list[float],
    tune: Scored | None,
    report: Scored,
    match: SplitMatch,
) -> dict:
    """Confusion matrix and accuracy per z bin of the matched clusters, with baselines."""
    if not len(match.pairs):
        return {}
    p, t = match.pairs[:, 0], match.pairs[:, 1]
    true_class = z_class(report.truth.z[t], edges)
    pred_class = report.preds.classes[p]
    out = {"edges": [float(e) for e in edges], **class_scores(true_class, pred_class, edges)}
    if tune is not None:
        rows = _unique_clusters(tune.truth, np.isfinite(tune.truth.z))
        counts = np.bincount(z_class(tune.truth.z[rows], edges), minlength=len(edges) - 1)
        majority = int(np.argmax(counts))
        out["baseline_majority"] = {
            "method": "the most frequent class of the tune clusters",
            "class": majority,
            "model": _model_only(out),
            "baseline": class_scores(true_class, np.full(len(t), majority), edges),
        }
    photoz = member_stats(report, ev.baseline_photoz)["median_photoz"][t]
    has = np.isfinite(photoz)
    if has.any():
        out["baseline_member_photoz"] = {
            "method": f"the class of the {_photoz_method(ev)}",
            "model": class_scores(true_class[has], pred_class[has], edges),
            "baseline": class_scores(true_class[has], z_class(photoz[has], edges), edges),
        }
    else:
        out["baseline_member_photoz"] = {"unavailable": _no_photoz(ev)}
    return out


def _model_only(scores: dict) -> dict:
    return {k: v for k, v in scores.items() if "baseline" not in k and k != "edges"}


def head_scores(
    cfg: Config, train_cfg: Config, tune: Scored | None, report: Scored, match: SplitMatch
) -> dict:
    """{'regression': ..., 'classification': ...} for the head the run was trained with."""
    head, ev = train_cfg.model.head, cfg.evaluate
    regression = regression_head_scores(ev, tune, report, match) if head == "regression" else {}
    classes = {}
    if head == "class":
        classes = class_head_scores(ev, train_cfg.model.class_edges, tune, report, match)
    return {"regression": regression, "classification": classes}
