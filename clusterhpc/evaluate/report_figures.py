"""The detector report's figures: completeness bins, threshold curves, precision-recall and
the gallery, written under `<out>/plots/`."""

from __future__ import annotations

from pathlib import Path

from clusterhpc.config import Config
from clusterhpc.evaluate import plots
from clusterhpc.evaluate.ap import precision_recall
from clusterhpc.evaluate.gallery import gallery_panels
from clusterhpc.evaluate.scored import Scored


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
