"""The metrics.json every evaluation writes, and the threshold it leaves in its run."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from clusterhpc.config import Config
from clusterhpc.io.atomic import atomic_write_text
from clusterhpc.models import inference_record


def json_safe(value: Any) -> Any:
    """`value` with numpy scalars as Python numbers and non-finite floats as None (null)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_metrics(
    metrics: dict, run: Path, out: Path, started: float, weights: str, threshold_chosen: bool
) -> dict:
    """Add the training curves and the seconds since `started`, write `out`/metrics.json and,
    when the threshold was chosen here (on valid) and the evaluation is written into the run,
    record it there as the run's threshold for `detect` (an evaluation written elsewhere, say
    with other matching, leaves it alone). Returns the metrics as written."""
    curves = run / "plots" / "training_curves.png"
    if curves.exists():
        metrics["plots"] = {"Training curves": os.path.relpath(curves, out), **metrics["plots"]}
    metrics["seconds"] = time.perf_counter() - started
    metrics = json_safe(metrics)
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=1))
    if threshold_chosen and out.resolve() == run.resolve():
        inference_record.record_threshold(run, metrics["score_threshold"], weights)
    return metrics


def model_summary(train_cfg: Config, run: Path) -> dict:
    """What was trained and how, for the report: the family's architecture, the schedule and,
    once trained, the throughput."""
    m, t = train_cfg.model, train_cfg.train
    if m.kind == "cnn":
        architecture = {**dataclasses.asdict(m.cnn), "width": m.width, "input_size": m.input_size}
    elif m.kind in ("sets", "mlp"):
        architecture = {k: getattr(m.sets, k) for k in ("hidden", "depth", "max_members")}
    else:
        architecture = {
            "backbone": m.backbone,
            "head": m.head,
            "width": m.width,
            "input_size": m.input_size,
        }
    summary = {
        "kind": m.kind,
        **architecture,
        "epochs": t.epochs,
        "batch_size": t.batch_size,
        "lr_init": t.lr_init,
    }
    trained = run / "train_summary.json"
    if trained.exists():
        done = json.loads(trained.read_text())
        summary |= {
            "ranks": done.get("ranks"),
            "steps": done.get("global_step"),
            "images_per_second": done.get("images_per_second"),
        }
    return summary
