"""Training throughput of the YOLO detector: 1 rank vs N Horovod ranks, same global batch.

    python benchmarks/train_throughput.py [--ranks 1,2] [--config CONFIG]
        [--backbone tiny --width 0.25] [--input 256] [--global-batch 16] [--steps 20]
        [--[no-]mixed-precision] [--[no-]xla] [--peak-tflops P]

For each rank count the benchmark re-launches itself under `mpirun -np N` (`--worker`): every
rank runs what `clusterhpc train` runs, the `Trainer` with the YOLO task's model and loss, on
one synthetic batch instead of packed shards: the config's `train` settings (by default the
defaults: deterministic ops, Adam, warm-up + cosine schedule, synchronised batch norm with
several ranks; mixed precision and XLA from the config or the flags). Rank 0 reports the
Trainer's own images/s (every step after the first, which traces the step function), the
time of an all-reduce of one step's gradients alone, and the model's FLOPs (forward pass from
the TensorFlow profiler; one training step ≈ 3 × forward). Prints a table and a final RESULT
line; `benchmarks/gpu_train.sh` runs it on GPU nodes with configs/sdss_yolo.yaml.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def count_forward_flops(model, input_size: int) -> float:
    """Floating-point operations of one forward pass on one image (TF profiler)."""
    from clusterhpc.keras_compat import import_keras

    tf, _ = import_keras()
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    spec = tf.TensorSpec((1, input_size, input_size, 3), tf.float32)
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    graph = convert_variables_to_constants_v2(concrete).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=graph, options=options)
    return float(profile.total_float_ops)


def synthetic_task(cfg, steps: int):
    """The YOLO trainer task (model, loss) on one fixed synthetic batch: no data files."""
    from clusterhpc.keras_compat import import_keras
    from clusterhpc.models.yolo_loss import LossSettings
    from clusterhpc.models.yolo_setup import yolo_spec
    from clusterhpc.models.yolo_targets import encode_targets
    from clusterhpc.train.yolo_task import YoloTask

    tf, _ = import_keras()

    class SyntheticYoloTask(YoloTask):
        def __init__(self) -> None:  # YoloTask's model and loss, without its packed splits
            self.cfg, self.spec = cfg, yolo_spec(cfg)
            self.anchors = np.array([[w, w] for w in np.geomspace(0.05, 0.6, 9)]) * size
            self.settings = LossSettings(cfg.model.ignore_iou, cfg.model.label_smoothing)

        def steps_per_epoch(self, n_ranks: int) -> int:
            return steps

        def train_batches(self, epoch: int, start_step: int, rank: int, n_ranks: int):
            rng = np.random.default_rng(rank)
            boxes = np.array([[0.2 * size, 0.3 * size, 0.5 * size, 0.6 * size]])
            maps = encode_targets(boxes, np.ones(1), np.zeros((1, 0)), self.anchors, size)
            batch = {
                "image": tf.constant(rng.random((per_rank, size, size, 3), np.float32)),
                "labels": tuple(tf.constant(np.repeat(m[None], per_rank, 0)) for m in maps),
                "true_boxes": tf.constant(np.zeros((per_rank, 4, 4), np.float32)),
                "ignore_boxes": tf.constant(np.zeros((per_rank, 4, 4), np.float32)),
            }
            return [batch] * (steps - start_step)

        def valid_batches(self, rank: int, n_ranks: int):
            return None

        def input_identity(self) -> dict:
            return {}

    size, per_rank = cfg.model.input_size, cfg.train.batch_size
    return SyntheticYoloTask()


def worker(args: argparse.Namespace) -> None:
    """One rank: `clusterhpc train`'s Trainer on synthetic data; rank 0 reports as JSON."""
    import dataclasses
    import tempfile

    from clusterhpc.config import load_config
    from clusterhpc.hpc.env import rank_info
    from clusterhpc.keras_compat import import_keras
    from clusterhpc.models.yolo import build_yolo
    from clusterhpc.train.trainer import Trainer

    tf, _ = import_keras()

    ranks = rank_info().size
    overrides = [
        f"model.backbone={args.backbone}",
        f"model.width={args.width}",
        f"model.input_size={args.input}",
        f"train.batch_size={args.global_batch // ranks}",
        "train.epochs=1",
        "train.validate=false",
        f"train.log_every={args.steps + 1}",
        *([f"train.mixed_precision={args.mixed_precision}"] * (args.mixed_precision is not None)),
        *([f"train.xla={args.xla}"] * (args.xla is not None)),
    ]
    cfg = load_config(args.config, overrides)
    with tempfile.TemporaryDirectory() as run:
        # the first step traces the step function and is left out of the Trainer's figure
        trainer = Trainer(synthetic_task(cfg, 1 + args.steps), cfg.train, run, cfg.seed)
        result = trainer.fit()
    backend, model = trainer.backend, trainer.model
    allreduce_ms = 0.0
    if backend.size > 1:
        grads = [tf.zeros_like(v) for v in model.trainable_variables]
        reduce = tf.function(
            lambda: [
                backend.hvd.allreduce(g, op=backend.hvd.Average, name=f"bench_{i}")
                for i, g in enumerate(grads)
            ]
        )
        reduce()
        tic = time.perf_counter()
        for _ in range(args.steps):
            reduce()
        allreduce_ms = (time.perf_counter() - tic) / args.steps * 1e3
    if backend.rank == 0:
        spec = dataclasses.replace(trainer.task.spec, sync_batchnorm=False)
        flops = count_forward_flops(build_yolo(spec), args.input)
        print(
            json.dumps(
                {
                    "ranks": backend.size,
                    "images_per_s": result.images_per_second,
                    "step_ms": args.global_batch / result.images_per_second * 1e3,
                    "allreduce_ms": allreduce_ms,
                    "forward_gflops": flops / 1e9,
                    "parameters": model.count_params(),
                }
            )
        )


def launch(n_ranks: int, argv: list[str]) -> dict:
    mpirun = shutil.which("mpirun")
    cmd = [sys.executable, __file__, "--worker", *argv]
    if n_ranks > 1 or mpirun:
        cmd = [
            mpirun,
            "--allow-run-as-root",
            "--oversubscribe",
            "-np",
            str(n_ranks),
            "-x",
            "OMP_NUM_THREADS",
            "-x",
            "TF_NUM_INTRAOP_THREADS",
            *cmd,
        ]
    cores = os.cpu_count() or 1
    threads = str(max(1, cores // n_ranks))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "OMP_NUM_THREADS": threads,
        "TF_NUM_INTRAOP_THREADS": threads,
    }
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", default="1,2", help="rank counts to compare")
    parser.add_argument("--backbone", default="tiny", choices=["tiny", "darknet53"])
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--input", type=int, default=256)
    parser.add_argument("--global-batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument(
        "--config",
        default=None,
        help="the config whose model and train settings to time (default: the defaults)",
    )
    parser.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction)
    parser.add_argument("--xla", action=argparse.BooleanOptionalAction)
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=0.0,
        help="per-device peak, to report the fraction achieved",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    passthrough = [
        "--backbone",
        args.backbone,
        "--width",
        str(args.width),
        "--input",
        str(args.input),
        "--global-batch",
        str(args.global_batch),
        "--steps",
        str(args.steps),
    ]
    passthrough += ["--config", args.config] if args.config else []
    for flag in ("mixed_precision", "xla"):
        value = getattr(args, flag)
        if value is not None:
            passthrough.append(f"--{'' if value else 'no-'}{flag.replace('_', '-')}")
    results = [launch(int(n), passthrough) for n in args.ranks.split(",")]
    base = results[0]
    train_flops = 3 * base["forward_gflops"] * 1e9
    print(
        f"model: {args.backbone} width {args.width}, input {args.input}, "
        f"{base['parameters']:,} parameters, {base['forward_gflops']:.2f} GFLOP forward/image"
    )
    print("ranks  images/s  step ms  all-reduce ms  TFLOP/s  efficiency")
    for r in results:
        tflops = r["images_per_s"] * train_flops / 1e12
        efficiency = r["images_per_s"] / (base["images_per_s"] * r["ranks"] / base["ranks"])
        print(
            f"{r['ranks']:5d}  {r['images_per_s']:8.1f}  {r['step_ms']:7.1f}  "
            f"{r['allreduce_ms']:13.2f}  {tflops:7.3f}  {efficiency:10.2f}"
        )
    if not os.environ.get("CUDA_VISIBLE_DEVICES") and not shutil.which("nvidia-smi"):
        print(
            "(CPU: every rank count shares the same cores, so the ideal speedup is 1, not N;"
            " the difference is the cost of splitting the batch and of the all-reduces)"
        )
    last = results[-1]
    tflops = last["images_per_s"] * train_flops / 1e12
    peak = (
        f" peak_fraction_ratio={tflops / (args.peak_tflops * last['ranks']):.3f}"
        if args.peak_tflops
        else ""
    )
    print(
        f"RESULT images_per_s_1={base['images_per_s']:.1f} "
        f"images_per_s_{last['ranks']}={last['images_per_s']:.1f} "
        f"allreduce_ms={last['allreduce_ms']:.2f} tflops={tflops:.3f} "
        f"speedup_ratio={last['images_per_s'] / base['images_per_s']:.3f} "
        f"scaling_efficiency_ratio="
        f"{last['images_per_s'] / (base['images_per_s'] * last['ranks'] / base['ranks']):.3f}"
        f"{peak}"
    )


if __name__ == "__main__":
    main()
