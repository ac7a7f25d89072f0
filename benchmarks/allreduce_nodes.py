"""Horovod all-reduce of one training step's gradients: 2 ranks on one node vs one rank on
each of 2 nodes, on a Slurm cluster (by default the local test cluster's namespaced nodes).

    python benchmarks/allreduce_nodes.py [--partition multinode] [--backbone tiny --width 0.25]
        [--steps 20] [--fusion-mb 64] [--timeout 600]

Submits two jobs, `--nodes=1 --ntasks-per-node=2` and `--nodes=2 --ntasks-per-node=1`, each
running this script with `--worker` under `srun --mpi=pmix`: every rank builds the detector
(`model.*` from the flags), then times Horovod all-reduces (average) of zero tensors shaped
like its trainable variables, as the training step sends them (Horovod fuses them into
buffers of HOROVOD_FUSION_THRESHOLD bytes). On one node Open MPI moves the bytes through
shared memory; across nodes through TCP (on the local cluster: a veth bridge between network
namespaces, the same kernel). The ratio says what the interconnect costs per step. Prints a
table and a final RESULT line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def worker(args: argparse.Namespace) -> None:
    """One rank: time all-reduces of one step's gradient shapes; rank 0 prints JSON."""
    import socket

    import horovod.tensorflow as hvd

    from clusterhpc.config import load_config
    from clusterhpc.keras_compat import import_keras
    from clusterhpc.models.yolo import build_yolo
    from clusterhpc.models.yolo_setup import yolo_spec

    tf, _ = import_keras()
    hvd.init()
    cfg = load_config(
        None,
        [f"model.backbone={args.backbone}", f"model.width={args.width}", "model.input_size=64"],
    )
    model = build_yolo(yolo_spec(cfg))
    grads = [tf.zeros_like(v) for v in model.trainable_variables]
    reduce = tf.function(
        lambda: [hvd.allreduce(g, op=hvd.Average, name=f"bench_{i}") for i, g in enumerate(grads)]
    )
    reduce()  # traces the function, negotiates the tensors
    times = []
    for _ in range(args.steps):
        tic = time.perf_counter()
        reduce()
        times.append(time.perf_counter() - tic)
    hosts = hvd.allgather_object(socket.gethostname())
    if hvd.rank() == 0:
        times.sort()
        print(
            json.dumps(
                {
                    "ranks": hvd.size(),
                    "nodes": len(set(hosts)),
                    "hosts": hosts,
                    "bytes": int(sum(g.shape.num_elements() * 4 for g in grads)),
                    "tensors": len(grads),
                    "median_ms": times[len(times) // 2] * 1e3,
                    "min_ms": times[0] * 1e3,
                }
            )
        )


def submit(args: argparse.Namespace, nodes: int, tasks_per_node: int, out: Path) -> dict:
    """Run the worker as one Slurm job and return rank 0's JSON line."""
    command = [
        "sbatch",
        "--wait",
        "--parsable",
        f"--partition={args.partition}",
        f"--nodes={nodes}",
        f"--ntasks-per-node={tasks_per_node}",
        "--time=10",
        f"--output={out}",
        "--wrap",
        " ".join(
            [
                "srun --mpi=pmix",
                sys.executable,
                str(Path(__file__).resolve()),
                "--worker",
                f"--backbone={args.backbone}",
                f"--width={args.width}",
                f"--steps={args.steps}",
            ]
        ),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "OMP_NUM_THREADS": "1",
        "HOROVOD_FUSION_THRESHOLD": str(int(args.fusion_mb * 2**20)),
    }
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=args.timeout)
    text = out.read_text() if out.exists() else ""
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({proc.returncode}):\n{proc.stderr}\n{text[-3000:]}")
    lines = [line for line in text.splitlines() if line.startswith("{")]
    if not lines:
        sys.exit(f"no result from the job:\n{text[-3000:]}")
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--partition", default="multinode")
    parser.add_argument("--backbone", default="tiny", choices=["tiny", "darknet53"])
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--fusion-mb", type=float, default=64, help="HOROVOD_FUSION_THRESHOLD")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per job")
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        one = submit(args, 1, 2, Path(tmp) / "one-node.out")
        two = submit(args, 2, 1, Path(tmp) / "two-nodes.out")
    print(
        f"{args.backbone} x{args.width}: {one['tensors']} tensors, {one['bytes'] / 2**20:.2f} MiB"
    )
    print(f"{'placement':<22}{'hosts':<22}{'median ms':>10}{'min ms':>9}")
    for name, r in (("2 ranks on 1 node", one), ("1 rank on each of 2", two)):
        print(f"{name:<22}{','.join(r['hosts']):<22}{r['median_ms']:>10.2f}{r['min_ms']:>9.2f}")
    ratio = two["median_ms"] / one["median_ms"]
    print(
        f"RESULT allreduce_ms_1node={one['median_ms']:.2f} "
        f"allreduce_ms_2nodes={two['median_ms']:.2f} ratio={ratio:.2f} "
        f"mib={one['bytes'] / 2**20:.2f} nodes_1={one['nodes']} nodes_2={two['nodes']}"
    )


if __name__ == "__main__":
    main()
