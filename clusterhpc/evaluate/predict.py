"""Run a trained detector over a packed split, MPI-parallel over images, into Predictions."""

from __future__ import annotations

import numpy as np

from clusterhpc.data.packed import PackedSplit
from clusterhpc.evaluate.rank_batches import rank_batches
from clusterhpc.evaluate.records import Predictions
from clusterhpc.hpc.mpi import Comm
from clusterhpc.models.yolo_inference import Detector


def predict_split(
    detector: Detector, split: PackedSplit, batch_size: int, comm: Comm
) -> Predictions | None:
    """Detections of every image of `split` (rank r takes images r, r + size, ...).

    Returns the Predictions in split order on rank 0, None on the other ranks.
    """
    shape = split.image_shape[:2]
    rows: list[tuple] = []
    batches = rank_batches(split, detector.input_size, batch_size, comm, f"detect {split.split}")
    for batch in batches:
        index = batch["index"].numpy()
        found = detector.detect_letterboxed(batch["image"].numpy(), [shape] * len(index))
        rows += [
            (int(i), d.boxes, d.scores, d.values, d.sigmas, d.classes)
            for i, d in zip(index, found, strict=True)
        ]
    gathered = comm.gather(rows)
    if gathered is None:
        return None
    by_index = {row[0]: row[1:] for part in gathered for row in part}
    order = [by_index[i] for i in range(len(split))]
    n_val = len(detector.value_names)
    return Predictions.from_lists(
        [np.asarray(r[0]).reshape(-1, 4) for r in order],
        [np.asarray(r[1]) for r in order],
        [np.asarray(r[2]).reshape(len(r[1]), n_val) for r in order],
        [np.asarray(r[3]).reshape(len(r[1]), n_val) for r in order],
        value_names=detector.value_names,
        classes=[np.asarray(r[4]) for r in order],
    )
