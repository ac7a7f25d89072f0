"""Report rows for the figures people compare: per unique cluster, purity by image kind, sky."""

from __future__ import annotations


def _fraction_cell(f: dict) -> str:
    if f.get("value") is None or f["n"] == 0:
        return "n/a"
    lo, hi = f["err"]
    return f"{100 * f['value']:.1f} % [{100 * lo:.1f}, {100 * hi:.1f}] ({f['found']}/{f['n']})"


def comparable_rows(m: dict) -> list[str]:
    """Rows of the headline table (after per-appearance completeness and purity)."""
    rows = []
    unique = m.get("per_unique_cluster")
    if unique:
        c = unique["completeness"]
        rows.append(
            f"| completeness per unique cluster [68 %] | {_fraction_cell(c)}, "
            f"from {c['appearances']} appearances |"
        )
    kinds = m.get("purity_by_image_kind")
    if kinds:
        rows.append(
            f"| purity without the {kinds['n_empty_fields']} empty fields [68 %] | "
            f"{_fraction_cell(kinds['without_empty_fields'])}; the headline purity includes them "
            f"({kinds['detections_on_empty_fields']} detections on empty fields) |"
        )
    return rows


def sky_section(m: dict) -> list[str]:
    """The 'On the sky' section, or nothing when the survey has no truth catalogue."""
    sky = m.get("sky")
    if not sky:
        return []
    lines = [
        "## On the sky",
        "",
        f"The detections of the {sky['n_cutouts']} reported cutouts, merged within "
        f"{sky['merge_arcmin']:g}′ as `clusterhpc detect` does ({sky['n_detections']} "
        f"clusters), cross-matched one-to-one to the truth catalogue within "
        f"{sky['radius_arcmin']:g}′ over the {sky['area_deg2']:.2f} deg² the cutouts cover.",
        "",
        "| on the sky | value |",
        "|---|---|",
        f"| completeness [68 %] | {_fraction_cell(sky['completeness'])} |",
        f"| purity [68 %] | {_fraction_cell(sky['purity'])} |",
        f"| false detections per deg² | {sky['false_per_deg2']:.2f} ({sky['n_false']}) |"
        if sky["false_per_deg2"] is not None
        else "| false detections per deg² | n/a |",
        "",
    ]
    for name, label in (("z", "z"), ("lambda", "λ")):
        table = sky["binned_completeness"][name]
        lines += [f"| {label} | n | found | sky completeness |", "|---|---|---|---|"]
        for lo, hi, n, k, f in zip(
            table["lo"], table["hi"], table["n"], table["k"], table["fraction"], strict=True
        ):
            value = "n/a" if f is None else f"{100 * f:.1f} %"
            lines.append(f"| {lo:g}–{hi:g} | {n} | {k} | {value} |")
        lines.append("")
    return lines
