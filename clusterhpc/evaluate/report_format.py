"""Number formats shared by the report sections ('n/a' for a missing value)."""

from __future__ import annotations


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def interval(err: list[float | None]) -> str:
    """A 68 % interval of a fraction as ' [lo, hi]' in percent ('' when unknown)."""
    return "" if None in err else f" [{100 * err[0]:.1f}, {100 * err[1]:.1f}]"


def binned_table(table: dict, label: str) -> list[str]:
    """A Markdown table of completeness in bins of `label` (a binned-completeness table)."""
    lines = [f"| {label} | n | found | completeness [68 %] |", "|---|---|---|---|"]
    for lo, hi, n, k, f, e0, e1 in zip(
        table["lo"],
        table["hi"],
        table["n"],
        table["k"],
        table["fraction"],
        table["err_lo"],
        table["err_hi"],
        strict=True,
    ):
        err = "" if e0 is None else f" [{100 * e0:.0f}, {100 * e1:.0f}]"
        lines.append(f"| {lo:g}–{hi:g} | {n} | {k} | {percent(f)}{err} |")
    return lines
