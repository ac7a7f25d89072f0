"""`clusterhpc evaluate CONFIG`: score a trained run on a packed survey.

The score threshold is chosen on validation images and the numbers are reported on test
images, never tuned on them; `clusterhpc.evaluate.protocol` says which images are which.
Inference runs MPI-parallel over images; rank 0 matches, writes `metrics.json`, `report.md`
and `plots/` into `evaluate.out` (or `<run.dir>`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from clusterhpc.config import Config
from clusterhpc.data.packed import PackedSplit
from clusterhpc.evaluate.ap import mean_ap
from clusterhpc.evaluate.breakdown import comparable_figures
from clusterhpc.evaluate.heads import head_scores
from clusterhpc.evaluate.matching import Criterion
from clusterhpc.evaluate.metrics import (
    MatchSettings,
    Selection,
    SplitMatcher,
    binned_completeness,
    binned_purity,
    companion_completeness,
    counts,
    operating_point,
    sweep,
)
from clusterhpc.evaluate.metrics_file import model_summary, write_metrics
from clusterhpc.evaluate.predict import predict_split
from clusterhpc.evaluate.protocol import choose_sets, protocol_record
from clusterhpc.evaluate.records import Truth
from clusterhpc.evaluate.report import write_report
from clusterhpc.evaluate.report_figures import make_plots
from clusterhpc.evaluate.scored import Scored
from clusterhpc.evaluate.sky import SkySettings
from clusterhpc.hpc.mpi import Comm, get_comm
from clusterhpc.log import get_logger
from clusterhpc.models.yolo_inference import (
    Detector,
    recalibrate_on_training_images,
    trained_config,
)
from clusterhpc.paths import run_dir, survey_dir

log = get_logger("evaluate")


def score_split(detector: Detector, packed: Path, name: str, batch: int, comm: Comm):
    """Truth and predictions of one split."""
    split = PackedSplit(packed, name)
    preds = predict_split(detector, split, batch, comm)
    if preds is None:
        return None
    return Scored(Truth.from_split(split), preds, [(split, i) for i in range(len(split))])


def evaluate(
    cfg: Config, train_cfg: Config, tune: Scored | None, report: Scored, protocol: dict, out: Path
) -> dict:
    """All metrics and figures on rank 0; returns the metrics dict written to metrics.json."""
    ev = cfg.evaluate
    criterion = Criterion(
        ev.criterion, ev.iou_threshold if ev.criterion == "iou" else ev.centre_arcmin
    )
    settings = MatchSettings(ev.matching, criterion, ev.min_area_fraction)
    selection = Selection(ev.select_lambda_min, (ev.select_z[0], ev.select_z[1]))
    grid = np.linspace(ev.score_min, ev.score_max, ev.score_steps)
    curves: dict[str, dict] = {}
    if tune is not None:
        curves["tune"] = sweep(SplitMatcher(tune.truth, tune.preds, settings), grid, selection)
        points = operating_point(curves["tune"])
    else:
        points = {
            "max_min": ev.score_threshold,
            "max_min_value": float("nan"),
            "equal": ev.score_threshold,
        }
    threshold = ev.score_threshold if ev.score_threshold > 0 else points[ev.operating_point]
    matcher = SplitMatcher(report.truth, report.preds, settings)
    curves["report"] = sweep(matcher, grid, selection)
    match = matcher.at(threshold)
    head = counts(report.truth, report.preds, match, selection)
    aps = mean_ap(report.truth, report.preds, ev.min_area_fraction)
    bins = {"z": ev.z_bins, "lambda": ev.lambda_bins, "log10_mass": ev.mass_bins}
    binned = {"completeness": binned_completeness(report.truth, match, selection, bins)}
    binned["companions"] = companion_completeness(
        report.truth, match, selection, ev.separation_bins
    )
    purity_bins = {"z": ev.z_bins, "lam": ev.lambda_bins}
    binned["purity"] = {
        name: binned_purity(report.preds, match, name, purity_bins[name])
        for name in report.preds.value_names
    }
    metrics = {
        **head,
        **aps,
        "score_threshold": float(threshold),
        "operating_points": points,
        "protocol": protocol_record(
            cfg,
            train_cfg,
            protocol,
            operating_point="fixed" if ev.score_threshold > 0 else ev.operating_point,
            matching=ev.matching,
            criterion=f"{criterion.kind} {'>=' if criterion.kind == 'iou' else '<='} "
            f"{criterion.threshold:g}{' arcmin' if criterion.kind == 'centre' else ''}",
            min_area_fraction=ev.min_area_fraction,
            selection={"lambda_min": selection.lambda_min, "z": list(selection.z_range)},
        ),
        "binned": binned,
        **comparable_figures(
            report.truth,
            report.preds,
            report.unclipped,
            match,
            selection,
            survey_dir(cfg) / "catalog.fits",
            SkySettings(ev.sky_radius_arcmin, cfg.detect.merge_arcmin, bins),
        ),
        **head_scores(cfg, train_cfg, tune, report, match),
        "curves": curves,
    }
    metrics["plots"] = make_plots(cfg, train_cfg, report, match, metrics, out)
    return metrics


def main(cfg: Config) -> int:
    tic = time.perf_counter()
    run = run_dir(cfg)
    train_cfg = trained_config(run, cfg)
    if train_cfg.model.kind == "cnn":
        from clusterhpc.evaluate.classifier_stage import evaluate_classifier

        return evaluate_classifier(cfg, run, train_cfg, tic)
    if train_cfg.model.kind in ("sets", "mlp"):
        from clusterhpc.evaluate.sets_stage import evaluate_sets

        return evaluate_sets(cfg, run, train_cfg, tic)
    comm = get_comm()
    ev = cfg.evaluate
    detector = Detector(
        train_cfg,
        run,
        ev.checkpoint,
        score_threshold=ev.score_min,
        nms_iou=ev.nms_iou,
        nms_method=ev.nms,
        nms_sigma=ev.nms_sigma,
    )
    if ev.recalibrate_bn:
        recalibrate_on_training_images(detector, train_cfg, ev.recalibrate_bn, ev.batch_size, cfg)
    batch = ev.batch_size
    tune, report, protocol = choose_sets(
        cfg, train_cfg, lambda packed, name: score_split(detector, packed, name, batch, comm)
    )
    if not comm.is_root:
        return 0
    out = Path(ev.out) if ev.out else run
    metrics = evaluate(cfg, train_cfg, tune, report, protocol, out)
    metrics["weights"] = detector.weights
    metrics["model"] = model_summary(train_cfg, run)
    metrics = write_metrics(metrics, run, out, tic, detector.weights, ev.score_threshold <= 0)
    write_report(metrics, metrics["plots"], out / "report.md")
    log.info(
        "completeness %s, purity %s at threshold %.3f, AP50 %s -> %s",
        metrics["completeness"],
        metrics["purity"],
        metrics["score_threshold"],
        metrics["map50"],
        out / "metrics.json",
    )
    return 0
