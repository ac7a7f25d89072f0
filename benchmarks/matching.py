"""Matching predictions to truth: Hungarian assignment vs the seed's permutation search.

    python benchmarks/matching.py [--images 200] [--seed 0]

The seed (purity_completeness.py) pairs boxes by trying every permutation
`permutations(range(max(n_pred, n_truth)), n_truth)` and keeping the best summed GIoU,
which is factorial. `clusterhpc.evaluate.matching.assign` solves the same assignment with
`scipy.optimize.linear_sum_assignment` (O(n^3)). For 6 and 8 boxes per image (random boxes,
GIoU quality) both run on the same images; the totals are checked equal. Prints the time per
image and ends with a RESULT line.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scipy.optimize import linear_sum_assignment  # noqa: E402

from clusterhpc.box_geometry import pairwise_giou  # noqa: E402


def brute_force_assign(quality: np.ndarray) -> tuple[np.ndarray, float]:
    """The seed's factorial search: best total quality over all injective assignments.

    Returns the (row, col) pairs with quality > 0 and the best total (sum over assigned
    pairs, counting non-positive qualities as 0). The baseline of this benchmark, and the
    reference of the matching tests.
    """
    n_rows, n_cols = quality.shape
    if n_rows == 0 or n_cols == 0:
        return np.zeros((0, 2), int), 0.0
    gain = np.clip(quality, 0, None)
    best_total, best_cols = -1.0, ()
    if n_rows >= n_cols:  # choose a distinct row for every column
        cols = np.arange(n_cols)
        for rows in itertools.permutations(range(n_rows), n_cols):
            total = float(gain[rows, cols].sum())
            if total > best_total:
                best_total, best_cols = total, rows
        pairs = np.stack([np.array(best_cols), cols], 1)
    else:
        rows = np.arange(n_rows)
        for cols_perm in itertools.permutations(range(n_cols), n_rows):
            total = float(gain[rows, cols_perm].sum())
            if total > best_total:
                best_total, best_cols = total, cols_perm
        pairs = np.stack([rows, np.array(best_cols)], 1)
    keep = quality[pairs[:, 0], pairs[:, 1]] > 0
    return pairs[keep].astype(int), best_total


def random_boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    xy = rng.uniform(0, 1800, (n, 2))
    return np.concatenate([xy, xy + rng.uniform(100, 400, (n, 2))], axis=1)


def timed(fn, matrices: list[np.ndarray]) -> tuple[float, list[float]]:
    tic = time.perf_counter()
    totals = [fn(q) for q in matrices]
    return (time.perf_counter() - tic) / len(matrices), totals


def hungarian_total(q: np.ndarray) -> float:
    rows, cols = linear_sum_assignment(q, maximize=True)
    return float(q[rows, cols].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200, help="images per box count (6 boxes)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    result = {}
    for n, n_images in ((6, args.images), (8, max(2, args.images // 50))):
        # GIoU shifted to be positive so the brute force (which clips at 0) sees the same gains
        matrices = [
            pairwise_giou(random_boxes(rng, n), random_boxes(rng, n)) + 1.0 for _ in range(n_images)
        ]
        t_hung, tot_h = timed(hungarian_total, matrices)
        t_brute, tot_b = timed(lambda q: brute_force_assign(q)[1], matrices)
        assert np.allclose(tot_h, tot_b), "Hungarian and brute force disagree"
        ratio = t_brute / t_hung
        print(
            f"{n} boxes, {n_images} images: Hungarian {t_hung * 1e6:9.1f} us/image, "
            f"permutations {t_brute * 1e3:9.2f} ms/image, speed-up x{ratio:,.0f}"
        )
        result[n] = (t_hung, t_brute, ratio)
    print(
        f"RESULT hungarian_6_us={result[6][0] * 1e6:.1f} brute_6_ms={result[6][1] * 1e3:.2f} "
        f"speedup_6_ratio={result[6][2]:.1f} hungarian_8_us={result[8][0] * 1e6:.1f} "
        f"brute_8_ms={result[8][1] * 1e3:.2f} speedup_8_ratio={result[8][2]:.1f} "
        f"speedup_ratio={result[8][2]:.1f}"
    )


if __name__ == "__main__":
    main()
