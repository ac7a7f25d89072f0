"""`clusterhpc evaluate CONFIG` for a catalogue-model run: every target against its baselines.

Protocol, as for the image models: on the run's own member sets (the training split's
fingerprint is the one the run recorded) the detection thresholds are chosen on `valid` and
every figure is reported on `test`; on another catalogue every set is test data. Baselines
with a fitted coefficient are fitted on the run's training split. Predictions are shared
over the MPI ranks; rank 0 writes `metrics.json`, `report.md` and `plots/` into
`evaluate.out` (or `<run.dir>`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from clusterhpc.config import Config
from clusterhpc.data.set_encoder import usable_sets
from clusterhpc.errors import DataError
from clusterhpc.evaluate.metrics_file import model_summary, write_metrics
from clusterhpc.evaluate.sets_baselines import set_baselines
from clusterhpc.evaluate.sets_report import sets_metrics, write_sets_plots, write_sets_report
from clusterhpc.hpc.mpi import get_comm
from clusterhpc.io.set_shards import MemberSets, read_index, read_split, split_fingerprint
from clusterhpc.log import get_logger
from clusterhpc.models import inference_record
from clusterhpc.models.set_inference import SetPredictor
from clusterhpc.models.set_loss import SetPredictions
from clusterhpc.paths import sets_dir

log = get_logger("evaluate")


def _splits(directory: Path, names: tuple[str, ...], targets: list[str]) -> MemberSets | None:
    """The usable sets of the listed splits that hold any, concatenated; None if none."""
    present = read_index(directory)["splits"]
    parts = [read_split(directory, s) for s in names if present.get(s, {}).get("n_sets", 0)]
    return usable_sets(MemberSets.concatenate(parts), targets) if parts else None


def choose_sets(cfg: Config, train_cfg: Config, run: Path, targets: list[str]) -> tuple:
    """(tune sets or None, report sets, training sets for the baselines, protocol record)."""
    directory = sets_dir(cfg)
    recorded = inference_record.read(run).get("train_sets")
    own = recorded is not None and split_fingerprint(directory, "train") == recorded
    train_dir = directory if own else sets_dir(train_cfg)
    if not (train_dir / "index.json").exists():
        raise DataError(f"{train_dir}: the run's training sets (for the baselines) are missing")
    train = _splits(train_dir, ("train",), targets)
    if own:
        tune, report = (
            _splits(directory, ("valid",), targets),
            _splits(directory, ("test",), targets),
        )
        protocol = {"tuned_on": "valid", "reported_on": "test", "survey": "the run's own"}
        if report is None:
            raise DataError(f"{directory}: no test sets to report on (prep.sets.split)")
    else:
        tune, report = None, _splits(directory, ("train", "valid", "test"), targets)
        protocol = {"tuned_on": None, "reported_on": "every split", "survey": "another"}
    return tune, report, train, protocol


def subset_convergence(
    train_cfg: Config,
    run: Path,
    checkpoint: str,
    sets: MemberSets,
    full: SetPredictions,
    batch: int,
    comm,
) -> dict | None:
    """π-SGD: how far the predictions move between a quarter of the inference subsets (an
    independent draw) and all of them. The Monte Carlo error left at S subsets is that RMS
    change / sqrt(5) (variances v/S and 4v/S add); it should be small against the σ."""
    subsets = train_cfg.model.sets.inference_subsets
    if train_cfg.model.kind != "sets" or train_cfg.model.pooling != "pi_sgd" or subsets < 4:
        return None
    quarter_cfg = dataclasses.replace(
        train_cfg,
        model=dataclasses.replace(
            train_cfg.model,
            sets=dataclasses.replace(train_cfg.model.sets, inference_subsets=subsets // 4),
        ),
    )
    quarter = SetPredictor(quarter_cfg, run, checkpoint).predict(sets, batch, comm, draw=1)
    if quarter is None:
        return None
    out: dict = {"subsets": [subsets // 4, subsets]}
    for name, mean in full.mean.items():
        change = np.sqrt(np.mean(np.square(mean - quarter.mean[name])))
        error = change / np.sqrt(5.0)
        out[name] = {
            "rms_change": float(change),
            "mc_error": float(error),
            "mc_error_over_sigma": float(error / np.median(full.sigma[name])),
        }
        if out[name]["mc_error_over_sigma"] > 0.1:
            log.warning(
                "%s: the π-SGD Monte Carlo error at %d subsets is %.2f of the median σ: raise "
                "model.sets.inference_subsets",
                name,
                subsets,
                out[name]["mc_error_over_sigma"],
            )
    return out


def evaluate_sets(cfg: Config, run: Path, train_cfg: Config, started: float) -> int:
    comm = get_comm()
    predictor = SetPredictor(train_cfg, run, cfg.evaluate.checkpoint)
    targets = predictor.encoder.targets
    tune, report, train, protocol = choose_sets(cfg, train_cfg, run, targets)
    batch = cfg.evaluate.batch_size
    tune_pred = predictor.predict(tune, batch, comm) if tune is not None else None
    pred = predictor.predict(report, batch, comm)
    convergence = subset_convergence(
        train_cfg, run, cfg.evaluate.checkpoint, report, pred, batch, comm
    )
    if not comm.is_root:
        return 0
    ev = cfg.evaluate
    out = Path(ev.out) if ev.out else run
    baselines = set_baselines(train, report, ev.baseline_photoz)
    metrics = sets_metrics(
        ev, report, pred, baselines, (tune, tune_pred) if tune is not None else None
    )
    metrics["protocol"] = protocol
    if convergence is not None:
        metrics["pi_sgd_convergence"] = convergence
    plots = write_sets_plots(out / "plots", ev, report, pred, baselines, metrics)
    metrics["plots"] = {caption: os.path.relpath(path, out) for caption, path in plots.items()}
    metrics["weights"] = predictor.weights
    m = train_cfg.model
    variant = {"pooling": m.pooling, "k": m.sets.k} if m.kind == "sets" else {"input": m.mlp_input}
    metrics["model"] = {**model_summary(train_cfg, run), **variant, "targets": targets}
    metrics = write_metrics(metrics, run, out, started, predictor.weights, False)
    write_sets_report(out / "report.md", metrics, metrics["plots"])
    headline = {
        t: metrics[t]["model"].get(metrics[t]["headline"]) for t in targets if t != "detect"
    }
    if "detect" in metrics:
        headline["detect auc"] = metrics["detect"].get("auc")
    log.info("%d test sets: %s -> %s", len(report), headline, out / "metrics.json")
    return 0
