"""Non-maximum suppression: TensorFlow's op (what clusterhpc uses) vs a plain NumPy loop.

    python benchmarks/nms.py [--boxes 3000] [--sets 200] [--seed 0]

The baseline is the loop a user would write (the seed's approach): take the best box, drop or
decay (soft-NMS, exp(-IoU^2/sigma)) the ones that overlap it, repeat. First both run on
`--sets` random sets of 1-60 boxes and must keep the same boxes with the same scores; then
both are timed on one image with `--boxes` candidates. Ends with a RESULT line.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clusterhpc.box_geometry import pairwise_iou  # noqa: E402
from clusterhpc.models.yolo_postprocess import nms  # noqa: E402


def numpy_nms(boxes, scores, iou_threshold, method, sigma, score_threshold):
    """The plain loop: indices kept (best first) and their scores."""
    scores = np.asarray(scores, np.float64).copy()
    remaining = np.arange(len(scores))
    kept, kept_scores = [], []
    while len(remaining):
        best = remaining[np.argmax(scores[remaining])]
        if scores[best] <= score_threshold:
            break
        kept.append(best)
        kept_scores.append(scores[best])
        remaining = remaining[remaining != best]
        if not len(remaining):
            break
        iou = pairwise_iou(boxes[best][None], boxes[remaining])[0]
        if method == "nms":
            remaining = remaining[iou <= iou_threshold]
        else:
            scores[remaining] *= np.exp(-(iou**2) / sigma)
    return np.array(kept, int), np.array(kept_scores)


def random_set(rng: np.random.Generator, n: int, side: float) -> tuple[np.ndarray, np.ndarray]:
    xy = rng.uniform(0, side, (n, 2))
    return np.concatenate([xy, xy + rng.uniform(10, 60, (n, 2))], 1), rng.random(n)


def seconds(fn, repeats: int = 3) -> float:
    tic = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - tic) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=3000, help="candidates in the timed image")
    parser.add_argument("--sets", type=int, default=200, help="random sets checked for agreement")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    settings = {"iou_threshold": 0.45, "sigma": 0.3, "score_threshold": 0.3}
    for _ in range(args.sets):
        boxes, scores = random_set(rng, int(rng.integers(1, 60)), 200.0)
        for method in ("nms", "soft-nms"):
            ours = nms(boxes, scores, method=method, **settings)
            plain = numpy_nms(boxes, scores, method=method, **settings)
            assert ours[0].tolist() == plain[0].tolist(), f"{method}: other boxes kept"
            assert np.allclose(ours[1], plain[1], atol=1e-5), f"{method}: other scores"
    print(f"{args.sets} random sets: the same boxes and scores kept by both, NMS and soft-NMS")
    boxes, scores = random_set(rng, args.boxes, 2000.0)
    result = []
    for method in ("nms", "soft-nms"):
        t_tf = seconds(lambda m=method: nms(boxes, scores, method=m, **settings))
        t_np = seconds(lambda m=method: numpy_nms(boxes, scores, method=m, **settings))
        print(
            f"{method:8s} {args.boxes} boxes: TensorFlow {t_tf * 1e3:8.1f} ms, "
            f"NumPy loop {t_np * 1e3:8.1f} ms, speed-up x{t_np / t_tf:.1f}"
        )
        result.append(f"{method.replace('-', '_')}_speedup_ratio={t_np / t_tf:.1f}")
    print("RESULT " + " ".join(result))


if __name__ == "__main__":
    main()
