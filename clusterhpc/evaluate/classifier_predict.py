"""Run a trained classifier over a packed split, MPI-parallel over images."""

from __future__ import annotations

import numpy as np

from clusterhpc.data.packed import PackedSplit
from clusterhpc.evaluate.rank_batches import rank_batches
from clusterhpc.hpc.mpi import Comm
from clusterhpc.models.cnn_inference import Classifier, Scores


def score_split(
    classifier: Classifier, split: PackedSplit, batch_size: int, comm: Comm
) -> Scores | None:
    """Scores of every image of `split` (rank r takes images r, r + size, ...), in split
    order on rank 0; None on the other ranks."""
    rows: list[tuple[np.ndarray, Scores]] = []
    batches = rank_batches(split, classifier.input_size, batch_size, comm, f"score {split.split}")
    for batch in batches:
        rows.append((batch["index"].numpy(), classifier.score(batch["image"])))
    gathered = comm.gather(rows)
    if gathered is None:
        return None
    parts = [row for part in gathered for row in part]
    index = np.concatenate([r[0] for r in parts]) if parts else np.zeros(0, np.int64)
    order = np.argsort(index)
    return Scores(
        *(
            np.concatenate([getattr(r[1], name) for r in parts])[order] if parts else np.zeros(0)
            for name in ("prob", "z", "sigma")
        )
    )
