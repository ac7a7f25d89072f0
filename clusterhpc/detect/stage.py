"""`clusterhpc detect CONFIG detect.images=PATH detect.out=catalog.fits`.

(A CNN classifier run scores whole images instead: `detect.classifier_stage`.)

Runs the trained detector of `run.dir` over the images (MPI-parallel: rank r takes a
contiguous block), converts boxes to RA/Dec centres and sizes in arcmin, merges detections of
the same cluster on overlapping cutouts (friends-of-friends within `detect.merge_arcmin`) and
writes a FITS catalogue with units. A `class` head adds CLASS (the z bin of `model.class_edges`,
listed in the header as CLSEDGES) and CLASS_PROB (its sigmoid probability); a `regression` head
adds Z_PRED, Z_SIGMA and LAMBDA_PRED = exp(ln λ), LAMBDA_SIGMA = λ σ(ln λ) (first order). The
score threshold is `detect.score_threshold`, else the operating point `clusterhpc evaluate`
recorded in `<run.dir>/inference.json` for the same weights (by content), else 0.5.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from astropy.table import Table

from clusterhpc.config import Config
from clusterhpc.detect.catalog import boxes_to_sky, merge_duplicates, write_catalog
from clusterhpc.detect.sources import Sources, open_sources
from clusterhpc.hpc.local_ranks import usable_cores
from clusterhpc.hpc.mpi import get_comm, split_evenly
from clusterhpc.log import get_logger, progress
from clusterhpc.models import inference_record
from clusterhpc.models.yolo_inference import (
    Detector,
    recalibrate_on_training_images,
    resolve_weights,
    trained_config,
)
from clusterhpc.paths import packed_dir, run_dir, sets_dir

log = get_logger("detect")
DEFAULT_THRESHOLD = 0.5


def score_threshold(cfg: Config, weights: str) -> float:
    """`detect.score_threshold`, else the one `evaluate` chose for these weights."""
    if cfg.detect.score_threshold > 0:
        return cfg.detect.score_threshold
    recorded = inference_record.threshold_for(run_dir(cfg), weights)
    if recorded is not None:
        return recorded
    log.warning(
        "no detect.score_threshold and no threshold chosen by `clusterhpc evaluate` for %s: "
        "using %.2f",
        weights,
        DEFAULT_THRESHOLD,
    )
    return DEFAULT_THRESHOLD


def detect_rows(detector: Detector, sources: Sources, indices: range, batch: int) -> dict:
    """Column arrays of every detection on the given images."""
    cols: dict[str, list] = {k: [] for k in ("RA", "DEC", "WIDTH", "HEIGHT", "SCORE", "X", "Y")}
    cols.update(IMAGE=[], VALUES=[], SIGMAS=[], CLASS=[], CLASS_PROB=[])
    chunks = [
        range(s, min(s + batch, indices.stop)) for s in range(indices.start, indices.stop, batch)
    ]
    with ThreadPoolExecutor(usable_cores()) as readers:
        for chunk, images in progress(
            zip(chunks, read_ahead(readers, sources.image, chunks), strict=True),
            desc="detect",
            total=len(chunks),
        ):
            _add_rows(cols, detector, sources, chunk, images)
    return cols


def read_ahead(
    pool: ThreadPoolExecutor, read: Callable[[int], np.ndarray], chunks: list[range]
) -> Iterator[list[np.ndarray]]:
    """The images of each chunk, the next chunk's read by `pool` while this one is used."""
    pending = [pool.submit(read, i) for i in chunks[0]] if chunks else []
    for k in range(len(chunks)):
        images = [future.result() for future in pending]
        if k + 1 < len(chunks):
            pending = [pool.submit(read, i) for i in chunks[k + 1]]
        yield images


def _add_rows(
    cols: dict, detector: Detector, sources: Sources, chunk: range, images: list[np.ndarray]
) -> None:
    """Append the detections of one chunk of images to the column lists."""
    for i, image, det in zip(chunk, images, detector.detect(images), strict=True):
        ra, dec, w, h = boxes_to_sky(
            det.boxes, sources.ra[i], sources.dec[i], sources.scale[i], image.shape[:2]
        )
        for key, value in (("RA", ra), ("DEC", dec), ("WIDTH", w), ("HEIGHT", h)):
            cols[key].append(value)
        cols["SCORE"].append(det.scores)
        cols["X"].append((det.boxes[:, 0] + det.boxes[:, 2]) / 2)
        cols["Y"].append((det.boxes[:, 1] + det.boxes[:, 3]) / 2)
        cols["IMAGE"] += [sources.names[i]] * len(det.scores)
        n_val = len(detector.value_names)
        cols["VALUES"].append(det.values.reshape(len(det.scores), n_val))
        cols["SIGMAS"].append(det.sigmas.reshape(len(det.scores), n_val))
        cols["CLASS"].append(det.classes)
        cols["CLASS_PROB"].append(det.class_prob)


def to_table(parts: list[dict], value_names: tuple[str, ...], class_head: bool = False) -> Table:
    """One table of all ranks' detections, with class or regression columns (physical units)."""
    n_val = len(value_names)

    def cat(key: str, width: int | None = None) -> np.ndarray:
        arrays = [a for p in parts for a in p[key]]
        if arrays:
            return np.concatenate(arrays)
        return np.zeros((0, width)) if width is not None else np.zeros(0)

    table = Table({k: cat(k) for k in ("RA", "DEC", "WIDTH", "HEIGHT", "SCORE", "X", "Y")})
    table["IMAGE"] = np.array([n for p in parts for n in p["IMAGE"]], dtype=str).reshape(-1)
    if class_head:
        table["CLASS"] = cat("CLASS").astype(np.int16)
        table["CLASS_PROB"] = cat("CLASS_PROB")
    values, sigmas = cat("VALUES", n_val), cat("SIGMAS", n_val)
    for col, name in enumerate(value_names):
        if name == "z":
            table["Z_PRED"], table["Z_SIGMA"] = values[:, col], sigmas[:, col]
        else:  # the head predicts ln λ with σ in ln λ
            lam = np.exp(values[:, col])
            table["LAMBDA_PRED"], table["LAMBDA_SIGMA"] = lam, lam * sigmas[:, col]
    return table


def main(cfg: Config) -> int:
    comm = get_comm()
    run = run_dir(cfg)
    kind = trained_config(run, cfg).model.kind
    if kind == "cnn":
        from clusterhpc.detect.classifier_stage import main as detect_classifier

        return detect_classifier(cfg)
    if kind in ("sets", "mlp"):
        from clusterhpc.detect.sets_stage import detect_sets

        return detect_sets(cfg)
    ev, d = cfg.evaluate, cfg.detect
    threshold = score_threshold(cfg, resolve_weights(run, ev.checkpoint))
    train_cfg = trained_config(run, cfg)
    detector = Detector(
        train_cfg,
        run,
        ev.checkpoint,
        score_threshold=threshold,
        nms_iou=ev.nms_iou,
        nms_method=ev.nms,
        nms_sigma=ev.nms_sigma,
    )
    if ev.recalibrate_bn:
        recalibrate_on_training_images(detector, train_cfg, ev.recalibrate_bn, d.batch_size, cfg)
    sources = open_sources(d.images, d.scale or cfg.prep.scale, d.splits)
    mine = split_evenly(len(sources), comm.rank, comm.size)
    rows = detect_rows(detector, sources, range(mine.start, mine.stop), d.batch_size)
    parts = comm.gather(rows)
    if parts is None:
        return 0
    class_head = detector.spec.head == "class"
    table = merge_duplicates(to_table(parts, detector.value_names, class_head), d.merge_arcmin)
    table.add_column(np.arange(1, len(table) + 1), name="ID", index=0)
    out = Path(d.out)
    meta = {
        "run": str(run),
        "weights": detector.weights,
        "scorethr": threshold,
        "mergearc": d.merge_arcmin,
        "nimages": len(sources),
    }
    if class_head:
        meta["clsedges"] = ",".join(f"{e:g}" for e in train_cfg.model.class_edges)
    write_catalog(table, out, meta)
    log.info(
        "%d clusters from %d images (threshold %.3f) -> %s",
        len(table),
        len(sources),
        threshold,
        out,
    )
    return 0


def detect_test_split(cfg: Config) -> int:
    """`detect` on the test split (packed cutouts, or member sets for the catalogue models),
    into `<run.dir>/detections.fits` (`clusterhpc run`)."""
    catalogue = cfg.model.kind in ("sets", "mlp")
    test_only = dataclasses.replace(
        cfg.detect,
        images=str(sets_dir(cfg) if catalogue else packed_dir(cfg)),
        splits=["test"],
        out=str(run_dir(cfg) / "detections.fits"),
    )
    return main(dataclasses.replace(cfg, detect=test_only))
