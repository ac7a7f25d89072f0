"""Deterministic train/valid/test assignment by a seeded shuffle."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SPLITS = ("train", "valid", "test")


def assign_splits(n: int, fractions: Sequence[float], seed: int) -> np.ndarray:
    """Split index (0 train, 1 valid, 2 test) for items 0..n-1.

    Items are shuffled with `default_rng(seed)`; the first round(f_train·n) go to train, the
    next to valid, the rest to test. Same n, fractions and seed give the same assignment.
    """
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.shape != (len(SPLITS),) or np.any(fractions < 0):
        raise ValueError(f"split fractions {fractions.tolist()}: expected 3 numbers >= 0")
    if abs(fractions.sum() - 1.0) > 1e-6:
        raise ValueError(f"split fractions {fractions.tolist()} sum to {fractions.sum():g}, not 1")
    bounds = np.round(np.cumsum(fractions) * n).astype(np.int64)
    bounds[-1] = n
    labels = np.searchsorted(bounds, np.arange(n), side="right").astype(np.int8)
    out = np.empty(n, dtype=np.int8)
    out[np.random.default_rng(seed).permutation(n)] = labels
    return out
