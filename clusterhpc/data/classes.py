"""Classifier labels of packed images: a cluster cutout is a positive, an empty field a
negative; and the example weights that balance the two classes without dropping data."""

from __future__ import annotations

import numpy as np

from clusterhpc.data.packed import PackedSplit
from clusterhpc.errors import DataError


def split_labels(split: PackedSplit) -> tuple[np.ndarray, np.ndarray]:
    """(label 1/0, z with 0 for empty fields) per image of the split, float32."""
    label = (~split.column("empty").astype(bool)).astype(np.float32)
    z = np.nan_to_num(split.column("z").astype(np.float32), nan=0.0) * label
    return label, z


def class_weights(label: np.ndarray, where: str) -> tuple[float, float]:
    """(negative, positive) weights N / (2 N_class); both classes must be present."""
    n_pos = int(label.sum())
    n_neg = len(label) - n_pos
    if not n_pos or not n_neg:
        raise DataError(
            f"{where}: {n_pos} cluster cutouts and {n_neg} empty fields; the classifier needs "
            "both (pack the empty fields: prep.pack.empty = true)"
        )
    return len(label) / (2 * n_neg), len(label) / (2 * n_pos)
