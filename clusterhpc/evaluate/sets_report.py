"""The catalogue models' evaluation: metrics (model next to its baselines on the same sets),
figures and the Markdown report section.

metrics layout (`sets_metrics`), for each regression target the model predicts:

    {target: {"headline": figure deciding which predictor is better (lower is better),
              "n_left_out_unknown": member sets without a known truth,
              "model": figures, "baseline_<name>": {"method", "fit", figures, "model_better"}
                                                or {"method", "fit", "unavailable"},
              "binned_z" / "binned_lambda": {"edges", "model": [rows], "baseline_<name>": [rows]},
              "calibration": `calibration` table},
     "detect": {"n", "n_clusters", "auc", "ap", "purity_at_completeness": [rows],
                "reliability", "baseline_<name>": {"method", "auc", "ap",
                "purity_at_completeness", "model_better"}},
     "n_sets", "n_member_sets"}

with the figures of `sets_metrics` (module doc there) and the baselines of `sets_baselines`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from clusterhpc.config import EvaluateConfig
from clusterhpc.evaluate.classifier_metrics import reliability, roc_curve
from clusterhpc.evaluate.report_format import number, percent
from clusterhpc.evaluate.sets_baselines import DETECTION_BASELINES, Baseline
from clusterhpc.evaluate.sets_metrics import (
    HEADLINE,
    TARGETS,
    better,
    binned_scores,
    calibration,
    centre_distance_arcsec,
    detection_scores,
    purity_at_completeness,
    scored_rows,
    set_truth,
    target_scores,
)
from clusterhpc.evaluate.sets_plots import (
    plot_calibration,
    plot_centre_offsets,
    plot_predicted_vs_true,
    plot_residuals_vs_z,
    plot_roc,
)
from clusterhpc.io.atomic import atomic_write_text
from clusterhpc.io.set_shards import MemberSets
from clusterhpc.models.set_loss import SetPredictions

TITLES = {
    "z": "redshift z",
    "lnlam": "richness ln λ",
    "lnmass": "mass ln M",
    "centre": "centre",
}
# per target: (figure, column label, digits; None: a percentage)
LN_COLUMNS = (
    ("bias", "bias (median)", 3),
    ("mean", "mean Δ", 3),
    ("scatter", "scatter", 3),
    ("sigma_nmad", "σ_NMAD", 3),
)
COLUMNS = {
    "z": (
        ("bias", "bias Δz/(1+z)", 4),
        ("sigma_nmad", "σ_NMAD", 4),
        ("outlier_fraction", "outliers", None),
    ),
    "lnlam": LN_COLUMNS,
    "lnmass": LN_COLUMNS,
    "centre": (
        ("median_arcsec", "median (″)", 1),
        ("mean_arcsec", "mean (″)", 1),
        ("p68_arcsec", "68 % (″)", 1),
        ("p95_arcsec", "95 % (″)", 1),
    ),
}


def _baseline_rows(baseline: Baseline, rows: np.ndarray) -> np.ndarray | str:
    """The baseline's predictions on the scored rows, or why it cannot be scored there."""
    if baseline.prediction is None:
        return baseline.unavailable
    values = baseline.prediction[rows]
    missing = int((~np.isfinite(values.reshape(len(values), -1)).all(axis=1)).sum())
    return values if not missing else f"no prediction for {missing} of {len(values)} scored sets"


def _binned(
    target: str,
    true: np.ndarray,
    predictions: dict[str, np.ndarray],
    by: np.ndarray,
    edges: list[float],
    outlier: float,
) -> dict:
    out: dict = {"edges": [float(e) for e in edges]}
    for key, values in predictions.items():
        out[key] = binned_scores(target, true, values, by, edges, outlier)
    return out


def target_metrics(
    ev: EvaluateConfig,
    target: str,
    truth: dict[str, np.ndarray],
    pred: SetPredictions,
    baselines: dict[str, Baseline],
) -> dict:
    """Model and baselines on the member sets with a known `target`, overall and binned."""
    rows = scored_rows(truth, target)
    true = truth[target][rows]
    predictions = {"model": pred.mean[target][rows]}
    model = target_scores(target, true, predictions["model"], ev.outlier)
    out: dict = {
        "headline": HEADLINE[target],
        "n_left_out_unknown": int((truth["is_cluster"] & ~rows).sum()),
        "model": model,
    }
    for key, baseline in baselines.items():
        head = {"method": baseline.method, "fit": baseline.fit}
        head |= {"note": baseline.note} if baseline.note else {}
        values = _baseline_rows(baseline, rows)
        if isinstance(values, str):
            out[key] = {**head, "unavailable": values}
            continue
        predictions[key] = values
        scores = target_scores(target, true, values, ev.outlier)
        out[key] = {**head, **scores, "model_better": better(target, model, scores)}
    out["binned_z"] = _binned(target, true, predictions, truth["z"][rows], ev.z_bins, ev.outlier)
    lam = np.exp(truth["lnlam"][rows])
    out["binned_lambda"] = _binned(target, true, predictions, lam, ev.lambda_bins, ev.outlier)
    out["calibration"] = calibration(true, predictions["model"], pred.sigma[target][rows])
    return out


def detection_metrics(
    report: MemberSets, prob: np.ndarray, tune: tuple[MemberSets, SetPredictions] | None
) -> dict:
    """AUC, AP, purity at fixed completeness (threshold from `tune`), reliability; and the
    detection baselines, scored likewise."""
    labels = np.asarray(report.meta["is_cluster"], bool)
    out = detection_scores(labels, prob)
    if "unavailable" in out:
        return out
    tune_labels = None if tune is None else np.asarray(tune[0].meta["is_cluster"], bool)
    tune_probs = None if tune is None else tune[1].prob
    out["purity_at_completeness"] = purity_at_completeness(tune_labels, tune_probs, labels, prob)
    out["reliability"] = reliability(labels, prob)
    for key, (method, score) in DETECTION_BASELINES.items():
        values = score(report)
        if not np.all(np.isfinite(values)):
            out[key] = {"method": method, "unavailable": "not computable for every set"}
            continue
        tune_values = None if tune is None else score(tune[0])
        scores = detection_scores(labels, values)
        out[key] = {
            "method": method,
            **scores,
            "purity_at_completeness": purity_at_completeness(
                tune_labels, tune_values, labels, values
            ),
            "model_better": bool(out["auc"] > scores["auc"]),
        }
    return out


def sets_metrics(
    ev: EvaluateConfig,
    report: MemberSets,
    pred: SetPredictions,
    baselines: dict[str, dict[str, Baseline]],
    tune: tuple[MemberSets, SetPredictions] | None = None,
) -> dict:
    """The metrics of every target the model predicts (layout in the module doc).
    `baselines`: `set_baselines(train, report)`; `tune`: the split (and its predictions)
    where detection thresholds are chosen."""
    truth = set_truth(report)
    out: dict = {"n_sets": len(report), "n_member_sets": int(truth["is_cluster"].sum())}
    for target in TARGETS:
        if target in pred.mean:
            out[target] = target_metrics(ev, target, truth, pred, baselines.get(target, {}))
    if pred.prob is not None:
        out["detect"] = detection_metrics(report, pred.prob, tune)
    return out


def _usable(section: dict) -> list[str]:
    return [k for k, v in section.items() if "baseline" in k and "unavailable" not in v]


def write_sets_plots(
    directory: Path,
    ev: EvaluateConfig,
    report: MemberSets,
    pred: SetPredictions,
    baselines: dict[str, dict[str, Baseline]],
    metrics: dict,
) -> dict[str, Path]:
    """The figures into `directory`; {caption: path}."""
    directory.mkdir(parents=True, exist_ok=True)
    truth, plots = set_truth(report), {}
    for target in (t for t in TARGETS if t in metrics):
        rows = scored_rows(truth, target)
        true, mean, sigma = truth[target][rows], pred.mean[target][rows], pred.sigma[target][rows]
        panels = {TITLES[target]: (true, mean, sigma)}
        if target == "centre":
            axes = ("east", "north")
            panels = {
                f"{a} offset (′)": (true[:, k], mean[:, k], sigma) for k, a in enumerate(axes)
            }
        path = directory / f"sets_{target}_predicted.png"
        plot_predicted_vs_true(panels, path)
        plots[f"Predicted against true {TITLES[target]}"] = path
        predictions = {"model": mean}
        predictions |= {k: baselines[target][k].prediction[rows] for k in _usable(metrics[target])}
        if target == "centre":
            offsets = {k: centre_distance_arcsec(true, v) for k, v in predictions.items()}
            plot_centre_offsets(offsets, path := directory / "sets_centre_offsets.png")
            plots["Centre offsets: model and baselines"] = path
            continue
        z = truth["z"][rows]
        scale = 1 + z if target == "z" else 1.0
        residuals = {k: (v - true) / scale for k, v in predictions.items()}
        label = "Δz/(1+z)" if target == "z" else f"Δ {TITLES[target].split()[-1]}"
        path = directory / f"sets_{target}_residuals.png"
        plot_residuals_vs_z(z, residuals, label, ev.z_bins, path)
        plots[f"Residuals of {TITLES[target]} against true z"] = path
    tables = {TITLES[t]: metrics[t]["calibration"] for t in TARGETS if t in metrics}
    if tables:
        plot_calibration(tables, path := directory / "sets_calibration.png")
        plots["Calibration of the predicted σ"] = path
    if "auc" in metrics.get("detect", {}):
        labels = truth["is_cluster"]
        curves = {"model": roc_curve(labels, pred.prob)}
        scores = {k: score(report) for k, (_, score) in DETECTION_BASELINES.items()}
        curves |= {k: roc_curve(labels, v) for k, v in scores.items() if np.isfinite(v).all()}
        plot_roc(curves, path := directory / "sets_detection_roc.png")
        plots["Set detection ROC"] = path
    return plots


def _figure(value: float | None, digits: int | None) -> str:
    return percent(value) if digits is None else number(value, digits)


def _cells(section: dict, columns: tuple) -> str:
    return " | ".join(_figure(section.get(key), digits) for key, _, digits in columns)


def _headline(target: str, key: str) -> str:
    """The column label of a target's headline figure."""
    return next(label for k, label, _ in COLUMNS[target] if k == key)


def _paragraphs(*blocks: list[str]) -> list[str]:
    """The non-empty blocks of lines, each followed by a blank line."""
    return [line for block in blocks if block for line in (*block, "")]


def _not_beaten(target: str, m: dict) -> list[str]:
    """A plain sentence for each baseline the model does not beat on the headline figure."""
    key = m["headline"]
    return [
        f"The model does **not** beat `{name}` on {TITLES[target]}: {_headline(target, key)} "
        f"{number(m['model'][key], 4)} against {number(m[name][key], 4)}."
        for name in _usable(m)
        if m[name].get("model_better") is False
    ]


def _binned_table(target: str, m: dict, which: str, label: str) -> list[str]:
    """Counts and the headline figure of every predictor per bin (and the model's bias)."""
    table, key = m[which], m["headline"]
    names = [k for k in table if k != "edges"]
    digits = 1 if target == "centre" else 4
    bias = target != "centre"
    lines = [
        f"In bins of true {label} ({_headline(target, key)}):",
        "",
        f"| {label} | n | " + ("model bias | " if bias else "") + " | ".join(names) + " |",
        "|---" * (len(names) + 2 + bias) + "|",
    ]
    for k, row in enumerate(table["model"]):
        cells = [f"{row['lo']:g}–{row['hi']:g}", str(row["n"])]
        cells += [number(row["bias"], digits)] if bias else []
        cells += [number(table[name][k].get(key), digits) for name in names]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def target_section(target: str, m: dict) -> list[str]:
    """The target's table (model, then its baselines on the same sets), binned tables and
    the sentences where the model does not beat a baseline."""
    columns = COLUMNS[target]
    lines = [
        f"## {TITLES[target][0].upper()}{TITLES[target][1:]}",
        "",
        f"Scored on the {m['model']['n']} member sets with a known truth "
        f"({m['n_left_out_unknown']} left out: unknown).",
        "",
        "| predictor | n | " + " | ".join(label for _, label, _ in columns) + " |",
        "|---" * (len(columns) + 2) + "|",
        f"| model | {m['model']['n']} | {_cells(m['model'], columns)} |",
    ]
    notes = []
    for name in (k for k in m if "baseline" in k):
        entry = m[name]
        if "unavailable" in entry:
            notes.append(f"- `{name}` ({entry['method']}): unavailable ({entry['unavailable']})")
            continue
        lines.append(f"| `{name}`: {entry['method']} | {entry['n']} | {_cells(entry, columns)} |")
    notes += [f"- `{name}`: {m[name]['note']}" for name in _usable(m) if m[name].get("note")]
    lines += ["", *_paragraphs(notes, *([line] for line in _not_beaten(target, m)))]
    lines += _binned_table(target, m, "binned_z", "z")
    lines += _binned_table(target, m, "binned_lambda", "λ")
    return lines


def calibration_section(metrics: dict) -> list[str]:
    lines = [
        "## Calibration of the predicted σ",
        "",
        "Fraction of truths within 1 σ and 2 σ of the prediction (centre: within the radii "
        "1.515 σ and 2.486 σ that hold 68.3 % and 95.4 % of a 2-D Gaussian).",
        "",
        "| target | n | within 1 σ (expect 68.3 %) | within 2 σ (expect 95.4 %) | median pull |",
        "|---|---|---|---|---|",
    ]
    for target in (t for t in TARGETS if t in metrics):
        c = metrics[target]["calibration"]
        lines.append(
            f"| {TITLES[target]} | {c['n']} | {percent(c['within_1sigma'])} | "
            f"{percent(c['within_2sigma'])} | {number(c['median_pull'])} |"
        )
    return [*lines, ""]


def detection_section(d: dict) -> list[str]:
    lines = ["## Set detection", ""]
    if "unavailable" in d:
        return [*lines, f"Unavailable: {d['unavailable']}.", ""]
    baselines = [k for k in d if "baseline" in k and "unavailable" not in d[k]]
    lines += [
        f"{d['n']} sets, {d['n_clusters']} of them member sets.",
        "",
        "| predictor | ROC AUC | AP |",
        "|---|---|---|",
        f"| model | {number(d['auc'])} | {number(d['ap'])} |",
        *(
            f"| `{k}`: {d[k]['method']} | {number(d[k]['auc'])} | {number(d[k]['ap'])} |"
            for k in baselines
        ),
        "",
        "Purity at fixed completeness (threshold chosen on the tune split; 'own curve': "
        "chosen on the report split itself, optimistic):",
        "",
        "| completeness target | threshold | completeness | purity [68 %] | purity, own curve | "
        + " | ".join(f"`{k}`, own curve" for k in baselines)
        + " |",
        "|---" * (len(baselines) + 5) + "|",
    ]
    for k, row in enumerate(d["purity_at_completeness"]):
        err = row.get("purity_err", [None, None])
        interval = "" if None in err else f" [{100 * err[0]:.1f}, {100 * err[1]:.1f}]"
        own = " | ".join(
            percent(d[b]["purity_at_completeness"][k]["purity_own_curve"]) for b in baselines
        )
        lines.append(
            f"| {percent(row['completeness_target'])} | {number(row['threshold'])} | "
            f"{percent(row.get('completeness'))} | {percent(row.get('purity'))}{interval} | "
            f"{percent(row['purity_own_curve'])} | {own} |"
        )
    sentences = [
        f"The model does **not** beat `{b}` on set detection: ROC AUC {number(d['auc'])} "
        f"against {number(d[b]['auc'])}."
        for b in baselines
        if not d[b]["model_better"]
    ]
    return [*lines, "", *_paragraphs(*([line] for line in sentences))]


def convergence_section(c: dict) -> list[str]:
    """π-SGD: how much the predictions move with the number of inference subsets."""
    few, many = c["subsets"]
    lines = [
        "## π-SGD inference subsets",
        "",
        f"Predictions with {few} and with {many} subsets; the Monte Carlo error left at {many} "
        "is their RMS change / √5.",
        "",
        "| target | RMS change | Monte Carlo error | / median σ |",
        "|---|---|---|---|",
    ]
    for name, row in c.items():
        if name == "subsets":
            continue
        lines.append(
            f"| {TITLES.get(name, name)} | {number(row['rms_change'], 4)} | "
            f"{number(row['mc_error'], 4)} | {number(row['mc_error_over_sigma'], 3)} |"
        )
    return [*lines, ""]


def sets_report_lines(metrics: dict, plots: dict[str, str]) -> list[str]:
    """The Markdown section: each target next to its baselines, calibration, detection and
    the figures (`plots`: caption -> path as the report links it)."""
    lines: list[str] = []
    for target in (t for t in TARGETS if t in metrics):
        lines += target_section(target, metrics[target])
    if any(t in metrics for t in TARGETS):
        lines += calibration_section(metrics)
    if "detect" in metrics:
        lines += detection_section(metrics["detect"])
    if "pi_sgd_convergence" in metrics:
        lines += convergence_section(metrics["pi_sgd_convergence"])
    if plots:
        lines += ["## Figures", ""]
        for caption, rel in plots.items():
            lines += [f"### {caption}", "", f"![{caption}]({rel})", ""]
    return lines


def write_sets_report(path: Path, metrics: dict, plot_names: dict[str, str | Path]) -> None:
    """Write the catalogue models' report to `path` (figure paths made relative to it)."""
    plots = {
        caption: os.path.relpath(p, path.parent) if Path(p).is_absolute() else str(p)
        for caption, p in plot_names.items()
    }
    title = ["# Catalogue models: evaluation", ""]
    atomic_write_text(path, "\n".join([*title, *sets_report_lines(metrics, plots)]))
