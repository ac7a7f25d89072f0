"""`report.md`: a one-paragraph summary, the headline table, binned tables and the figures."""

from __future__ import annotations

from pathlib import Path

from clusterhpc.evaluate.report_comparable import comparable_rows, sky_section
from clusterhpc.evaluate.report_format import binned_table as _binned_table
from clusterhpc.evaluate.report_format import interval as _err
from clusterhpc.evaluate.report_format import number as _num
from clusterhpc.evaluate.report_format import percent as _pct
from clusterhpc.evaluate.report_heads import head_sections
from clusterhpc.io.atomic import atomic_write_text


def _model_sentence(m: dict) -> str:
    model = m.get("model")
    if not model:
        return ""
    text = (
        f"The model is a {model['kind'].upper()} ({model['backbone']}, width "
        f"{model['width']:g}, {model['head']} head, {model['input_size']} px input) trained "
        f"for {model['epochs']} epochs with batch {model['batch_size']} per rank"
    )
    if model.get("steps"):
        text += (
            f" ({model['steps']} steps on {model['ranks']} rank(s), "
            f"{model['images_per_second']:.0f} images/s)"
        )
    return text + ". "


def summary_paragraph(m: dict) -> str:
    p = m["protocol"]
    return _model_sentence(m) + (
        f"On the **{p['reported_on']}** images of `{p['survey']}` "
        f"({m['n_images']} images, {m['n_empty_fields']} empty fields), the detector of "
        f"`{p['run']}` finds **{_pct(m['completeness'])}** of the {m['n_truth']} clusters with "
        f"lambda >= {p['selection']['lambda_min']:g} and "
        f"{p['selection']['z'][0]:g} < z < {p['selection']['z'][1]:g} "
        f"(completeness) and **{_pct(m['purity'])}** of its {m['n_predictions']} detections are "
        f"real (purity), with {_num(m['fp_per_empty_field'])} false detections per empty field, "
        f"at score threshold {_num(m['score_threshold'])} chosen on {p['tuned_on']} "
        f"({p['operating_point']}). AP@0.5 = {_num(m['map50'])}, "
        f"mAP@[.5:.95] = {_num(m['map50_95'])}. {_matching_sentence(p)}{_ignore_sentence(m)}"
    )


def _ignore_sentence(m: dict) -> str:
    if m["protocol"]["matching"] == "legacy_count":
        return ""
    return (
        f" {m['n_predictions_on_ignore_regions']} detections fall on the {m['n_ignore_regions']} "
        "ignore regions (clusters visible in an image that are not labels) and are neither "
        f"true nor false ({m['n_predictions_ignored']} ignored in all)."
    )


def _matching_sentence(p: dict) -> str:
    ignored = f"truth boxes less than {p['min_area_fraction']:g} inside the image are ignored."
    if p["matching"] == "legacy_count":
        return f"Matching: the seed's per-image box counting (no positions); {ignored}"
    return f"Matching: {p['matching']} ({p['criterion']}), boxes clipped to the image; {ignored}"


def _position_rows(by_position: dict) -> list[str]:
    labels = {
        "central": "completeness, the cluster a cutout is centred on",
        "neighbour": "completeness, other clusters in the field",
        "neighbour_inside": "completeness, other clusters fully inside the image",
    }
    return [
        f"| {labels[name]} [68 %] | {_pct(f['value'])}{_err(f['err'])} ({f['n']} clusters) |"
        for name, f in by_position.items()
        if f["n"]
    ]


def report_head(title: str, summary: str) -> list[str]:
    """A report's title, its summary paragraph and the head of its metrics table."""
    return [f"# {title}", "", summary, "", "| metric | value |", "|---|---|"]


def write_report(m: dict, plots: dict[str, str], path: Path) -> None:
    """Write the Markdown report; `plots` maps a caption to a path relative to the report."""
    lines = report_head("Cluster detection: evaluation", summary_paragraph(m))
    lines += [
        f"| completeness [68 %] | {_pct(m['completeness'])}{_err(m['completeness_err'])} |",
        f"| purity [68 %] | {_pct(m['purity'])}{_err(m['purity_err'])} |",
        *_position_rows(m.get("completeness_by_position", {})),
        *comparable_rows(m),
        f"| false detections per empty field | {_num(m['fp_per_empty_field'], 4)} |",
        f"| score threshold | {_num(m['score_threshold'])} |",
        f"| C = P threshold (on {m['protocol']['tuned_on']}) | "
        f"{_num(m['operating_points']['equal'])} |",
        f"| AP@0.5 / AP@0.75 / mAP@[.5:.95] | {_num(m['map50'])} / {_num(m['map75'])} / "
        f"{_num(m['map50_95'])} |",
        f"| mean GIoU of matched pairs | {_num(m['giou']['mean'])} "
        f"({m['giou']['n_pairs']} pairs) |",
        "",
    ]
    for name, label in (("z", "z"), ("lambda", "λ"), ("log10_mass", "log10 M")):
        lines += [f"## Completeness in bins of {label}", ""]
        lines += [*_binned_table(m["binned"]["completeness"][name], label), ""]
    lines += [
        "## Completeness of the other clusters in a cutout, by separation",
        "",
        "λ and z cuts as above; separation of each box centre from the cutout's centre, "
        "where the cluster it is centred on lies (arcmin).",
        "",
        *_binned_table(m["binned"]["companions"], "separation (′)"),
        "",
    ]
    lines += sky_section(m)
    lines += head_sections(m)
    lines += ["## Figures", ""]
    for caption, rel in plots.items():
        lines += [f"### {caption}", "", f"![{caption}]({rel})", ""]
    atomic_write_text(path, "\n".join(lines))
