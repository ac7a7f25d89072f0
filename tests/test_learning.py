"""The detector learns to find clusters on a small simulated survey (CPU, about a minute).

A few hundred 128-px cutouts of a rectangular patch, the tiny YOLO trained for a few epochs,
evaluated on held-out cutouts: the loss falls, and completeness and purity (one-to-one
matching at IoU >= 0.5) are far above chance. Chance is near zero: a random box rarely
overlaps a cluster box at IoU 0.5, and empty fields count against purity.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from clusterhpc.config import load_config
from clusterhpc.pipeline import main as run_pipeline
from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.trained]


def test_tiny_yolo_detects_simulated_clusters(tmp_path):
    cfg = load_config(
        ROOT / "configs" / "tiny.yaml",
        [
            f"data.root={tmp_path / 'data'}",
            f"run.dir={tmp_path / 'run'}",
            "simulate.footprint.ra=[140, 170]",
            "simulate.footprint.dec=[0, 10]",
            "simulate.cutouts.clusters=320",
            "simulate.cutouts.empty=80",
            "prep.empty.n=100",
            "train.epochs=10",
            "train.batch_size=8",
            "train.lr_init=0.002",
            "train.warmup_epochs=1",
            "train.log_every=10",
            "evaluate.gallery=4",
        ],
    )
    assert run_pipeline(cfg) == 0
    rows = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").open()]
    losses = [r["total"] for r in rows if r["kind"] == "step"]
    # Bounds with a real margin: over seeds 42 and 7, each with oneDNN's native AVX-512 path
    # and with ONEDNN_MAX_CPU_ISA=AVX2, the loss fell to 0.07-0.10 of its start, completeness
    # was 0.69-0.73, purity 0.73-0.83 and false detections per empty field 0-0.13.
    assert np.mean(losses[-3:]) < 0.2 * np.mean(losses[:3])
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["completeness"] > 0.45, metrics["completeness"]
    assert metrics["purity"] > 0.45, metrics["purity"]
    assert metrics["fp_per_empty_field"] < 0.5
