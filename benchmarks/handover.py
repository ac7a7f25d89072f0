"""What handing batches over costs in tf.data, without any reading: the loader's fixed costs.

    python benchmarks/handover.py [--size 256] [--large 1024] [--batch 8] [--block 8]
                                  [--batches 2048] [--rounds 5]

Constant tensors stand in for what the packed reader delivers, so only tf.data's own work is
timed (µs per batch, the median of `--rounds` alternating rounds, each after a warm-up pass):
(a) a block of `--block` batches split by `unbatch` and iterated in Python, with 1, 4 and 13
    tensors per batch (the pixels and 0, 3 or 12 small per-image tensors, as the detection
    pipeline's boxes, counts and fields), and the same without the pixels;
(b) blocks of one batch of `--large` px images: `unbatch` (copies each batch out of its
    block) against squeezing the block axis away (shares the buffer), what
    `detection_dataset` does for large images (as many pixels per pass as in (a));
(c) whether TensorFlow copies what a numpy function returns, even 64-byte aligned: the array
    is changed after the call and the tensor checked.
Ends with a RESULT line: the costs, the squeeze's ratio against unbatch, and the copy (1/0).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clusterhpc.keras_compat import import_keras  # noqa: E402

TENSOR_COUNTS = (1, 4, 13)
MAX_BOXES = 32


def block_tensors(size: int, batch: int, block: int, n_tensors: int, pixels: bool) -> list:
    """Constant stand-ins: uint8 pixels (block, batch, size, size, 3) (unless not `pixels`)
    and small float32 (block, batch, MAX_BOXES) tensors, `n_tensors` in all."""
    tf, _ = import_keras()
    small = n_tensors - 1 if pixels else n_tensors
    out = [tf.zeros((block, batch, MAX_BOXES), tf.float32) + i for i in range(small)]
    if pixels:
        out.insert(0, tf.zeros((block, batch, size, size, 3), tf.uint8))
    return out


def unbatched(tensors: list, n_blocks: int) -> Callable:
    tf, _ = import_keras()
    return lambda: (
        tf.data.Dataset.from_tensors(tuple(tensors))
        .repeat(n_blocks)
        .map(lambda *t: t, num_parallel_calls=tf.data.AUTOTUNE)
        .unbatch()
        .prefetch(tf.data.AUTOTUNE)
    )


def squeezed(tensors: list, n_blocks: int) -> Callable:
    tf, _ = import_keras()
    return lambda: (
        tf.data.Dataset.from_tensors(tuple(tensors))
        .repeat(n_blocks)
        .map(lambda *t: tuple(tf.squeeze(x, 0) for x in t), num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def us_per_batch(make_dataset: Callable, n_batches: int) -> float:
    for _ in make_dataset():
        pass
    start = time.perf_counter()
    for _ in make_dataset():
        pass
    return 1e6 * (time.perf_counter() - start) / n_batches


def numpy_output_is_copied() -> bool:
    """True when a numpy function's 64-byte-aligned output does not share its buffer."""
    tf, _ = import_keras()
    raw = np.zeros(4096 + 64, np.uint8)
    start = (-raw.ctypes.data) % 64
    held = raw[start : start + 4096]
    tensor = tf.numpy_function(lambda: held, [], tf.uint8)
    held[:] = 1
    return bool((tensor.numpy() == 0).all())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="image side (px)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--block", type=int, default=8, help="batches per block in (a)")
    parser.add_argument("--large", type=int, default=1024, help="image side (px) in (b)")
    parser.add_argument("--batches", type=int, default=2048, help="batches per timed pass")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    n_blocks = max(args.batches // args.block, 1)
    cases: dict[str, Callable] = {}
    for n in TENSOR_COUNTS:
        for pixels in (True, False):
            tensors = block_tensors(args.size, args.batch, args.block, n, pixels)
            cases[f"handover_{n}{'' if pixels else '_no_pixels'}_us"] = unbatched(tensors, n_blocks)
    n_large = max(round(n_blocks * args.block * (args.size / args.large) ** 2), 4)
    one_batch = block_tensors(args.large, args.batch, 1, 1, True)
    cases["unbatch_one_us"] = unbatched(one_batch, n_large)
    cases["squeeze_one_us"] = squeezed(one_batch, n_large)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, make in cases.items():
            large = name.endswith("_one_us")
            times[name].append(us_per_batch(make, n_large if large else n_blocks * args.block))
    fields = {name: statistics.median(values) for name, values in times.items()}
    for name, value in fields.items():
        side = args.large if name.endswith("_one_us") else args.size
        print(f"{name:28} {value:9.1f} µs per batch of {args.batch} ({side} px)")
    fields["squeeze_vs_unbatch_ratio"] = fields["unbatch_one_us"] / fields["squeeze_one_us"]
    fields["numpy_output_copied"] = float(numpy_output_is_copied())
    print(f"numpy function output copied (64-byte aligned): {bool(fields['numpy_output_copied'])}")
    print("RESULT " + " ".join(f"{k}={v:.3f}" for k, v in fields.items()))


if __name__ == "__main__":
    main()
