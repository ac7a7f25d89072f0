"""`clusterhpc detect` with a CNN classifier run: one row per image, not per detection.

Scores every image of `detect.images` (folder, cutout table or packed splits, as for the
detector; MPI-parallel over contiguous blocks) and writes a FITS table: the image centre
(RA, DEC), PROB (probability of a cluster), IS_CLUSTER (PROB >= threshold, the one
`evaluate` chose on valid for these weights unless `detect.score_threshold` is set) and,
with a redshift head, Z_PRED and Z_SIGMA.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

from clusterhpc.config import Config
from clusterhpc.detect.catalog import write_catalog
from clusterhpc.detect.sources import Sources, open_sources
from clusterhpc.hpc.mpi import get_comm, split_evenly
from clusterhpc.log import get_logger, progress
from clusterhpc.models.cnn_inference import Classifier
from clusterhpc.models.yolo_inference import resolve_weights, trained_config
from clusterhpc.paths import run_dir

log = get_logger("detect")


def score_rows(classifier: Classifier, sources: Sources, indices: range, batch: int) -> dict:
    """Column arrays of the given images."""
    cols: dict[str, list] = {"PROB": [], "Z_PRED": [], "Z_SIGMA": []}
    starts = range(indices.start, indices.stop, batch)
    for start in progress(starts, desc="score", total=len(starts)):
        chunk = range(start, min(start + batch, indices.stop))
        scores = classifier.score_images([sources.image(i) for i in chunk])
        cols["PROB"].append(scores.prob)
        cols["Z_PRED"].append(scores.z)
        cols["Z_SIGMA"].append(scores.sigma)
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in cols.items()}


def main(cfg: Config) -> int:
    from clusterhpc.detect.stage import score_threshold

    comm = get_comm()
    run = run_dir(cfg)
    d = cfg.detect
    threshold = score_threshold(cfg, resolve_weights(run, cfg.evaluate.checkpoint))
    train_cfg = trained_config(run, cfg)
    classifier = Classifier(train_cfg, run, cfg.evaluate.checkpoint)
    sources = open_sources(d.images, d.scale or cfg.prep.scale, d.splits)
    mine = split_evenly(len(sources), comm.rank, comm.size)
    parts = comm.gather(score_rows(classifier, sources, range(mine.start, mine.stop), d.batch_size))
    if parts is None:
        return 0
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    table = Table(
        {
            "ID": np.arange(1, len(sources) + 1),
            "IMAGE": np.array(sources.names, dtype=str).reshape(-1),
            "RA": sources.ra,
            "DEC": sources.dec,
            "PROB": cols["PROB"],
            "IS_CLUSTER": cols["PROB"] >= threshold,
        }
    )
    if train_cfg.model.cnn.redshift:
        table["Z_PRED"], table["Z_SIGMA"] = cols["Z_PRED"], cols["Z_SIGMA"]
    meta = {"run": str(run), "weights": classifier.weights, "scorethr": threshold}
    write_catalog(table, Path(d.out), {**meta, "nimages": len(sources), "model": "cnn"})
    log.info(
        "%d of %d images called clusters (threshold %.3f) -> %s",
        int(table["IS_CLUSTER"].sum()),
        len(sources),
        threshold,
        d.out,
    )
    return 0
