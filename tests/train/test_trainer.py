"""The trainer on small packed sets: it learns, logs, checkpoints and resumes exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from clusterhpc.config import load_config
from clusterhpc.train.signals import EXIT_REQUEUE
from clusterhpc.train.stage import main as train_main
from tests.train.cnn_fixtures import CNN_SETTINGS, make_classifier_survey
from tests.train.fixtures import (
    ROOT,
    YOLO_SETTINGS,
    config_overrides,
    make_packed_survey,
    train_config,
)
from tests.train.sets_fixtures import SETS_SETTINGS, make_sets_survey


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    return make_packed_survey(tmp_path_factory.mktemp("trainer"))


def rows(run, kind):
    lines = (run / "train_log.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


@pytest.mark.trained
def test_training_runs_logs_and_loss_decreases(survey, tmp_path):
    run = tmp_path / "run"
    assert train_main(train_config(survey, run, "train.epochs=4")) == 0
    steps = rows(run, "step")
    assert [r["step"] for r in steps] == list(range(1, 25))  # 24 images / batch 4 x 4 epochs
    first, last = (
        np.mean([r["total"] for r in steps[:3]]),
        np.mean([r["total"] for r in steps[-3:]]),
    )
    assert last < 0.7 * first
    epochs = rows(run, "epoch")
    assert [r["epoch"] for r in epochs] == [1, 2, 3, 4]
    assert all("valid_total" in r for r in epochs)
    assert steps[0]["lr"] < steps[2]["lr"]  # warm-up
    assert (run / "plots" / "training_curves.png").stat().st_size > 0
    assert (run / "final.weights.h5").exists()
    assert (run / "config.yaml").exists()
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["status"] == "finished" and summary["epochs_done"] == 4


def read_weights(run):
    import h5py

    with h5py.File(run / "final.weights.h5") as h5:
        out = {}
        h5.visititems(
            lambda name, obj: out.__setitem__(name, obj[()]) if hasattr(obj, "shape") else None
        )
    return out


@dataclass(frozen=True)
class Family:
    """A model family's tiny training run, for the interruption test."""

    config: str
    settings: tuple[str, ...]
    make_survey: Callable[[Path], Path]
    steps_per_epoch: int


FAMILIES = {
    "yolo": Family("tiny.yaml", (*YOLO_SETTINGS, "train.epochs=3"), make_packed_survey, 6),
    "cnn": Family(
        "cnn_classifier.yaml",
        (*CNN_SETTINGS, "train.epochs=3", "train.batch_size=4", "train.augment_shift=0.1"),
        lambda directory: make_classifier_survey(directory, {"train": 128, "valid": 16}),
        32,
    ),
    # π-SGD with rotations: the subsets and rotations of a resumed epoch must replay exactly
    "sets": Family(
        "janossy_redshift.yaml",
        (
            *SETS_SETTINGS,
            "model.pooling=pi_sgd",
            "model.sets.targets=[z, centre, detect]",
            "train.epochs=3",
            "train.batch_size=16",
            "train.max_steps_per_epoch=8",
        ),
        make_sets_survey,
        8,
    ),
}


@pytest.mark.slow
@pytest.mark.trained
@pytest.mark.parametrize("name", FAMILIES)
def test_sigterm_checkpoints_then_resume_matches_uninterrupted_run(name, tmp_path):
    family = FAMILIES[name]
    config = ROOT / "configs" / family.config
    survey = family.make_survey(tmp_path)
    reference = tmp_path / "reference"
    cfg = load_config(config, config_overrides(survey, reference, family.settings))
    assert train_main(cfg) == 0

    run = tmp_path / "interrupted"
    args = [sys.executable, "-m", "clusterhpc", "train", str(config)]
    args += config_overrides(survey, run, family.settings)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    pipe = subprocess.PIPE
    proc = subprocess.Popen(args, env=env, stdout=pipe, stderr=pipe, text=True)
    per_epoch = family.steps_per_epoch
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # interrupt early in epoch 2
        if (run / "train_log.jsonl").exists() and any(
            r["step"] > per_epoch + 1 for r in rows(run, "step")
        ):
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_REQUEUE, err[-2000:]
    assert "stopped by a signal" in err
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["epochs_done"] == 1
    assert per_epoch < summary["global_step"] < 2 * per_epoch

    resumed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stderr
    assert [r["step"] for r in rows(run, "step")] == list(range(1, 3 * per_epoch + 1))
    assert [r["epoch"] for r in rows(run, "epoch")] == [1, 2, 3]
    ref, got = read_weights(reference), read_weights(run)
    assert ref.keys() == got.keys()
    for key in ref:
        np.testing.assert_allclose(got[key], ref[key], rtol=1e-4, atol=1e-5, err_msg=key)


def test_signal_during_start_up_checkpoints_before_the_first_step(survey, tmp_path):
    from clusterhpc.train.signals import StopRequest
    from clusterhpc.train.tasks import make_task
    from clusterhpc.train.trainer import Trainer

    cfg = train_config(survey, tmp_path / "run")
    stop = StopRequest()
    stop.install()
    os.kill(os.getpid(), signal.SIGUSR1)  # e.g. Slurm's warning while TensorFlow loads
    result = Trainer(make_task(cfg), cfg.train, tmp_path / "run", cfg.seed).fit(stop)
    assert result.status == "interrupted" and result.global_step == 0
    assert (tmp_path / "run" / "checkpoints" / "checkpoint").exists()
    resumed = Trainer(make_task(cfg), cfg.train, tmp_path / "run", cfg.seed).fit()
    assert resumed.status == "finished" and resumed.epochs_done == cfg.train.epochs


def test_validation_stops_at_max_valid_steps(survey, tmp_path):
    from clusterhpc.train.tasks import make_task
    from clusterhpc.train.trainer import Trainer

    cfg = train_config(survey, tmp_path / "run", "train.epochs=1", "train.max_valid_steps=1")
    task = make_task(cfg)
    full = task.valid_batches(0, 1)
    assert len(list(full)) == 2  # 8 valid images, batch 4
    read = []
    make_batches = task.valid_batches

    def counted(rank, size):
        for batch in make_batches(rank, size):
            read.append(batch)
            yield batch

    task.valid_batches = counted
    Trainer(task, cfg.train, tmp_path / "run", cfg.seed).fit()
    assert len(read) == 1
    assert "valid_total" in rows(tmp_path / "run", "epoch")[0]
