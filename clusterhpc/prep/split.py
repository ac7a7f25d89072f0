"""Deterministic train/valid/test assignment of whole groups (items sharing sky stay together).

Each kind of item (cluster cutouts, empty fields) has its own targets, round(f·n) per split.
Groups are taken largest first (ties in a seeded random order) and each goes to the split
whose target of the group's first kind is least filled, relative to its size; that keeps
every split's mix of group sizes representative. Single-item groups come last and fill
the remaining deficits exactly, so the fractions are met as closely as the groups allow.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SPLITS = ("train", "valid", "test")


def fraction_problem(fractions: Sequence[float]) -> str | None:
    """What is wrong with split fractions (None: 3 numbers >= 0 summing to 1)."""
    values = np.asarray(fractions, dtype=np.float64)
    if values.shape != (len(SPLITS),) or np.any(values < 0):
        return f"split fractions {values.tolist()}: expected 3 numbers >= 0 (train, valid, test)"
    if abs(values.sum() - 1.0) > 1e-6:
        return f"split fractions {values.tolist()} sum to {values.sum():g}, not 1"
    return None


def check_fractions(fractions: Sequence[float]) -> np.ndarray:
    """The fractions as an array; ValueError with `fraction_problem`'s message if any."""
    problem = fraction_problem(fractions)
    if problem:
        raise ValueError(problem)
    return np.asarray(fractions, dtype=np.float64)


def split_targets(n: int, fractions: Sequence[float]) -> np.ndarray:
    """Items per split: differences of round(cumsum(f)·n), summing to n."""
    bounds = np.round(np.cumsum(check_fractions(fractions)) * n).astype(np.int64)
    bounds[-1] = n
    return np.diff(bounds, prepend=0)


def _fill_units(deficit: np.ndarray, target: np.ndarray, m: int) -> np.ndarray:
    """How many of m single items each split takes: the m largest relative deficits
    (d_s - j)/t_s, j = 0, 1, ..., as giving them one at a time to the least-filled split."""
    if m == 0:
        return np.zeros(len(target), dtype=np.int64)
    j = np.arange(m)
    keys = np.where(
        target[:, None] > 0, (deficit[:, None] - j) / np.maximum(target, 1)[:, None], -np.inf
    )
    split = np.repeat(np.arange(len(target)), m)
    best = np.lexsort((split, -keys.ravel()))[:m]
    return np.bincount(split[best], minlength=len(target))


def assign_groups(
    group: np.ndarray, fractions: Sequence[float], seed: int, kind: np.ndarray | None = None
) -> np.ndarray:
    """Split index (0 train, 1 valid, 2 test) per item; items of one group share a split.

    `group` labels 0..G-1 per item; `kind` (0, 1, ...) per item, each kind meeting the
    fractions on its own (default: one kind). Same inputs and seed give the same assignment.
    """
    group = np.asarray(group, dtype=np.int64)
    kind = np.zeros_like(group) if kind is None else np.asarray(kind, dtype=np.int64)
    if group.size == 0:
        return np.zeros(0, dtype=np.int8)
    n_groups, n_kinds = int(group.max()) + 1, int(kind.max()) + 1
    counts = np.zeros((n_groups, n_kinds), dtype=np.int64)
    np.add.at(counts, (group, kind), 1)
    targets = np.stack([split_targets(int(c), fractions) for c in counts.sum(0)])  # (K, 3)
    primary = np.argmax(counts > 0, axis=1)
    size = counts[np.arange(n_groups), primary]
    tie = np.random.default_rng(seed).permutation(n_groups)
    order = np.lexsort((tie, -size, primary))
    unit = counts.sum(1) == 1
    filled = np.zeros_like(targets)
    chosen = np.empty(n_groups, dtype=np.int8)
    for g in order[~unit[order]]:
        t = targets[primary[g]]
        room = np.where(t > 0, (t - filled[primary[g]]) / np.maximum(t, 1), -np.inf)
        chosen[g] = np.argmax(room)
        filled[:, chosen[g]] += counts[g]
    for k in range(n_kinds):
        units = order[unit[order] & (primary[order] == k)]
        take = _fill_units(targets[k] - filled[k], targets[k], units.size)
        chosen[units] = np.repeat(np.arange(len(SPLITS)), take)
        filled[k] += take
    return chosen[group]
