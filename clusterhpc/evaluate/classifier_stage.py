"""`clusterhpc evaluate CONFIG` for a CNN classifier run (`model.kind: cnn`).

The detector's protocol and the same code choosing the images (`evaluate.protocol.choose_sets`):
on the run's own survey the threshold is chosen on `valid` (the lowest whose false-positive
rate is at most `evaluate.false_positive_rate`, unless `evaluate.score_threshold` fixes it)
and the numbers are reported on `test` (without a test split: two seeded halves of valid);
on another survey every image is test data and the threshold comes from the run's own valid.
Rank 0 writes `metrics.json`, `report.md` and `plots/` (ROC/PR, reliability, completeness
against z and λ, a gallery of the most confident false positives and of the missed clusters,
Grad-CAM maps) into `evaluate.out` (or `<run.dir>`), and records the threshold in the run
for `detect`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clusterhpc.config import Config
from clusterhpc.data.classes import split_labels
from clusterhpc.data.packed import PackedSplit
from clusterhpc.data.tf_datasets import letterbox_image
from clusterhpc.evaluate import classifier_plots as cplots
from clusterhpc.evaluate import plots
from clusterhpc.evaluate.classifier_metrics import (
    pr_curve,
    rates_at,
    redshift_metrics,
    reliability,
    roc_curve,
    threshold_at_fpr,
)
from clusterhpc.evaluate.classifier_predict import score_split
from clusterhpc.evaluate.classifier_report import write_classifier_report
from clusterhpc.evaluate.metrics import binned_fraction, redshift_scores
from clusterhpc.evaluate.metrics_file import model_summary, write_metrics
from clusterhpc.evaluate.protocol import choose_sets, protocol_record
from clusterhpc.hpc.mpi import Comm, get_comm
from clusterhpc.log import get_logger
from clusterhpc.models.cnn_inference import Classifier
from clusterhpc.models.gradcam import gradcam
from clusterhpc.paths import trained_packed_dir

log = get_logger("evaluate")


@dataclass(frozen=True)
class ScoredSet:
    """Labels, truth and classifier scores of a set of packed images, and where they live."""

    label: np.ndarray  # bool: a cluster cutout
    z_true: np.ndarray  # NaN for empty fields
    lam: np.ndarray
    prob: np.ndarray
    z: np.ndarray
    sigma: np.ndarray
    sources: list[tuple[PackedSplit, int]]

    @property
    def n_images(self) -> int:
        return len(self.label)

    def take(self, rows: np.ndarray) -> ScoredSet:
        arrays = {
            k: getattr(self, k)[rows] for k in ("label", "z_true", "lam", "prob", "z", "sigma")
        }
        return ScoredSet(**arrays, sources=[self.sources[i] for i in rows])

    def concat(self, other: ScoredSet) -> ScoredSet:
        names = ("label", "z_true", "lam", "prob", "z", "sigma")
        arrays = {k: np.concatenate([getattr(self, k), getattr(other, k)]) for k in names}
        return ScoredSet(**arrays, sources=self.sources + other.sources)


def score_packed(
    classifier: Classifier, packed: Path, name: str, batch: int, comm: Comm
) -> ScoredSet | None:
    split = PackedSplit(packed, name)
    scores = score_split(classifier, split, batch, comm)
    if scores is None:
        return None
    label, _ = split_labels(split)
    return ScoredSet(
        label=label > 0,
        z_true=split.column("z").astype(np.float64),
        lam=split.column("lam").astype(np.float64),
        prob=scores.prob,
        z=scores.z,
        sigma=scores.sigma,
        sources=[(split, i) for i in range(len(split))],
    )


def redshift_section(cfg: Config, train_cfg: Config, report: ScoredSet, called: np.ndarray):
    """z metrics on the report's clusters (all, and those called clusters), with the
    baseline of a constant z (the median of the training clusters)."""
    clusters = report.label & np.isfinite(report.z_true)
    outlier = cfg.evaluate.outlier
    train_label, train_z = split_labels(PackedSplit(trained_packed_dir(train_cfg), "train"))
    constant = float(np.median(train_z[train_label > 0]))
    chosen = clusters & called
    return {
        "all_clusters": redshift_metrics(
            report.z_true[clusters], report.z[clusters], report.sigma[clusters], outlier
        ),
        "called_clusters": redshift_metrics(
            report.z_true[chosen], report.z[chosen], report.sigma[chosen], outlier
        ),
        "baseline_constant_z": {
            "z": constant,
            **redshift_scores(report.z_true[clusters], np.full(clusters.sum(), constant), outlier),
        },
    }


def evaluate(cfg: Config, train_cfg: Config, tune, report: ScoredSet, protocol: dict) -> dict:
    ev = cfg.evaluate
    if ev.score_threshold > 0:
        threshold = ev.score_threshold
    else:
        threshold = threshold_at_fpr(tune.label, tune.prob, ev.false_positive_rate)
    roc, pr = roc_curve(report.label, report.prob), pr_curve(report.label, report.prob)
    at = rates_at(report.label, report.prob, threshold)
    called = report.prob >= threshold
    clusters = report.label
    lam_min, (z_lo, z_hi) = ev.select_lambda_min, ev.select_z
    selected = clusters & (report.lam >= lam_min) & (report.z_true > z_lo) & (report.z_true < z_hi)
    headline = rates_at(np.ones(selected.sum(), bool), report.prob[selected], threshold)
    metrics = {
        "kind": "cnn",
        "n_images": len(report.label),
        "n_clusters": int(clusters.sum()),
        "n_empty_fields": int((~clusters).sum()),
        "auc": roc["auc"],
        "pr_auc": pr["ap"],
        "baseline_chance_auc": 0.5,
        "baseline_chance_pr_auc": float(clusters.mean()),
        "score_threshold": float(threshold),
        "false_positive_rate_target": ev.false_positive_rate,
        **at,
        "completeness_selected": headline["completeness"],
        "completeness_selected_err": headline["completeness_err"],
        "n_selected": int(selected.sum()),
        "tuned": rates_at(tune.label, tune.prob, threshold) if tune is not None else None,
        "binned": {
            "completeness": {
                "z": binned_fraction(report.z_true[clusters], called[clusters], ev.z_bins),
                "lambda": binned_fraction(report.lam[clusters], called[clusters], ev.lambda_bins),
            }
        },
        "reliability": reliability(report.label, report.prob),
        "curves": {"roc": {k: roc[k].tolist() for k in ("fpr", "tpr")}},
        "protocol": protocol_record(
            cfg,
            train_cfg,
            protocol,
            operating_point="fixed"
            if ev.score_threshold > 0
            else f"false-positive rate <= {ev.false_positive_rate:g}",
            selection={"lambda_min": lam_min, "z": [z_lo, z_hi]},
        ),
    }
    if train_cfg.model.cnn.redshift:
        metrics["redshift"] = redshift_section(cfg, train_cfg, report, called)
        metrics["sigma_nmad"] = metrics["redshift"]["all_clusters"]["sigma_nmad"]
    return metrics, roc, pr


def _title(s: ScoredSet, i: int) -> str:
    split, index = s.sources[i]
    meta = split.item(index).meta
    if not s.label[i]:
        return f"empty field  p={s.prob[i]:.2f}"
    text = f"ID {meta['id']} z={s.z_true[i]:.2f} λ={s.lam[i]:.0f}  p={s.prob[i]:.2f}"
    return text + (f"  ẑ={s.z[i]:.2f}" if np.isfinite(s.z[i]) else "")


def gallery(s: ScoredSet, threshold: float, n: int) -> list[cplots.Cutout]:
    """The most confident false positives, then the missed clusters with the lowest scores."""
    false = np.flatnonzero(~s.label & (s.prob >= threshold))
    missed = np.flatnonzero(s.label & (s.prob < threshold))
    picks = list(false[np.argsort(-s.prob[false])][: n // 2])
    picks += list(missed[np.argsort(s.prob[missed])][: n - len(picks)])
    out = []
    for i in picks:
        split, index = s.sources[i]
        kind = "false positive" if not s.label[i] else "missed"
        out.append(cplots.Cutout(split.item(index).image, f"{kind}: {_title(s, i)}"))
    return out


def gradcam_cutouts(classifier: Classifier, s: ScoredSet, n: int) -> list[cplots.Cutout]:
    """Grad-CAM maps of the most confident clusters and empty fields (half each)."""
    pos, neg = np.flatnonzero(s.label), np.flatnonzero(~s.label)
    picks = list(pos[np.argsort(-s.prob[pos])][: n - n // 2])
    picks += list(neg[np.argsort(-s.prob[neg])][: n // 2])
    if not picks:
        return []
    images = np.stack(
        [
            letterbox_image(s.sources[i][0].item(s.sources[i][1]).image, classifier.input_size)
            for i in picks
        ]
    )
    maps = gradcam(classifier.model, images)
    return [
        cplots.Cutout(image, _title(s, i), heat)
        for i, image, heat in zip(picks, images, maps, strict=True)
    ]


def make_plots(cfg, classifier, report, metrics, roc, pr, out: Path) -> dict[str, str]:
    folder, written = out / "plots", {}
    point = (metrics["false_positive_rate"] or 0.0, metrics["completeness"] or 0.0)
    cplots.plot_roc_pr(roc, pr, point, folder / "roc_pr.png")
    written["ROC and precision-recall"] = "plots/roc_pr.png"
    cplots.plot_reliability(metrics["reliability"], folder / "reliability.png")
    written["Reliability (calibration)"] = "plots/reliability.png"
    comp = metrics["binned"]["completeness"]
    for key, name, label in (
        ("z", "completeness_z.png", "redshift z"),
        ("lambda", "completeness_lambda.png", "richness λ"),
    ):
        plots.plot_binned(comp[key], label, folder / name, title="at the chosen threshold")
        written[f"Completeness vs {label}"] = f"plots/{name}"
    ev = cfg.evaluate
    if ev.gallery:
        cuts = gallery(report, metrics["score_threshold"], ev.gallery)
        title = "most confident false positives, then the missed clusters"
        cplots.plot_cutouts(cuts, folder / "gallery.png", title)
        if cuts:
            written["Confident false positives and missed clusters"] = "plots/gallery.png"
    if ev.gradcam:
        cuts = gradcam_cutouts(classifier, report, ev.gradcam)
        title = "Grad-CAM: where the network sees a cluster (bright = more)"
        cplots.plot_cutouts(cuts, folder / "gradcam.png", title)
        written["Grad-CAM maps"] = "plots/gradcam.png"
    return written


def evaluate_classifier(cfg: Config, run: Path, train_cfg: Config, started: float) -> int:
    """`evaluate` of the classifier trained in `run` (with `train_cfg`), timed from `started`."""
    comm = get_comm()
    classifier = Classifier(train_cfg, run, cfg.evaluate.checkpoint)
    batch = cfg.evaluate.batch_size
    tune, report, protocol = choose_sets(
        cfg, train_cfg, lambda packed, name: score_packed(classifier, packed, name, batch, comm)
    )
    if not comm.is_root:
        return 0
    out = Path(cfg.evaluate.out) if cfg.evaluate.out else run
    metrics, roc, pr = evaluate(cfg, train_cfg, tune, report, protocol)
    metrics["plots"] = make_plots(cfg, classifier, report, metrics, roc, pr, out)
    metrics["weights"] = classifier.weights
    metrics["model"] = model_summary(train_cfg, run)
    chosen = cfg.evaluate.score_threshold <= 0
    metrics = write_metrics(metrics, run, out, started, classifier.weights, chosen)
    write_classifier_report(metrics, out / "report.md")
    log.info(
        "AUC %.3f, completeness %s at false-positive rate %s (threshold %.3f) -> %s",
        metrics["auc"],
        metrics["completeness"],
        metrics["false_positive_rate"],
        metrics["score_threshold"],
        out / "metrics.json",
    )
    return 0
