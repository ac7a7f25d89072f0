"""Matching predictions to truth: Hungarian assignment vs the seed's permutation search.

    python benchmarks/matching.py [--config configs/quickstart.yaml | --survey DIR]
                                  [--images 200] [--seed 0] [--repeats 5]

The seed (purity_completeness.py) pairs boxes by trying every permutation
`permutations(range(max(n_pred, n_truth)), n_truth)` and keeping the best summed GIoU,
which is factorial. `clusterhpc.evaluate.matching.assign` (what `evaluate` runs) solves the
same assignment with `scipy.optimize.linear_sum_assignment` (O(n^3)); the bare scipy call is
timed too, to show the wrapper's cost. All run on the same GIoU matrices (shifted by +1, so
every pair is a positive gain for each) and their totals are checked equal:

- the mock survey's box counts: the catalogue of `--config` is simulated without images into a
  temporary folder and boxed (`simulate simulate.images=false`, `prep boxes`), or `--survey`
  names a survey that already holds prep/boxes.fits. Truth = each image's kept boxes (clipped
  to the image, as evaluation does). Predictions follow the quickstart detector's figures
  (README): each truth box found with probability 0.9 (centre moved by 5 % of its size, sides
  scaled by up to ~10 %), plus Poisson false boxes (0.06 per cluster image, 0.02 per empty
  field). Only images with both predictions and truth are timed: `evaluate` calls `assign` on
  those alone;
- 6 and 8 random boxes per image (the seed's factorial cost where it hurts).

Prints the histogram of box counts, the times per image and the speed-up of `assign` over the
permutation search (`speedup_*_ratio`; mock survey: best of `--repeats` passes), and ends with a
RESULT line. README's figures are from the 2-core AMD EPYC development VM.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from astropy.table import Table
from scipy.optimize import linear_sum_assignment

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clusterhpc.box_geometry import pairwise_giou  # noqa: E402
from clusterhpc.cli import main as cli_main  # noqa: E402
from clusterhpc.evaluate.matching import assign  # noqa: E402

FOUND, FALSE_PER_CLUSTER_IMAGE, FALSE_PER_EMPTY_FIELD = 0.9, 0.06, 0.02


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
    """n random xyxy boxes of 100-400 px sides, corners in 0-1800 px (a 2048-px image)."""
    xy = rng.uniform(0, 1800, (n, 2))
    return np.concatenate([xy, xy + rng.uniform(100, 400, (n, 2))], axis=1)


def hungarian_total(quality: np.ndarray) -> float:
    """Summed quality of `clusterhpc.evaluate.matching.assign`'s pairs."""
    pairs = assign(quality)
    return float(quality[pairs[:, 0], pairs[:, 1]].sum())


def scipy_total(quality: np.ndarray) -> float:
    """Summed quality of the bare `linear_sum_assignment` call (the core of `assign`)."""
    rows, cols = linear_sum_assignment(quality, maximize=True)
    return float(quality[rows, cols].sum())


def timed(
    fn: Callable[[np.ndarray], float], matrices: list[np.ndarray], repeats: int
) -> tuple[float, list[float]]:
    """Best time per matrix over `repeats` passes, and the totals."""
    best = np.inf
    for _ in range(repeats):
        tic = time.perf_counter()
        totals = [fn(q) for q in matrices]
        best = min(best, (time.perf_counter() - tic) / len(matrices))
    return best, totals


def survey_boxes(config: Path, survey: Path | None) -> tuple[Table, Table]:
    """IMAGES and BOXES of prep/boxes.fits: `survey`'s, else of `config`'s catalogue simulated
    without images into a temporary folder."""
    if survey is not None:
        path = survey / "prep" / "boxes.fits"
        return Table.read(path, "IMAGES"), Table.read(path, "BOXES")
    with tempfile.TemporaryDirectory() as tmp:
        common = ["--log-level", "WARNING"], [str(config), f"data.root={tmp}"]
        catalogue_only = ["simulate.images=false", "simulate.gallery=0"]
        assert cli_main([*common[0], "simulate", *common[1], *catalogue_only]) == 0
        assert cli_main([*common[0], "prep", "boxes", *common[1]]) == 0
        return survey_boxes(config, Path(tmp))


def mock_predictions(rng: np.random.Generator, truth: np.ndarray, size: float) -> np.ndarray:
    """A detector's boxes on one image: found truths, moved and resized, plus false boxes."""
    found = truth[rng.random(len(truth)) < FOUND]
    centre, sides = (found[:, :2] + found[:, 2:]) / 2, found[:, 2:] - found[:, :2]
    centre = centre + rng.normal(0, 0.05, centre.shape) * sides
    sides = sides * np.exp(rng.normal(0, 0.1, sides.shape))
    rate = FALSE_PER_CLUSTER_IMAGE if len(truth) else FALSE_PER_EMPTY_FIELD
    false = random_boxes(rng, rng.poisson(rate)) * size / 2048
    boxes = np.concatenate([centre - sides / 2, centre + sides / 2], axis=1)
    return np.clip(np.concatenate([boxes, false]), 0, size)


def survey_matrices(
    images: Table, boxes: Table, rng: np.random.Generator
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """GIoU + 1 matrices of the images with both predictions and truth, and every image's
    truth and prediction counts."""
    kept = boxes[boxes["KEEP"]]
    corners = np.stack([kept[c] for c in ("X1", "Y1", "X2", "Y2")], 1).astype(np.float64)
    order = np.argsort(kept["IMAGE"], kind="stable")
    starts = np.searchsorted(kept["IMAGE"][order], np.arange(len(images) + 1))
    matrices, n_truth, n_pred = [], [], []
    for i, size in enumerate(np.asarray(images["SIZE"], np.float64)):
        truth = np.clip(corners[order[starts[i] : starts[i + 1]]], 0, size)
        pred = mock_predictions(rng, truth, size)
        n_truth.append(len(truth))
        n_pred.append(len(pred))
        if len(truth) and len(pred):
            matrices.append(pairwise_giou(pred, truth) + 1.0)
    return matrices, np.array(n_truth), np.array(n_pred)


def histogram(counts: np.ndarray) -> str:
    return ", ".join(f"{k}: {n}" for k, n in enumerate(np.bincount(counts)) if n)


def compare(matrices: list[np.ndarray], repeats: int, label: str) -> dict[str, float]:
    """Time per image of `assign`, of its bare scipy core and of the permutation search
    (totals checked equal), printed with the speed-up of `assign` over the search."""
    t_hung, tot_h = timed(hungarian_total, matrices, repeats)
    t_scipy, tot_s = timed(scipy_total, matrices, repeats)
    t_brute, tot_b = timed(lambda q: brute_force_assign(q)[1], matrices, repeats)
    assert np.allclose(tot_h, tot_b) and np.allclose(tot_s, tot_b), f"{label}: totals disagree"
    ratio = t_brute / t_hung
    print(
        f"{label}, {len(matrices)} images: assign {t_hung * 1e6:7.1f} us/image "
        f"(bare linear_sum_assignment {t_scipy * 1e6:5.1f}), permutations "
        f"{t_brute * 1e6:10.1f} us/image, speed-up x{ratio:,.2f}"
    )
    return {"hungarian": t_hung, "scipy": t_scipy, "brute": t_brute, "ratio": ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "quickstart.yaml")
    parser.add_argument("--survey", type=Path, help="survey directory with prep/boxes.fits")
    parser.add_argument("--images", type=int, default=200, help="images per box count (6 boxes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5, help="timed passes (best kept)")
    args = parser.parse_args()
    images, boxes = survey_boxes(args.config, args.survey)
    matrices, n_truth, n_pred = survey_matrices(images, boxes, np.random.default_rng(args.seed))
    print(f"mock survey ({args.survey or args.config}): {len(images)} images")
    print(f"  truth boxes per image:       {histogram(n_truth)}")
    print(f"  predicted boxes per image:   {histogram(n_pred)}")
    print(f"  images with both (matched):  {len(matrices)}")
    mock = compare(matrices, args.repeats, "mock survey")
    result = {
        "mock_images": len(images),
        "mock_matched_images": len(matrices),
        "mock_mean_truth": f"{n_truth.mean():.2f}",
        "mock_mean_pred": f"{n_pred.mean():.2f}",
        "hungarian_mock_us": f"{mock['hungarian'] * 1e6:.1f}",
        "scipy_mock_us": f"{mock['scipy'] * 1e6:.1f}",
        "brute_mock_us": f"{mock['brute'] * 1e6:.1f}",
        "speedup_mock_ratio": f"{mock['ratio']:.2f}",
    }
    rng = np.random.default_rng(args.seed)
    for n, n_images in ((6, args.images), (8, max(2, args.images // 50))):
        matrices = [
            pairwise_giou(random_boxes(rng, n), random_boxes(rng, n)) + 1.0 for _ in range(n_images)
        ]
        times = compare(matrices, 1, f"{n} random boxes")
        result |= {
            f"hungarian_{n}_us": f"{times['hungarian'] * 1e6:.1f}",
            f"scipy_{n}_us": f"{times['scipy'] * 1e6:.1f}",
            f"brute_{n}_ms": f"{times['brute'] * 1e3:.2f}",
            f"speedup_{n}_ratio": f"{times['ratio']:.1f}",
        }
    result["speedup_ratio"] = result["speedup_8_ratio"]
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
