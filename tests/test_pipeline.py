"""`clusterhpc run` end to end on the tiny config under 2 real MPI ranks, then resumed."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.io import fits

from clusterhpc.config import load_config
from clusterhpc.pipeline import is_done, stages_for
from clusterhpc.prep.verify_stage import main as verify
from tests.conftest import ROOT, run_mpi

pytestmark = [pytest.mark.slow, pytest.mark.mpi, pytest.mark.horovod]


def test_run_pipeline_on_two_ranks_then_skip_everything(tmp_path):
    overrides = [f"data.root={tmp_path / 'data'}", f"run.dir={tmp_path / 'run'}"]
    tiny = str(ROOT / "configs" / "tiny.yaml")
    run_mpi(2, "-m", "clusterhpc", "run", tiny, *overrides, timeout=900)
    data, run = tmp_path / "data", tmp_path / "run"

    catalog = fits.getdata(data / "catalog.fits", 1)
    assert len(catalog) > 0 and {"ID", "RA", "DEC", "Z_LAMBDA", "LAMBDA"} <= set(catalog.names)
    cutouts = fits.getdata(data / "cutouts.fits", 1)
    assert all((data / f).exists() for f in cutouts["FILE"])
    assert len(fits.getdata(data / "prep" / "boxes.fits", "BOXES")) > 0
    assert len(fits.getdata(data / "prep" / "empty_fields.fits", 1)) == 50
    cfg = load_config(tiny, overrides)
    assert verify(cfg) == 0
    assert np.loadtxt(data / "prep" / "anchors.txt").shape == (9, 2)

    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["status"] == "finished" and summary["ranks"] == 2
    assert summary["epochs_done"] == cfg.train.epochs
    replicas = summary["replicas"]  # both ranks, one host, the same weights
    assert [(r["rank"], r["local_rank"]) for r in replicas] == [(0, 0), (1, 1)], replicas
    assert replicas[0]["weights_sha256"] == replicas[1]["weights_sha256"], replicas
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("completeness", "purity", "score_threshold", "fp_per_empty_field", "map50"):
        assert key in metrics and np.isfinite(metrics[key]), key
    assert 0 <= metrics["completeness"] <= 1 and 0 <= metrics["purity"] <= 1
    report = (run / "report.md").read_text()
    for png in ("thresholds.png", "completeness_z.png", "training_curves.png"):
        assert png in report or (run / "plots" / png).exists(), png
    detections = fits.getdata(run / "detections.fits", 1)
    assert {"RA", "DEC", "SCORE"} <= set(detections.names)
    assert all(is_done(cfg, stage) for stage in stages_for("yolo"))

    again = run_mpi(2, "-m", "clusterhpc", "run", tiny, *overrides, timeout=300)
    assert again.stderr.count("up to date, skipped") == len(stages_for("yolo"))
