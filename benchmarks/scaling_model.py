"""Scaling model of the full YOLOv3's training on 8 to 256 GPUs, checked against measured
all-reduces between 2 local ranks. docs/scaling.md explains the model and its inputs.

    python benchmarks/scaling_model.py [--quick] [--config configs/sdss_yolo.yaml]
        [--gpu a100|h100|v100] [--achieved 0.25] [--network hdr|ndr|100gbe]
        [--nics-per-node 1] [--gpus-per-node 4] [--alpha-us 5] [--link-efficiency 0.8]
        [--fusion-mb 64] [--cycle-ms 1] [--op-ms X] [--max-batch-per-gpu 8]
        [--max-global-batch 256] [--epoch-images 1e6] [--train-ips X]
        [--loader-raw-ips 799] [--loader-cores 2] [--jpeg-fraction 0.1] [--jpeg-decode-ms 30]

1. Costs of the config's network, from its layers (`clusterhpc.models.cost`): parameters,
   gradient tensors and bytes, batch-norm layers, forward FLOPs per image (checked on the
   quickstart's tiny model against TensorFlow's profiler, `train_throughput.count_forward_flops`).
2. This machine: the tiny model's training images/s on one rank (`train_throughput.launch`,
   unless `--train-ips` gives it), and Horovod all-reduces over MPI on 1 and 2 local ranks:
   single tensors of several sizes, to which the ring model's latency α and bandwidth are
   fitted, and one step's gradients of the tiny and the full model (`allreduce_nodes.worker`),
   with tensor fusion and without, against the fit; the cost of synchronised batch norm per
   step of the tiny model on 2 ranks, against its term of the model.
3. Predictions for 8-256 GPUs (markdown tables): compute, synchronised batch norm, gradient
   all-reduce (unfused, fused, fp16), step, images/s, epoch time; efficiency under the Horovod
   settings; networks; read rate and CPU cores per GPU for raw and JPEG shards.
Ends with a RESULT line. `--quick` (a tiny run, < 1 min): three message sizes, the tiny
model's gradients only, no run without tensor fusion, no batch-norm check.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from clusterhpc.config import Config
    from clusterhpc.models.cost import ModelCost

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Published peak dense float16/bfloat16 tensor-core TFLOP/s per GPU (SXM parts, no structured
# sparsity): the full config trains with mixed precision.
GPU_PEAK_TFLOPS = {"v100": 125.0, "a100": 312.0, "h100": 989.0}
# Published NVLink bandwidth per GPU and direction, GB/s (half the bidirectional total).
NVLINK_GBYTES = {"v100": 150.0, "a100": 300.0, "h100": 450.0}
# Published line rate of one network port per direction, Gbit/s.
NETWORK_GBITS = {"100gbe": 100.0, "hdr": 200.0, "ndr": 400.0}
GPU_COUNTS = (8, 16, 32, 64, 128, 256)
QUICKSTART = ROOT / "configs" / "quickstart.yaml"  # its network: the tiny model
MIB = 2**20
# A short Horovod cycle: at its default (1 ms) every all-reduce of less than about 1 MiB takes
# one whole cycle here, which hides the latency term of the local measurements; it is also
# the setting the predictions compare with the default for synchronised batch norm.
SHORT_CYCLE_MS = 0.1


def ring_allreduce_bytes(nbytes: float, ranks: int) -> float:
    """Bytes each rank sends (and receives) in a ring all-reduce of `nbytes`."""
    return 2.0 * (ranks - 1) / ranks * nbytes


def allreduce_messages(nbytes: float, tensors: int, fusion_threshold_bytes: float) -> int:
    """Separate all-reduces of one step: one per tensor without fusion (threshold 0), else
    the buffers of at most `fusion_threshold_bytes` that hold the step's gradients."""
    if fusion_threshold_bytes <= 0:
        return tensors
    return min(tensors, max(1, math.ceil(nbytes / fusion_threshold_bytes)))


def allreduce_seconds(
    nbytes: float, ranks: int, messages: int, alpha_s: float, bandwidth: float
) -> float:
    """Ring all-reduce of `nbytes` in `messages` parts: 2(N-1) steps of latency α per part,
    and the ring bytes at `bandwidth` (bytes/s) of the slowest link."""
    if ranks == 1:
        return 0.0
    return messages * 2 * (ranks - 1) * alpha_s + ring_allreduce_bytes(nbytes, ranks) / bandwidth


def tree_latency_seconds(ranks: int, alpha_s: float) -> float:
    """Latency of a small all-reduce over a tree (what NCCL uses for small messages): up and
    down ⌈log2 N⌉ levels of latency α."""
    return 2 * math.ceil(math.log2(ranks)) * alpha_s if ranks > 1 else 0.0


def sync_batchnorm_seconds(
    layers: int, ranks: int, cycle_s: float, op_s: float, alpha_s: float
) -> float:
    """Per step, synchronised batch norm's all-reduces, one after the other: 4 per layer
    (the mean, then the variance, and their gradients), each waiting for Horovod's next cycle
    or its own overhead `op_s` (whichever is longer), plus the tree latency."""
    if ranks == 1:
        return 0.0
    return 4 * layers * (max(cycle_s, op_s) + tree_latency_seconds(ranks, alpha_s))


def fit_latency_bandwidth(
    nbytes: list[float], seconds: list[float], ranks: int, relative_to: list[float] | None = None
) -> tuple[float, float]:
    """Least-squares α ≥ 0 (s) and bandwidth (bytes/s) of one-message `allreduce_seconds` to
    the times `seconds` of single-tensor all-reduces on `ranks` ranks, each residual taken
    relative to `relative_to` (default `seconds`), so that small and large messages weigh
    alike. α is 0 where the times do not resolve a latency (the free fit gives α < 0)."""
    y = np.asarray(seconds, float)
    weight = 1 / (y if relative_to is None else np.asarray(relative_to, float))
    ring = np.array([ring_allreduce_bytes(b, ranks) for b in nbytes])
    design = np.stack([np.full(len(y), 2.0 * (ranks - 1)), ring], 1) * weight[:, None]
    (alpha, inverse), *_ = np.linalg.lstsq(design, y * weight, rcond=None)
    if alpha < 0:
        alpha, inverse = 0.0, np.linalg.lstsq(design[:, 1:], y * weight, rcond=None)[0][0]
    return float(alpha), float(1 / inverse)


def ring_bandwidth(ranks: int, args: argparse.Namespace) -> float:
    """Bytes/s of a ring's slowest link: NVLink inside one node, else the node's network ports
    (NCCL runs one ring per port), each at `link_efficiency` of its published rate."""
    if ranks <= args.gpus_per_node:
        peak = NVLINK_GBYTES[args.gpu] * 1e9
    else:
        peak = args.nics_per_node * NETWORK_GBITS[args.network] * 1e9 / 8
    return peak * args.link_efficiency


@dataclass(frozen=True)
class Prediction:
    """One GPU count: per-step times in seconds and the rates they give."""

    gpus: int
    batch_per_gpu: int
    compute_s: float
    sync_batchnorm_s: float
    message_latency_s: float  # 2(N-1)α: what each separate gradient all-reduce adds
    unfused_s: float  # float32 gradients, one all-reduce per tensor
    fused_s: float  # float32 gradients in fusion buffers
    fused_fp16_s: float  # float16 gradients in fusion buffers

    @property
    def global_batch(self) -> int:
        return self.gpus * self.batch_per_gpu

    def efficiency(
        self, comm_s: float, sync_batchnorm: bool = True, hidden_s: float = 0.0
    ) -> float:
        """Compute time over step time with a gradient all-reduce of `comm_s` of which
        `hidden_s` overlaps compute, with or without synchronised batch norm."""
        exposed = max(0.0, comm_s - hidden_s) + self.sync_batchnorm_s * sync_batchnorm
        return self.compute_s / (self.compute_s + exposed)

    def step_s(self, sync_batchnorm: bool = True) -> float:
        """Step with fused float16 gradients, no overlap, with or without synchronised
        batch norm."""
        return self.compute_s + self.sync_batchnorm_s * sync_batchnorm + self.fused_fp16_s

    def images_per_s(self, sync_batchnorm: bool = True) -> float:
        return self.global_batch / self.step_s(sync_batchnorm)


def predict(cost: ModelCost, args: argparse.Namespace, gpus: int) -> Prediction:
    """Step on `gpus` GPUs. The per-GPU batch is `max_batch_per_gpu`, lowered so that the
    global batch stays within `max_global_batch`; each gradient all-reduce waits one Horovod
    cycle, each synchronised batch norm one cycle or `op_ms`."""
    batch = max(1, min(args.max_batch_per_gpu, args.max_global_batch // gpus))
    compute = batch * cost.training_flops / (GPU_PEAK_TFLOPS[args.gpu] * 1e12 * args.achieved)
    bandwidth, alpha, cycle = ring_bandwidth(gpus, args), args.alpha_us * 1e-6, args.cycle_ms / 1e3
    norm = sync_batchnorm_seconds(cost.batch_norm_layers, gpus, cycle, args.op_ms / 1e3, alpha)

    def comm(bytes_per_value: int, threshold: float) -> float:
        nbytes = cost.gradient_bytes(bytes_per_value)
        messages = allreduce_messages(nbytes, cost.gradient_tensors, threshold)
        return cycle + allreduce_seconds(nbytes, gpus, messages, alpha, bandwidth)

    fusion = args.fusion_mb * MIB
    latency = allreduce_seconds(0, gpus, 1, alpha, bandwidth)
    grads = (comm(4, 0), comm(4, fusion), comm(2, fusion))
    return Prediction(gpus, batch, compute, norm, latency, *grads)


def repeats_for(nbytes: int, minimum: int) -> int:
    """How often to time one all-reduce: at least `minimum`, else enough to move about 1 GiB
    (at most 1000), since the fastest time of a short all-reduce is the noisiest."""
    return max(minimum, min(1000, 2**30 // nbytes))


def worker(args: argparse.Namespace) -> None:
    """One rank: all-reduces of single tensors, then of the models' gradients
    (`allreduce_nodes.worker`); rank 0 prints one JSON line for each."""
    import time

    import horovod.tensorflow as hvd
    from allreduce_nodes import worker as gradients_allreduce

    from clusterhpc.keras_compat import import_keras

    tf, _ = import_keras()
    hvd.init()
    fastest = []
    for i, size in enumerate(args.sizes):
        x = tf.zeros(size // 4)
        reduce = tf.function(lambda x=x, i=i: hvd.allreduce(x, op=hvd.Average, name=f"size_{i}"))
        reduce()
        times = []
        for _ in range(repeats_for(size, args.repeats)):
            tic = time.perf_counter()
            reduce()
            times.append(time.perf_counter() - tic)
        fastest.append(min(times))
    if hvd.rank() == 0:
        print(json.dumps({"sizes": args.sizes, "min_s": fastest}), flush=True)
    for backbone, width, steps in args.models:
        gradients_allreduce(argparse.Namespace(backbone=backbone, width=width, steps=steps))


def launch(ranks: int, fusion_mb: float, argv: list[str]) -> tuple[dict, list[dict]]:
    """The worker on `ranks` local MPI ranks: (single-tensor times, one dict per model)."""
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        sys.exit("mpirun not found: install Open MPI (scripts/install-system.sh)")
    cmd = [mpirun, "--allow-run-as-root", "--oversubscribe", "-np", str(ranks)]
    cmd += ["-x", "HOROVOD_FUSION_THRESHOLD", "-x", "HOROVOD_CYCLE_TIME", "-x", "OMP_NUM_THREADS"]
    cmd += [sys.executable, __file__, "--worker", *argv]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "OMP_NUM_THREADS": "1",
        "HOROVOD_FUSION_THRESHOLD": str(round(fusion_mb * MIB)),
        "HOROVOD_CYCLE_TIME": f"{SHORT_CYCLE_MS:g}",
    }
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return lines[0], lines[1:]


def mib_list(text: str) -> list[int]:
    """ "0.25,4" (MiB) -> sizes in bytes, multiples of 4 (float32 values)."""
    return [4 * max(1, round(float(v) * MIB / 4)) for v in text.split(",") if v]


def model_list(text: str) -> list[tuple[str, float, int]]:
    """ "tiny:0.25:100,darknet53:1:20" -> [(backbone, width, timed all-reduces), ...]."""
    items = (v.split(":") for v in text.split(",") if v)
    return [(name, float(width), int(steps)) for name, width, steps in items]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--worker", action="store_true", help=argparse.SUPPRESS)
    add("--sizes", type=mib_list, default=None, help="single tensors all-reduced, MiB: 1,4,16")
    add("--models", type=model_list, default=[], help=argparse.SUPPRESS)
    add("--repeats", type=int, default=20, help="fewest all-reduces timed per case (fastest)")
    add("--quick", action="store_true", help="a tiny run: 3 sizes, tiny model, no unfused run")
    add("--config", default=str(ROOT / "configs" / "sdss_yolo.yaml"), help="the full model")
    add("--gpu", default="a100", choices=sorted(GPU_PEAK_TFLOPS))
    add("--achieved", type=float, default=0.25, help="fraction of the float16 peak achieved")
    add("--network", default="hdr", choices=sorted(NETWORK_GBITS))
    add("--nics-per-node", type=int, default=1)
    add("--gpus-per-node", type=int, default=4)
    add("--alpha-us", type=float, default=5.0, help="latency per ring step on the cluster")
    add("--link-efficiency", type=float, default=0.8, help="fraction of a link's rate achieved")
    add("--fusion-mb", type=float, default=64.0, help="train.fusion_threshold_mb")
    add("--cycle-ms", type=float, default=1.0, help="Horovod cycle time (its default: 1 ms)")
    add("--op-ms", type=float, default=None, help="one Horovod all-reduce's overhead (measured)")
    add("--max-batch-per-gpu", type=int, default=8, help="images per GPU that fit in memory")
    add("--max-global-batch", type=int, default=256, help="largest useful global batch")
    add("--epoch-images", type=float, default=1e6, help="images per training epoch")
    add("--train-ips", type=float, default=None, help="tiny model's CPU images/s (else measured)")
    add("--loader-raw-ips", type=float, default=799.0, help="raw shards at the input size, here")
    add("--loader-cores", type=int, default=2, help="cores behind --loader-raw-ips")
    add("--jpeg-fraction", type=float, default=0.1, help="JPEG bytes / raw bytes of a cutout")
    add("--jpeg-decode-ms", type=float, default=30.0, help="one core's time per cutout JPEG")
    args = parser.parse_args()
    if args.sizes is None:
        args.sizes = mib_list("0.0625,4,16" if args.quick else "0.004,0.0625,1,4,16,64")
    return args


def table(header: list[str], rows: list[list[str]]) -> None:
    """Print a markdown table."""
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()


def local_check(args: argparse.Namespace, models: list[tuple[str, int]]) -> dict[str, float]:
    """Horovod all-reduces on 1 and 2 local ranks, the ring model fitted to the single
    tensors and checked on the gradients of `models` ("backbone:width", gradient bytes; with
    `--quick` the first one only); prints tables, returns RESULT fields."""
    models = models[:1] if args.quick else models
    steps = [f"{name}:{repeats_for(nbytes, args.repeats)}" for name, nbytes in models]
    argv = ["--repeats", str(args.repeats), "--models", ",".join(steps)]
    sizes = ["--sizes", ",".join(f"{s / MIB:g}" for s in args.sizes)]
    runs = {
        (ranks, args.fusion_mb): launch(ranks, args.fusion_mb, argv + sizes) for ranks in (1, 2)
    }
    if not args.quick:
        runs.update({(ranks, 0.0): launch(ranks, 0.0, [*argv, "--sizes", ""]) for ranks in (1, 2)})
    one, two = (runs[ranks, args.fusion_mb][0]["min_s"] for ranks in (1, 2))
    comm = [b - a for a, b in zip(one, two, strict=True)]
    alpha, bandwidth = fit_latency_bandwidth(args.sizes, comm, 2, relative_to=two)
    print(
        "### All-reduce of single float32 tensors: Horovod over MPI, Horovod cycle"
        f" {SHORT_CYCLE_MS:g} ms, the fastest of the timed runs"
    )
    print()
    rows = []
    for size, t1, t2 in zip(args.sizes, one, two, strict=True):
        fit = t1 + allreduce_seconds(size, 2, 1, alpha, bandwidth)
        times = (f"{t * 1e3:.2f}" for t in (t1, t2, fit))
        rows.append([f"{size / MIB:.4g}", str(repeats_for(size, args.repeats)), *times])
    table(["MiB", "timed", "1 rank ms", "2 ranks ms", "2 ranks: 1 rank + fitted ring ms"], rows)
    print(
        f"Fitted to 2 ranks minus 1 rank (relative residuals): alpha = {alpha * 1e6:.1f} us "
        f"per ring step, bandwidth = {bandwidth / 1e9:.2f} GB/s"
    )
    print()
    op_s = one[int(np.argmin(args.sizes))]
    print(f"One Horovod all-reduce of the smallest tensor on 1 rank: {op_s * 1e3:.2f} ms")
    print()
    fields = {"alpha_us": alpha * 1e6, "bandwidth_gbs": bandwidth / 1e9, "op_ms": op_s * 1e3}
    fields.update(gradients_check(runs, [name for name, _ in models], alpha, bandwidth))
    if not args.quick and args.fusion_mb > 0:
        fields["alpha_from_messages_us"] = message_latency(runs, models[0][0], args.fusion_mb)
    return fields


def gradients_check(
    runs: dict, names: list[str], alpha: float, bandwidth: float
) -> dict[str, float]:
    """Measured 2-rank all-reduces of the models' gradients against 1 rank + the ring model."""
    print("### One step's gradients (allreduce_nodes.worker), predicted = 1 rank + ring model")
    print()
    rows, fields = [], {}
    for fusion in sorted({key[1] for key in runs}, reverse=True):
        for name, m1, m2 in zip(names, runs[1, fusion][1], runs[2, fusion][1], strict=True):
            messages = allreduce_messages(m2["bytes"], m2["tensors"], fusion * MIB)
            ring = allreduce_seconds(m2["bytes"], 2, messages, alpha, bandwidth)
            predicted = m1["min_ms"] + 1e3 * ring
            ratio = predicted / m2["min_ms"]
            sizes = [str(m2["tensors"]), f"{m2['bytes'] / MIB:.1f}", str(messages)]
            times = [f"{t:.1f}" for t in (m1["min_ms"], m2["min_ms"], predicted)]
            rows.append([name, f"{fusion:g}", *sizes, *times, f"{ratio:.2f}"])
            key = f"{'tiny' if name == names[0] else 'full'}_{'fused' if fusion else 'unfused'}"
            fields[f"{key}_ms_1"] = m1["min_ms"]
            fields[f"{key}_ms_2"] = m2["min_ms"]
            fields[f"{key}_predicted_to_measured_ratio"] = ratio
    header = ["model", "fusion MiB", "tensors", "MiB", "messages", "1 rank ms", "2 ranks ms"]
    table([*header, "predicted ms", "predicted / measured"], rows)
    return fields


def message_latency(runs: dict, name: str, fusion_mb: float) -> float:
    """α (us) from the first model's gradients sent fused and one tensor per message: the
    same bytes, more messages. Prints it."""
    one, two = ({f: runs[r, f][1][0] for f in (0.0, fusion_mb)} for r in (1, 2))
    comm_ms = {f: two[f]["min_ms"] - one[f]["min_ms"] for f in two}
    tensors = two[0.0]["tensors"]
    extra = tensors - allreduce_messages(two[0.0]["bytes"], tensors, fusion_mb * MIB)
    alpha = (comm_ms[0.0] - comm_ms[fusion_mb]) / (2 * extra) * 1e3  # ms -> us
    print(
        f"Latency from the message count ({name}: {extra} more messages without fusion, the"
        f" same bytes): alpha = {alpha:.1f} us per ring step"
    )
    print()
    return alpha


def sync_batchnorm_check(
    tiny_cfg: Config, tiny: ModelCost, alpha_s: float, op_s: float
) -> dict[str, float]:
    """Synchronised batch norm's cost per training step of the tiny model on 2 local ranks at
    Horovod's default cycle (`train_throughput.launch`: the step with it minus the step
    without it) against `sync_batchnorm_seconds`; prints it, returns RESULT fields."""
    import tempfile

    from train_throughput import launch as train_launch

    m = tiny_cfg.model
    argv = ["--backbone", m.backbone, "--width", f"{m.width:g}", "--input", str(m.input_size)]
    argv += ["--steps", "10", "--global-batch", "16"]
    step_ms = {}
    with tempfile.TemporaryDirectory() as tmp:
        for sync in (False, True):
            path = Path(tmp) / f"sync-{sync}.yaml"
            path.write_text(f"model: {{sync_batchnorm: {str(sync).lower()}}}\n")
            step_ms[sync] = train_launch(2, [*argv, "--config", str(path)])["step_ms"]
    measured = step_ms[True] - step_ms[False]
    predicted = 1e3 * sync_batchnorm_seconds(tiny.batch_norm_layers, 2, 1e-3, op_s, alpha_s)
    print(
        f"### Synchronised batch norm, tiny model ({tiny.batch_norm_layers} layers), 2 ranks,"
        " Horovod's default cycle (1 ms), global batch 16"
    )
    print()
    print(
        f"Step {step_ms[True]:.0f} ms with it, {step_ms[False]:.0f} ms without: {measured:.0f} ms"
        f" per step, predicted {predicted:.0f} ms (ratio {predicted / measured:.2f})"
    )
    print()
    return {
        "sync_batchnorm_ms": measured,
        "sync_batchnorm_predicted_to_measured_ratio": predicted / measured,
    }


def network_table(cost: ModelCost, args: argparse.Namespace) -> None:
    """Fused gradient all-reduce times at 32 and 256 GPUs for each network, with one port per
    node and with one port per GPU, and the efficiency without synchronised batch norm (which
    the network does not change)."""
    rows = []
    for network in sorted(NETWORK_GBITS, key=NETWORK_GBITS.__getitem__):
        for ports in sorted({1, args.gpus_per_node}):
            variant = argparse.Namespace(
                **{**vars(args), "network": network, "nics_per_node": ports}
            )
            row = [network.upper(), str(ports)]
            for gpus in (32, 256):
                p = predict(cost, variant, gpus)
                row += [f"{p.fused_s * 1e3:.0f} / {p.fused_fp16_s * 1e3:.0f}"]
                row += [f"{p.efficiency(p.fused_fp16_s, sync_batchnorm=False):.2f}"]
            rows.append(row)
    efficiency = "efficiency fp16, no sync batch norm"
    header = ["network", "ports per node", "32 GPUs: fused fp32 / fp16 ms", efficiency]
    table([*header, "256 GPUs: fused fp32 / fp16 ms", efficiency], rows)


def cost_table(full: ModelCost, tiny: ModelCost, full_size: int, tiny_size: int) -> None:
    """The two models' costs side by side."""
    rows = [
        ("parameters (count_params)", lambda c: f"{c.parameters:,}"),
        ("trainable: gradient values", lambda c: f"{c.trainable_parameters:,}"),
        ("gradient tensors", lambda c: str(c.gradient_tensors)),
        ("gradient MiB, float32", lambda c: f"{c.gradient_bytes(4) / MIB:.2f}"),
        ("gradient MiB, float16", lambda c: f"{c.gradient_bytes(2) / MIB:.2f}"),
        ("forward GFLOP per image", lambda c: f"{c.forward_flops / 1e9:.3f}"),
        ("training GFLOP per image", lambda c: f"{c.training_flops / 1e9:.2f}"),
        ("layer outputs per image, M values", lambda c: f"{c.activation_values / 1e6:.1f}"),
    ]
    header = ["", f"full (input {full_size})", f"tiny (input {tiny_size})"]
    table(header, [[name, show(full), show(tiny)] for name, show in rows])


def prediction_table(full: ModelCost, args: argparse.Namespace) -> list[Prediction]:
    """Step parts, step, images/s and epoch time for `GPU_COUNTS`."""
    predictions = [predict(full, args, n) for n in GPU_COUNTS]
    rows = []
    for p in predictions:
        parts = (p.compute_s, p.sync_batchnorm_s, p.unfused_s, p.fused_s, p.fused_fp16_s)
        rows.append(
            [str(p.gpus), f"{p.batch_per_gpu} / {p.global_batch}"]
            + [f"{t * 1e3:.0f}" for t in parts]
            + [f"{p.message_latency_s * 1e3:.2f}", f"{p.step_s() * 1e3:.0f}"]
            + [f"{p.images_per_s():,.0f}", f"{args.epoch_images / p.images_per_s() / 60:.0f}"]
        )
    header = ["GPUs", "batch per GPU / global", "compute ms", "sync batch norm ms"]
    header += ["gradients all-reduce ms: unfused fp32", "fused fp32", "fused fp16"]
    header += ["latency per message ms", "step ms (fused fp16)", "images/s", "epoch min"]
    table(header, rows)
    return predictions


def efficiency_table(full: ModelCost, args: argparse.Namespace) -> None:
    """Efficiency (compute / step) for `GPU_COUNTS` under the Horovod settings to choose from."""
    from clusterhpc.models.cost import TRAINING_FLOPS_FACTOR

    hidden = (TRAINING_FLOPS_FACTOR - 1) / TRAINING_FLOPS_FACTOR  # the backward pass
    short = argparse.Namespace(**{**vars(args), "cycle_ms": SHORT_CYCLE_MS})
    rows = []
    for gpus in GPU_COUNTS:
        p, q = predict(full, args, gpus), predict(full, short, gpus)
        efficiencies = (
            p.efficiency(p.fused_s),
            p.efficiency(p.fused_fp16_s),
            q.efficiency(q.fused_fp16_s),
            q.efficiency(q.fused_fp16_s, hidden_s=hidden * q.compute_s),
            p.efficiency(p.fused_fp16_s, sync_batchnorm=False),
        )
        rows.append([str(gpus), *(f"{e:.2f}" for e in efficiencies)])
    cycle = f"cycle {args.cycle_ms:g} ms"
    header = ["GPUs", f"fp32, {cycle}", f"fp16, {cycle}", f"fp16, cycle {SHORT_CYCLE_MS:g} ms"]
    header += ["same, all-reduce behind the backward pass", f"fp16, {cycle}, no sync batch norm"]
    table(header, rows)


def io_table(predictions: list[Prediction], cfg: Config, args: argparse.Namespace) -> None:
    """Read rates and CPU cores per GPU for raw and JPEG shards at the rate the GPUs consume
    without synchronised batch norm's waits (what the file system and CPUs must sustain)."""
    raw_side = cfg.prep.pack.image_size or cfg.prep.size
    raw_bytes = raw_side**2 * 3
    jpeg_bytes = cfg.prep.size**2 * 3 * args.jpeg_fraction
    per_core = args.loader_raw_ips / args.loader_cores
    print(
        f"Raw shards at {raw_side} px: {raw_bytes / MIB:.1f} MiB per image, "
        f"{args.epoch_images * raw_bytes / 1e12:.1f} TB per epoch of {args.epoch_images:.0e}; "
        f"JPEG shards at {cfg.prep.size} px, {args.jpeg_fraction:g} of their raw size: "
        f"{jpeg_bytes / MIB:.2f} MiB, {args.epoch_images * jpeg_bytes / 1e12:.1f} TB. "
        "Rates without synchronised batch norm (the most the GPUs consume):"
    )
    print()
    rows = []
    for p in predictions:
        job = p.images_per_s(sync_batchnorm=False)
        ips = job / p.gpus
        rows.append(
            [
                str(p.gpus),
                f"{ips:.0f}",
                f"{ips * raw_bytes / 1e6:.0f}",
                f"{ips * jpeg_bytes / 1e6:.0f}",
                f"{job * raw_bytes / 1e9:.1f}",
                f"{job * jpeg_bytes / 1e9:.1f}",
                f"{ips / per_core:.2f}",
                f"{ips * args.jpeg_decode_ms / 1e3:.1f}",
            ]
        )
    header = ["GPUs", "images/s per GPU", "raw MB/s per GPU", "JPEG MB/s per GPU"]
    header += ["job raw GB/s", "job JPEG GB/s", "raw reader cores per GPU"]
    table([*header, "JPEG decode cores per GPU"], rows)


def main() -> None:
    import dataclasses

    from train_throughput import count_forward_flops
    from train_throughput import launch as train_launch

    from clusterhpc.config import load_config
    from clusterhpc.models.cost import model_cost
    from clusterhpc.models.yolo import build_yolo
    from clusterhpc.models.yolo_setup import yolo_spec

    args = parse_args()
    if args.worker:
        worker(args)
        return
    cfg, tiny_cfg = load_config(args.config), load_config(QUICKSTART)
    full = model_cost(build_yolo(dataclasses.replace(yolo_spec(cfg), sync_batchnorm=False)))
    tiny_model = build_yolo(dataclasses.replace(yolo_spec(tiny_cfg), sync_batchnorm=False))
    tiny, tiny_size = model_cost(tiny_model), tiny_cfg.model.input_size
    flops_ratio = tiny.forward_flops / count_forward_flops(tiny_model, tiny_size)
    m = cfg.model
    print(f"## Model costs: {args.config}, {m.backbone} x{m.width:g}, input {m.input_size}")
    print()
    cost_table(full, tiny, m.input_size, tiny_size)
    print(f"Tiny model's forward FLOPs, layer walk / TensorFlow profiler: {flops_ratio:.3f}")
    print()

    print("## This machine")
    print()
    train_ips = args.train_ips
    if train_ips is None:
        argv = ["--input", str(tiny_size), "--steps", "20", "--global-batch", "16"]
        train_ips = train_launch(1, argv)["images_per_s"]
    cpu_flops = train_ips * tiny.training_flops
    print(
        f"Tiny model training on 1 rank, input {tiny_size}: {train_ips:.1f} images/s = "
        f"{cpu_flops / 1e9:.1f} GFLOP/s; the full model at that rate: "
        f"{full.training_flops / cpu_flops:.0f} s per image"
    )
    print()
    models = ((tiny_cfg.model, tiny), (m, full))
    fields = local_check(
        args, [(f"{t.backbone}:{t.width:g}", c.gradient_bytes()) for t, c in models]
    )
    if args.op_ms is None:
        args.op_ms = fields["op_ms"]
    if not args.quick:
        alpha_s = fields["alpha_us"] * 1e-6
        fields.update(sync_batchnorm_check(tiny_cfg, tiny, alpha_s, args.op_ms / 1e3))

    peak = GPU_PEAK_TFLOPS[args.gpu]
    print(
        f"## Predictions: {args.gpu.upper()}, {args.achieved:.0%} of {peak:g} TFLOP/s (float16),"
        f" {args.gpus_per_node} GPUs and {args.nics_per_node} x {args.network.upper()} per node,"
        f" alpha {args.alpha_us:g} us, links at {args.link_efficiency:.0%},"
        f" fusion {args.fusion_mb:g} MiB, cycle {args.cycle_ms:g} ms, op {args.op_ms:.2f} ms"
    )
    print()
    predictions = prediction_table(full, args)
    print("Efficiency, fused gradients, synchronised batch norm unless said otherwise:")
    print()
    efficiency_table(full, args)
    network_table(full, args)
    io_table(predictions, cfg, args)
    detect_s = args.epoch_images * full.forward_flops / (peak * 1e12 * args.achieved)
    print(f"Detection over {args.epoch_images:.0e} cutouts: {detect_s / 3600:.2f} GPU-hours")
    print()

    first, last = predictions[0], predictions[-1]
    result = {
        "parameters": full.parameters,
        "gradient_tensors": full.gradient_tensors,
        "gradient_mib": full.gradient_bytes(4) / MIB,
        "forward_gflops": full.forward_flops / 1e9,
        "training_gflops": full.training_flops / 1e9,
        "flops_check_ratio": flops_ratio,
        "cpu_train_ips": train_ips,
        **fields,
        f"step_ms_{first.gpus}": first.step_s() * 1e3,
        f"step_ms_{last.gpus}": last.step_s() * 1e3,
        f"efficiency_fp16_{first.gpus}_ratio": first.efficiency(first.fused_fp16_s),
        f"efficiency_fp16_{last.gpus}_ratio": last.efficiency(last.fused_fp16_s),
        f"efficiency_fp16_no_sync_bn_{last.gpus}_ratio": last.efficiency(
            last.fused_fp16_s, sync_batchnorm=False
        ),
        f"images_per_s_{last.gpus}": last.images_per_s(),
    }
    print("RESULT " + " ".join(f"{k}={v:.4g}" for k, v in result.items()))


if __name__ == "__main__":
    main()
