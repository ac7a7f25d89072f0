"""Ragged arrays as (rows, offsets): the rows of item i are rows[offsets[i]:offsets[i + 1]]."""

from __future__ import annotations

import numpy as np


def offsets_from_counts(counts: np.ndarray) -> np.ndarray:
    """(n + 1,) offsets, starting at 0, of items with these row counts."""
    return np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])


def segment_positions(start: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Concatenation of arange(start[k], start[k] + count[k]) over k, without a Python loop."""
    count = np.asarray(count, dtype=np.int64)
    offsets = np.cumsum(count) - count
    return np.repeat(np.asarray(start, dtype=np.int64) - offsets, count) + np.arange(count.sum())


def take(offsets: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the listed items (in that order) and the offsets of the selection."""
    items = np.asarray(items, dtype=np.int64)
    counts = offsets[items + 1] - offsets[items]
    return segment_positions(offsets[items], counts), offsets_from_counts(counts)
