"""Views of one matching that people compare across papers.

- per unique cluster: a cluster shown by several cutouts counts once, and is found when at
  least one of its counted appearances is matched (per-appearance completeness weighs a
  cluster by the number of cutouts that show it);
- purity with and without the empty fields: empty fields only add false detections, so the
  purity of a split depends on how many of them it holds;
- on the sky: the merged catalogue against the truth catalogue (`clusterhpc.evaluate.sky`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

from clusterhpc.evaluate.metrics import Selection, SplitMatch, fraction_with_error
from clusterhpc.evaluate.records import Predictions, Truth
from clusterhpc.evaluate.sky import SkySettings, sky_scores
from clusterhpc.io.redmapper import read_clusters
from clusterhpc.log import get_logger

log = get_logger("evaluate")


def unique_cluster_completeness(truth: Truth, match: SplitMatch, selection: Selection) -> dict:
    """Completeness over distinct catalogue IDs of the counted, selected truth boxes."""
    sample = match.truth_counted & selection.mask(truth) & (truth.cluster_id >= 0)
    ids, which = np.unique(truth.cluster_id[sample], return_inverse=True)
    found = np.zeros(len(ids), bool)
    np.logical_or.at(found, which, match.truth_matched[sample])
    result = fraction_with_error(found)
    result["appearances"] = int(sample.sum())
    return result


def purity_by_image_kind(truth: Truth, preds: Predictions, match: SplitMatch) -> dict:
    """Purity over the cluster cutouts only (the headline `purity` includes the empty
    fields), the number of empty fields and of the detections scored on them."""
    scored = match.pred_kept & ~match.pred_ignored
    on_empty = np.asarray(truth.meta["empty"], bool)[preds.image_of_box()]
    return {
        "n_empty_fields": int(np.sum(np.asarray(truth.meta["empty"], bool))),
        "without_empty_fields": fraction_with_error(match.pred_matched[scored & ~on_empty]),
        "detections_on_empty_fields": int(np.sum(scored & on_empty)),
    }


def comparable_figures(
    truth: Truth,
    preds: Predictions,
    unclipped: Predictions,
    match: SplitMatch,
    selection: Selection,
    catalog_path: Path,
    sky: SkySettings,
) -> dict:
    """Per-unique-cluster completeness, purity by image kind and, when the survey has its
    truth catalogue, the figures on the sky (`evaluate.sky`, from the `unclipped` boxes, as
    `detect` places them)."""
    figures = {
        "per_unique_cluster": {
            "completeness": unique_cluster_completeness(truth, match, selection)
        },
        "purity_by_image_kind": purity_by_image_kind(truth, preds, match),
    }
    if not catalog_path.exists():
        log.warning("%s not found: no figures on the sky", catalog_path)
        return figures
    clusters = read_clusters(catalog_path)
    catalog = Table(
        {"RA": clusters.ra, "DEC": clusters.dec, "Z_LAMBDA": clusters.z, "LAMBDA": clusters.lam}
    )
    figures["sky"] = sky_scores(truth, unclipped, catalog, match.threshold, selection, sky)
    return figures
