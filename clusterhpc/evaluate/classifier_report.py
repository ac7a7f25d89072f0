"""`report.md` of a classifier run: summary, headline table, binned completeness, z metrics,
calibration and the figures."""

from __future__ import annotations

from pathlib import Path

from clusterhpc.evaluate.report import report_head
from clusterhpc.evaluate.report_format import binned_table as _binned_table
from clusterhpc.evaluate.report_format import interval as _err
from clusterhpc.evaluate.report_format import number as _num
from clusterhpc.evaluate.report_format import percent as _pct
from clusterhpc.io.atomic import atomic_write_text


def _summary(m: dict) -> str:
    p, model = m["protocol"], m.get("model", {})
    trained = (
        f"The model is a CNN classifier ({model.get('architecture')}, width "
        f"{model.get('width')}, {model.get('input_size')} px input"
        f"{', redshift head' if model.get('redshift') else ''}) trained for "
        f"{model.get('epochs')} epochs with batch {model.get('batch_size')} per rank. "
        if model
        else ""
    )
    return trained + (
        f"On the **{p['reported_on']}** images of `{p['survey']}` ({m['n_clusters']} cluster "
        f"cutouts, {m['n_empty_fields']} empty fields), the classifier of `{p['run']}` reaches "
        f"ROC AUC **{_num(m['auc'])}** (chance 0.5) and PR AUC {_num(m['pr_auc'])} (chance "
        f"{_num(m['baseline_chance_pr_auc'])}). At the threshold {_num(m['score_threshold'])} "
        f"chosen on {p['tuned_on']} ({p['operating_point']}) it finds "
        f"**{_pct(m['completeness'])}** of the cluster cutouts (completeness) at a "
        f"false-positive rate of **{_pct(m['false_positive_rate'])}** on the empty fields."
    )


def _redshift_rows(m: dict) -> list[str]:
    z = m.get("redshift")
    if not z:
        return []
    lines = [
        "## Redshift head",
        "",
        "| clusters | n | bias | σ_NMAD | outliers | median abs pull |",
        "|---|---|---|---|---|---|",
    ]
    for label, key in (
        ("all cluster cutouts", "all_clusters"),
        ("called clusters", "called_clusters"),
        (f"baseline: constant z = {z['baseline_constant_z']['z']:.3f}", "baseline_constant_z"),
    ):
        r = z[key]
        lines.append(
            f"| {label} | {r['n']} | {_num(r['bias'], 4)} | {_num(r['sigma_nmad'], 4)} | "
            f"{_pct(r['outlier_fraction'])} | {_num(r.get('median_abs_pull'))} |"
        )
    return [*lines, ""]


def write_classifier_report(m: dict, path: Path) -> None:
    lines = report_head("Cluster classification: evaluation", _summary(m))
    lines += [
        f"| ROC AUC | {_num(m['auc'])} |",
        f"| PR AUC (average precision) | {_num(m['pr_auc'])} |",
        f"| completeness [68 %] | {_pct(m['completeness'])}{_err(m['completeness_err'])} |",
        f"| completeness, λ >= {m['protocol']['selection']['lambda_min']:g} and "
        f"{m['protocol']['selection']['z'][0]:g} < z < {m['protocol']['selection']['z'][1]:g} "
        f"| {_pct(m['completeness_selected'])}{_err(m['completeness_selected_err'])} "
        f"({m['n_selected']}) |",
        f"| false-positive rate [68 %] | {_pct(m['false_positive_rate'])}"
        f"{_err(m['false_positive_rate_err'])} |",
        f"| purity [68 %] | {_pct(m['purity'])}{_err(m['purity_err'])} |",
        f"| score threshold | {_num(m['score_threshold'])} |",
        f"| expected calibration error | {_num(m['reliability']['ece'])} |",
        "",
    ]
    for name, label in (("z", "z"), ("lambda", "λ")):
        lines += [f"## Completeness in bins of {label}", ""]
        lines += [*_binned_table(m["binned"]["completeness"][name], label), ""]
    lines += _redshift_rows(m)
    lines += ["## Figures", ""]
    for caption, rel in m["plots"].items():
        lines += [f"### {caption}", "", f"![{caption}]({rel})", ""]
    atomic_write_text(path, "\n".join(lines))
