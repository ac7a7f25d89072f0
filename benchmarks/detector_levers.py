"""Detector levers measured on valid, with the test split left unread.

    python benchmarks/detector_levers.py [--config configs/quickstart.yaml] [--out runs/levers]
        [--lever NAME=key=value,key=value ...] [--no-baseline] [--set key=value ...]

Every lever is one `clusterhpc run CONFIG run.dir=OUT/NAME evaluate.report_on=valid ...` with
its overrides (and the `--set` ones shared by all): trained, then scored on one seeded half of
valid with the threshold chosen on the other half (`evaluate.report_on: valid`, so no figure
here has seen the test split). `baseline` is the config as it is. A lever that changes the
survey (`data.`, `simulate.` or `prep.` keys) gets its own survey, `OUT/NAME/survey`; the
others share the config's, which `clusterhpc run` builds once (its stages are stamped by
content). Runs already finished are reused (the stages' own stamps), so the script resumes.

Per lever it prints the training images/s and minutes (the train stage's stamp), the
threshold, and completeness, purity, companions and companions wholly inside the image
(λ ≥ 20, 0.1 < z < 0.6, IoU ≥ 0.5, one-to-one, 68 % Wilson intervals), as a Markdown table.
Ends with a RESULT line: each lever's figures and its completeness, purity and training
minutes as ratios to the baseline's (when it ran); figures that are undefined (a half of valid
without clusters, a baseline at zero) are named on the line before and left out.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SURVEY_KEYS = ("data.", "simulate.", "prep.", "seed=")


def parse_lever(text: str) -> tuple[str, list[str]]:
    """'NAME=key=value,key=value' -> (NAME, ['key=value', ...])."""
    name, _, overrides = text.partition("=")
    if not name or not overrides:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=key=value[,key=value...]")
    return name, overrides.split(",")


def run_lever(
    config: str, out: Path, name: str, shared: list[str], overrides: list[str], log: Path
) -> Path:
    """Train and score one lever (`shared` overrides, then its own); returns its run
    directory."""
    run = out / name
    extra = [f"run.dir={run}", "evaluate.report_on=valid", *shared, *overrides]
    if any(item.startswith(SURVEY_KEYS) for item in overrides):
        extra.append(f"data.root={run / 'survey'}")
    cmd = [sys.executable, "-m", "clusterhpc", "run", config, *extra]
    print(f"{name}: {' '.join(cmd[3:])}", flush=True)
    with log.open("w") as handle:
        code = subprocess.call(cmd, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)
    if code:
        raise SystemExit(f"{name}: clusterhpc run failed with exit code {code}; see {log}")
    return run


def figures(run: Path) -> dict[str, float]:
    """What one finished lever measured."""
    metrics = json.loads((run / "metrics.json").read_text())
    if not metrics["protocol"]["reported_on"].startswith("valid"):
        raise SystemExit(f"{run}: reported on {metrics['protocol']['reported_on']}, not valid")
    summary = json.loads((run / "train_summary.json").read_text())
    stamp = json.loads((run / ".stages" / "train.json").read_text())
    by_position = metrics["completeness_by_position"]
    out = {
        "train_images_per_s": summary["images_per_second"],
        "train_minutes": stamp["seconds"] / 60,
        "threshold": metrics["score_threshold"],
        "completeness": metrics["completeness"],
        "purity": metrics["purity"],
    }
    for key in ("completeness", "purity"):
        out[f"{key}_lo"], out[f"{key}_hi"] = metrics[f"{key}_err"]
    for key in ("neighbour", "neighbour_inside"):
        part = by_position[key]
        out[f"{key}_found"], out[f"{key}_n"] = part["found"], part["n"]
    return out


def table(rows: dict[str, dict[str, float]]) -> str:
    lines = [
        "| lever | images/s | train min | threshold | completeness [68 %] | purity [68 %] "
        "| companions | wholly inside |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, f in rows.items():
        lines.append(
            f"| {name} | {f['train_images_per_s']:.1f} | {f['train_minutes']:.1f} "
            f"| {f['threshold']:.2f} "
            f"| {100 * f['completeness']:.1f} % [{100 * f['completeness_lo']:.1f}, "
            f"{100 * f['completeness_hi']:.1f}] "
            f"| {100 * f['purity']:.1f} % [{100 * f['purity_lo']:.1f}, {100 * f['purity_hi']:.1f}] "
            f"| {f['neighbour_found']:.0f}/{f['neighbour_n']:.0f} "
            f"| {f['neighbour_inside_found']:.0f}/{f['neighbour_inside_n']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "quickstart.yaml"))
    parser.add_argument("--out", default=str(ROOT / "runs" / "levers"))
    parser.add_argument("--lever", type=parse_lever, action="append", default=[])
    parser.add_argument("--no-baseline", action="store_true", help="only the --lever runs")
    parser.add_argument("--set", action="append", default=[], help="override for every lever")
    args = parser.parse_args()
    levers = ([] if args.no_baseline else [("baseline", [])]) + args.lever
    if not levers:
        parser.error("nothing to run: give --lever or drop --no-baseline")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    rows = {}
    for name, overrides in levers:
        run = run_lever(args.config, out, name, args.set, overrides, out / f"{name}.log")
        rows[name] = figures(run)
    print(table(rows))
    fields = {f"{name}_{key}": value for name, f in rows.items() for key, value in f.items()}
    base = rows.get("baseline")
    for name, f in rows.items():
        if base is None or name == "baseline":
            continue
        for key in ("completeness", "purity", "train_minutes"):
            fields[f"{name}_{key}_vs_baseline_ratio"] = (
                f[key] / base[key] if base[key] else math.nan
            )
    undefined = sorted(k for k, v in fields.items() if not math.isfinite(v))
    if undefined:
        print(f"undefined (no clusters or predictions to count): {' '.join(undefined)}")
    print("RESULT " + " ".join(f"{k}={v:.4f}" for k, v in fields.items() if math.isfinite(v)))


if __name__ == "__main__":
    main()
