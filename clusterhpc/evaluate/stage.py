"""`clusterhpc evaluate CONFIG`: score a trained run on a packed survey.

Protocol. The score threshold is chosen on validation images and the numbers are reported
on test images, never tuned on them:

- on the run's own survey (its packed training shards have the fingerprints the run recorded
  in `inference.json`, wherever the survey is staged): tuned on
  `valid`, reported on `test`; without a test split, `valid` is cut in two seeded halves
  (tune on one, report on the other);
- on another survey, every image of every split counts as test data; the threshold is then
  `evaluate.score_threshold` when set, else it is chosen on the run's own `valid` split.

Inference runs MPI-parallel over images; rank 0 matches, writes `metrics.json`, `report.md`
and `plots/` into `evaluate.out` (or `<run.dir>`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from clusterhpc.boxes import clip
from clusterhpc.config import Config
from clusterhpc.data.packed import PackedSplit, read_index
from clusterhpc.errors import DataError
from clusterhpc.evaluate import plots
from clusterhpc.evaluate.ap import mean_ap, precision_recall
from clusterhpc.evaluate.breakdown import comparable_figures
from clusterhpc.evaluate.heads import head_scores
from clusterhpc.evaluate.matching import Criterion
from clusterhpc.evaluate.metrics import (
    MatchSettings,
    Selection,
    SplitMatcher,
    binned_completeness,
    binned_purity,
    counts,
    operating_point,
    sweep,
)
from clusterhpc.evaluate.metrics_file import model_summary, write_metrics
from clusterhpc.evaluate.predict import predict_split
from clusterhpc.evaluate.records import Predictions, Truth
from clusterhpc.evaluate.report import write_report
from clusterhpc.evaluate.sky import SkySettings
from clusterhpc.hpc.mpi import Comm, get_comm
from clusterhpc.log import get_logger
from clusterhpc.models import inference_record
from clusterhpc.models.yolo_inference import (
    Detector,
    recalibrate_on_training_images,
    trained_config,
)
from clusterhpc.paths import packed_dir, run_dir, survey_dir
from clusterhpc.sky.projection import to_pixels

log = get_logger("evaluate")


class Scored:
    """Truth and predictions of a set of images, and where each image lives.

    `preds` are clipped to the image (as the training targets; what matching scores),
    `unclipped` are the detector's boxes (what `detect` places on the sky)."""

    def __init__(
        self, truth: Truth, unclipped: Predictions, sources: list[tuple[PackedSplit, int]]
    ) -> None:
        self.truth, self.unclipped, self.sources = truth, unclipped, sources
        height, width = truth.image_shape
        self.preds = dataclasses.replace(unclipped, boxes=clip(unclipped.boxes, width, height))

    @property
    def n_images(self) -> int:
        return self.truth.n_images

    def take(self, images: np.ndarray) -> Scored:
        return Scored(
            self.truth.take(images), self.unclipped.take(images), [self.sources[i] for i in images]
        )

    def concat(self, other: Scored) -> Scored:
        return Scored(
            self.truth.concat(other.truth),
            self.unclipped.concat(other.unclipped),
            self.sources + other.sources,
        )


def same_survey(train_cfg: Config, cfg: Config) -> bool:
    """Whether `cfg`'s survey holds the run's training shards, by content (wherever staged);
    by resolved `data.root` only for runs that recorded no shard fingerprints."""
    same = inference_record.trained_on(run_dir(cfg), packed_dir(cfg))
    if same is None:
        return Path(train_cfg.data.root).resolve() == Path(cfg.data.root).resolve()
    return same


def protocol_record(cfg: Config, train_cfg: Config, protocol: dict, **details: Any) -> dict:
    """The evaluation protocol as metrics.json records it: the sets used (`protocol`), the
    survey and run, whether the survey is the training one, the family's `details`, and the
    intervals' kind."""
    return {
        **protocol,
        "survey": cfg.data.root,
        "run": cfg.run.dir,
        "trained_on_survey": same_survey(train_cfg, cfg),
        **details,
        "uncertainties": "Wilson score interval, 68.3 %",
    }


def split_names(packed: Path) -> list[str]:
    splits = read_index(packed)["splits"]
    return [name for name in ("train", "valid", "test") if splits.get(name, {}).get("n_images")]


def score_split(detector: Detector, packed: Path, name: str, batch: int, comm: Comm):
    """Truth and predictions of one split."""
    split = PackedSplit(packed, name)
    preds = predict_split(detector, split, batch, comm)
    if preds is None:
        return None
    return Scored(Truth.from_split(split), preds, [(split, i) for i in range(len(split))])


def choose_sets(cfg: Config, train_cfg: Config, score: Callable[[Path, str], Any]):
    """(tune set or None, report set, protocol dict); sets are None on ranks > 0.

    `score(packed_dir, split)` scores one split (collectively over the ranks) into a set with
    `take(rows)` and `concat(other)` (`Scored` for the detector); `n_images` counts it."""
    ev = cfg.evaluate
    packed = packed_dir(cfg)
    names = split_names(packed)
    if same_survey(train_cfg, cfg):
        if "valid" not in names:
            raise DataError(f"{packed}: no valid split to choose the score threshold on")
        valid = score(packed, "valid")
        if "test" in names:
            test = score(packed, "test")
            return valid, test, {"tuned_on": "valid", "reported_on": "test"}
        if valid is None:
            return None, None, {}
        order = np.random.default_rng(cfg.seed).permutation(valid.n_images)
        halves = np.sort(order[::2]), np.sort(order[1::2])
        log.warning("no test split: tuning on half of valid, reporting on the other half")
        protocol = {"tuned_on": "valid (half A)", "reported_on": "valid (half B)"}
        return valid.take(halves[0]), valid.take(halves[1]), protocol
    report = None
    for name in names:
        part = score(packed, name)
        if part is not None:
            report = part if report is None else report.concat(part)
    protocol = {"reported_on": f"all images ({'+'.join(names)}; survey not trained on)"}
    if ev.score_threshold > 0:
        return None, report, {**protocol, "tuned_on": "fixed evaluate.score_threshold"}
    own = packed_dir(train_cfg)
    if "valid" not in (split_names(own) if (own / "index.json").exists() else []):
        raise DataError(
            f"{cfg.data.root} is not the run's survey ({train_cfg.data.root}) and {own} has no "
            "valid split to choose the threshold on: set evaluate.score_threshold"
        )
    tune = score(own, "valid")
    return tune, report, {**protocol, "tuned_on": f"valid of {train_cfg.data.root}"}


def gallery_panels(s: Scored, matcher_match, n: int, seed: int, projection: str):
    """Up to n images: found clusters, missed clusters, false detections on empty fields."""
    truth, preds = s.truth, s.preds
    img_t, img_p = truth.image_of_box(), preds.image_of_box()
    found = np.unique(img_t[matcher_match.truth_matched])
    missed = np.setdiff1d(np.unique(img_t[matcher_match.truth_counted]), found)
    empty = np.flatnonzero(np.asarray(truth.meta["empty"], bool))
    false_empty = np.intersect1d(empty, np.unique(img_p[matcher_match.pred_false]))
    rng = np.random.default_rng(seed)
    picks: list[int] = []
    for group, share in ((found, n // 2), (missed, n // 4), (false_empty, n // 4)):
        picks += [int(i) for i in rng.permutation(group)[:share]]
    rest = np.setdiff1d(np.arange(truth.n_images), picks)
    picks += [int(i) for i in rng.permutation(rest)[: n - len(picks)]]
    panels = []
    for i in sorted(picks):
        split, index = s.sources[i]
        item = split.item(index)
        t0, t1 = truth.offsets[i], truth.offsets[i + 1]
        p0, p1 = preds.offsets[i], preds.offsets[i + 1]
        kept = matcher_match.pred_kept[p0:p1]
        width = item.image.shape[1]
        members = np.zeros((0, 2))
        feats = split.member_features
        if len(item.members) and "RA" in feats and "DEC" in feats:
            ra, dec = item.members[:, feats.index("RA")], item.members[:, feats.index("DEC")]
            x, y = to_pixels(
                item.meta["ra"], item.meta["dec"], ra, dec, item.meta["pixscale"], width, projection
            )
            members = np.stack([x, y], 1)
        label = "empty field" if item.meta["empty"] else f"ID {item.meta['id']}"
        z, lam = item.meta["z"], item.meta["lam"]
        if not item.meta["empty"]:
            label += f"  z={z:.2f} λ={lam:.0f}"
        panels.append(
            plots.Panel(
                image=item.image,
                truth=truth.boxes[t0:t1],
                pred=preds.boxes[p0:p1][kept],
                scores=preds.scores[p0:p1][kept],
                pred_matched=matcher_match.pred_matched[p0:p1][kept],
                members=members,
                title=label,
            )
        )
    return panels


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


def make_plots(
    cfg: Config, train_cfg: Config, report: Scored, match, metrics: dict, out: Path
) -> dict[str, str]:
    folder = out / "plots"
    comp = metrics["binned"]["completeness"]
    files = {
        "Completeness vs redshift": ("completeness_z.png", comp["z"], "redshift z"),
        "Completeness vs richness": ("completeness_lambda.png", comp["lambda"], "richness λ"),
        "Completeness vs mass": (
            "completeness_mass.png",
            comp["log10_mass"],
            "log10 M [M☉] (Simet)",
        ),
    }
    written = {}
    for caption, (name, table, xlabel) in files.items():
        plots.plot_binned(table, xlabel, folder / name)
        written[caption] = f"plots/{name}"
    curves = {
        k.replace("tune", metrics["protocol"]["tuned_on"]).replace(
            "report", metrics["protocol"]["reported_on"]
        ): v
        for k, v in metrics["curves"].items()
    }
    plots.plot_thresholds(curves, metrics["score_threshold"], folder / "thresholds.png")
    written["Completeness and purity vs score threshold"] = "plots/thresholds.png"
    pr = precision_recall(report.truth, report.preds, 0.5, cfg.evaluate.min_area_fraction)
    at = pr.scores >= metrics["score_threshold"]
    point = (pr.recall[at][-1], pr.precision[at][-1]) if at.any() else (0.0, 1.0)
    plots.plot_precision_recall(pr.recall, pr.precision, pr.ap, point, folder / "pr.png")
    written["Precision-recall (IoU 0.5)"] = "plots/pr.png"
    if cfg.evaluate.gallery:
        panels = gallery_panels(
            report, match, cfg.evaluate.gallery, cfg.seed, cfg.prep.boxes.projection
        )
        plots.plot_gallery(panels, folder / "gallery.png")
        written["Detection gallery"] = "plots/gallery.png"
    return written


def main(cfg: Config) -> int:
    tic = time.perf_counter()
    run = run_dir(cfg)
    train_cfg = trained_config(run, cfg)
    if train_cfg.model.kind == "cnn":
        from clusterhpc.evaluate.classifier_stage import evaluate_classifier

        return evaluate_classifier(cfg, run, train_cfg, tic)
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
