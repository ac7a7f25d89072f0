"""Report sections of the class and regression heads: the model next to its baselines."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

from clusterhpc.evaluate.report_format import number, percent

REGRESSION_COLUMNS = {
    "z": (("bias", "bias Δz/(1+z)"), ("sigma_nmad", "σ_NMAD"), ("outlier_fraction", "outliers")),
    "lam": (
        ("bias_ln", "bias Δ ln λ"),
        ("scatter_ln", "scatter ln λ"),
        ("sigma_nmad_ln", "σ_NMAD"),
    ),
}
TITLES = {"z": "redshift z", "lam": "richness ln λ"}


def _row(label: str, scores: dict, columns: tuple) -> str:
    cells = [str(scores.get("n", 0)), *(number(scores.get(key), 4) for key, _ in columns)]
    return f"| {label} | " + " | ".join(cells) + " |"


def _baseline_rows(
    scores: dict, row: Callable[[str, dict], str], model_part: Callable[[dict], dict]
) -> tuple[list[str], list[str]]:
    """Table rows of each baseline beside the model on the same clusters, and notes on the
    baselines that could not be computed."""
    rows, notes = [], []
    for key, entry in scores.items():
        if "baseline" not in key:
            continue
        if "unavailable" in entry:
            notes.append(f"- `{key}`: unavailable ({entry['unavailable']})")
            continue
        rows.append(row(f"model, where `{key}` has a value", model_part(entry["model"])))
        rows.append(row(f"`{key}`: {entry['method']}", model_part(entry["baseline"])))
    return rows, notes


def regression_section(name: str, scores: dict) -> list[str]:
    """Model and baselines on the matched clusters, then the model in bins of true z."""
    columns = REGRESSION_COLUMNS[name]
    header = "| predictor | n | " + " | ".join(label for _, label in columns) + " |"
    lines = [f"## Regression: {TITLES[name]}", "", header, "|---" * (len(columns) + 2) + "|"]
    lines.append(_row("model (all matched clusters)", scores["all"], columns))
    rows, notes = _baseline_rows(
        scores, lambda label, s: _row(label, s, columns), lambda part: part["all"]
    )
    lines += [*rows, *(["", *notes, ""] if notes else [""])]
    lines += [f"Model in bins of true z ({TITLES[name]}):", "", header.replace("predictor", "z")]
    lines.append("|---" * (len(columns) + 2) + "|")
    for b in scores["binned_z"]:
        lines.append(_row(f"{b['lo']:g}–{b['hi']:g}", b, columns))
    return [*lines, ""]


def class_section(scores: dict) -> list[str]:
    """Accuracy (model and baselines), accuracy per z bin and the confusion matrix."""
    edges = scores["edges"]
    bins = [f"{lo:g}–{hi:g}" for lo, hi in pairwise(edges)]
    lines = [
        "## Classification: redshift bins",
        "",
        "| predictor | n | accuracy |",
        "|---|---|---|",
    ]

    def row(label: str, s: dict) -> str:
        return f"| {label} | {s['n']} | {percent(s['accuracy'])} |"

    lines.append(row("model (all matched clusters)", scores))
    rows, notes = _baseline_rows(scores, row, lambda part: part)
    lines += [*rows, *(["", *notes, ""] if notes else [""])]
    lines += ["| true z bin | n | correct | accuracy |", "|---|---|---|---|"]
    for label, b in zip(bins, scores["binned_z"], strict=True):
        lines.append(f"| {label} | {b['n']} | {b['correct']} | {percent(b['accuracy'])} |")
    lines += ["", "Confusion matrix (rows: true z bin, columns: predicted):", ""]
    lines += ["| true \\ predicted | " + " | ".join(bins) + " |", "|---" * (len(bins) + 1) + "|"]
    for label, row in zip(bins, scores["confusion"], strict=True):
        lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
    return [*lines, ""]


def head_sections(m: dict) -> list[str]:
    """The report lines of the head's scores (none for the objectness-only head)."""
    lines: list[str] = []
    for name, scores in m.get("regression", {}).items():
        lines += regression_section(name, scores)
    if m.get("classification"):
        lines += class_section(m["classification"])
    return lines
