"""`python -m clusterhpc.submit SWEEP [--dry-run] [--wait]`, `status SWEEP`, `collect SWEEP`.

Expands a sweep file (clusterhpc.hpc.sweep) into jobs, writes each job's resolved config to
`<run_dir>/job.yaml`, submits them with submitit (clusterhpc.hpc.launch) and records job IDs in
`<out>/<name>/manifest.json`. `status` shows each job's state; `collect` gathers every run's
`metrics.json` and `train_summary.json` into `results.csv` and `results.md`.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clusterhpc.cli import PREP_STAGES, STAGES
from clusterhpc.config import write_resolved
from clusterhpc.dotted_keys import dotted_items
from clusterhpc.errors import ClusterHPCError
from clusterhpc.hpc.launch import JOB_FILE, job_runner, make_executor, sbatch_text, uses_array
from clusterhpc.hpc.slurm import FINISHED_STATES, job_states
from clusterhpc.hpc.sweep import Sweep, load_sweep
from clusterhpc.io.atomic import atomic_write_text


def known_stages() -> list[str]:
    return [s.name for s in STAGES] + [f"prep {s.name}" for s in PREP_STAGES]


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    """A Markdown table (pipes in values escaped)."""

    def cell(value: Any) -> str:
        text = f"{value:.6g}" if isinstance(value, float) else str(value)
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def _write_manifest(sweep: Sweep, jobs: list[dict[str, Any]]) -> None:
    manifest = {
        "sweep": str(sweep.path),
        "base": str(sweep.base),
        "executor": sweep.spec.executor,
        "submitted": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "jobs": jobs,
    }
    atomic_write_text(sweep.manifest, json.dumps(manifest, indent=1))


def _read_manifest(sweep: Sweep) -> dict[str, Any]:
    if not sweep.manifest.exists():
        raise ClusterHPCError(f"{sweep.manifest}: no manifest; submit the sweep first")
    return json.loads(sweep.manifest.read_text())


def dry_run(sweep: Sweep) -> str:
    """What would be submitted: each job's values, run directory and commands, sbatch options."""
    out = [f"# sweep {sweep.path}: {len(sweep.jobs)} jobs, executor {sweep.spec.executor}"]
    for job in sweep.jobs:
        out.append(f"\n## job {job.name}\nparams: {json.dumps(job.params)}\nrun_dir: {job.run_dir}")
        out += [f"  $ {shlex.join(cmd)}" for cmd in job_runner(sweep, job).commands]
    if sweep.spec.executor == "slurm":
        kind = f"one job array of {len(sweep.jobs)}" if uses_array(sweep) else "each job"
        out.append(
            f"\n## sbatch options ({kind}); submitit writes the script from them at submission, "
            "adding its --output and the command that runs the pickled job"
        )
        out.append(sbatch_text(sweep))
    return "\n".join(out)


def submit(sweep: Sweep, wait: bool, force: bool) -> int:
    if sweep.manifest.exists() and not force:
        raise ClusterHPCError(
            f"{sweep.manifest}: this sweep was already submitted; see `status`, or pass --force "
            "to submit again (runs resume from their checkpoints)"
        )
    runners = []
    for job in sweep.jobs:
        write_resolved(job.config, job.run_dir, JOB_FILE)
        runners.append(job_runner(sweep, job))
    executor = make_executor(sweep)
    if uses_array(sweep) or sweep.spec.executor == "local":
        with executor.batch():
            handles = [executor.submit(r) for r in runners]
    else:
        handles = [executor.submit(r) for r in runners]
    records = [
        {
            "name": j.name,
            "params": j.params,
            "run_dir": str(j.run_dir),
            "job_id": h.job_id,
            "state": "SUBMITTED",
        }
        for j, h in zip(sweep.jobs, handles, strict=True)
    ]
    _write_manifest(sweep, records)
    print(f"submitted {len(records)} jobs; manifest {sweep.manifest}")
    if sweep.spec.executor != "slurm":  # local jobs: wait here and record how they ended
        for record, handle in zip(records, handles, strict=True):
            try:
                handle.result()
                record["state"] = "COMPLETED"
            except Exception as exc:  # the job's own error, shown by status
                record["state"] = "FAILED"
                record["error"] = str(exc).strip().splitlines()[-1][:300]
        _write_manifest(sweep, records)
    elif wait:
        wait_for(sweep)
    return status(sweep)


def current_states(sweep: Sweep) -> list[dict[str, Any]]:
    jobs = _read_manifest(sweep)["jobs"]
    if sweep.spec.executor == "slurm":
        states = job_states(j["job_id"] for j in jobs)
        for job in jobs:
            job["state"] = states.get(job["job_id"], "UNKNOWN")
    return jobs


def wait_for(sweep: Sweep, poll: float = 2.0) -> None:
    while any(j["state"] not in FINISHED_STATES for j in current_states(sweep)):
        time.sleep(poll)


def status(sweep: Sweep) -> int:
    """Print each job's state; exit code 0 when every job completed, 1 otherwise."""
    jobs = current_states(sweep)
    print(_table(jobs, ["name", "job_id", "state", "run_dir"]))
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job["state"]] = counts.get(job["state"], 0) + 1
    print(", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
    return 0 if set(counts) == {"COMPLETED"} else 1


def _cells(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The scalar leaves of `data` by dotted key: lists (curves, per-bin tables) do not fit in
    one cell of a results table."""
    return {
        key: value
        for key, value in dotted_items(data, prefix).items()
        if isinstance(value, int | float | str | bool) or value is None
    }


def _run_results(run_dir: Path) -> dict[str, Any]:
    row: dict[str, Any] = {}
    summary = run_dir / "train_summary.json"
    if summary.exists():
        data = json.loads(summary.read_text())
        row.update(_cells(data.get("final_losses", {}), "loss"))
        row.update({k: data[k] for k in ("epochs_done", "global_step") if k in data})
    metrics = run_dir / "metrics.json"
    if metrics.exists():
        row.update(_cells(json.loads(metrics.read_text())))
    return row


def collect(sweep: Sweep, sort: str, descending: bool) -> int:
    """Write results.csv and results.md in the sweep directory; print the Markdown table."""
    rows = []
    for job in current_states(sweep):
        rows.append(
            {
                "name": job["name"],
                "state": job["state"],
                **job["params"],
                **_run_results(Path(job["run_dir"])),
            }
        )
    columns = list(dict.fromkeys(k for row in rows for k in row))
    if sort:
        if sort not in columns:
            raise ClusterHPCError(f"--sort {sort}: no such column; columns: {', '.join(columns)}")
        numbers = [r for r in rows if isinstance(r.get(sort), int | float)]
        others = [r for r in rows if r not in numbers]
        rows = sorted(numbers, key=lambda r: r[sort], reverse=descending) + others
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(sweep.directory / "results.csv", buffer.getvalue())
    table = _table(rows, columns)
    atomic_write_text(sweep.directory / "results.md", table + "\n")
    print(table)
    print(f"\nwrote {sweep.directory / 'results.csv'} and {sweep.directory / 'results.md'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m clusterhpc.submit",
        description="Run a hyper-parameter sweep through submitit: SWEEP submits it, "
        "`status SWEEP` shows job states, `collect SWEEP` gathers the results.",
    )
    parser.add_argument("action", nargs="?", choices=["status", "collect"], help=argparse.SUPPRESS)
    parser.add_argument("sweep", metavar="SWEEP", help="sweep file (configs/sweep_example.yaml)")
    parser.add_argument("--dry-run", action="store_true", help="print jobs and sbatch, submit none")
    parser.add_argument("--wait", action="store_true", help="wait until every Slurm job ends")
    parser.add_argument("--force", action="store_true", help="submit a sweep again")
    parser.add_argument("--sort", default="", metavar="METRIC", help="collect: sort by a column")
    parser.add_argument("--descending", action="store_true", help="collect: largest first")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        sweep = load_sweep(args.sweep, known_stages())
        if args.action == "status":
            return status(sweep)
        if args.action == "collect":
            return collect(sweep, args.sort, args.descending)
        if args.dry_run:
            print(dry_run(sweep))
            return 0
        return submit(sweep, args.wait, args.force)
    except ClusterHPCError as exc:
        print(f"clusterhpc.submit: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
