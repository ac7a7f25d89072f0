"""`clusterhpc detect` throughput on 1 and 2 MPI ranks vs the plain tf.data + Keras loop.

    python benchmarks/detect.py [--sizes 256,1024] [--images 128] [--batch 16] [--ranks 1,2]

For each network input size S, `--images` synthetic S-px sky cutouts (noise and blurred point
sources, JPEG quality 90, each with its RA/Dec sidecar: the layout `detect.images` reads) are
written to a temporary folder, and a run directory is made for the quickstart's tiny YOLOv3
(backbone tiny, width 0.25) at input S: its config, inference.json and UNTRAINED weights
(He-normal random kernels, so that scores differ between boxes; throughput does not depend on
what the weights learnt). The score threshold is set so that about 20 boxes of the first image
pass it, as many as a trained detector hands to NMS. Timed on the same files, each in fresh
processes, from after the imports (Python and TensorFlow start-up left out) to the catalogue
written:

- `clusterhpc detect` (the stage's `main`, in-process) under `mpirun -np N` for each `--ranks`
  N: model built, weights loaded, images read and letterboxed, inference, NMS, sky positions,
  gather on rank 0, duplicates merged, FITS catalogue;
- the plain alternative a user would write, one process (TensorFlow spreads it over every
  core): the same model and weights, `tf.data` decode (parallel calls), `resize_with_pad`,
  batch and prefetch, `model.predict_on_batch` per batch, the same post-processing
  (`yolo_postprocess.postprocess`, `detect.catalog.boxes_to_sky`) and an astropy FITS table
  (no merging of duplicates).

Prints images/s for each, clusterhpc's over the plain loop's (`*_vs_plain_ratio`, above 1:
clusterhpc is faster) and the 2-rank over the 1-rank rate (`*_scaling_ratio`); ends with a
RESULT line. README's figures are from the 2-core AMD EPYC development VM (no GPU), where the
ranks share the 2 cores.
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIG = ROOT / "configs" / "quickstart.yaml"
SCALE = 3.169016  # arcsec/px of the quickstart cutouts
TOP_BOXES = 20  # boxes of the first image above the score threshold
# 9 anchors (width, height as fractions of the input side), cluster-box sizes in 13.5' cutouts.
ANCHORS = [[0.05, 0.06], [0.08, 0.09], [0.11, 0.12], [0.15, 0.16], [0.2, 0.21], [0.26, 0.27],
           [0.33, 0.34], [0.42, 0.43], [0.55, 0.56]]  # fmt: skip


def write_cutouts(folder: Path, n: int, size: int, seed: int = 0) -> None:
    """n synthetic sky cutouts (JPEG + RA/Dec sidecar): noise and blurred point sources."""
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    from clusterhpc.io.sidecars import write_position

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(n):
        sky = np.zeros((size, size, 3))
        k = size * size // 400
        where = rng.integers(0, size, (2, k))
        np.add.at(sky, (where[0], where[1]), (rng.pareto(1.5, (k, 3)) + 1) * 60)
        sky = gaussian_filter(sky, (1.2, 1.2, 0)) + rng.normal(15, 4, sky.shape)
        path = folder / f"c{i:05d}.jpeg"
        Image.fromarray(np.clip(sky, 0, 255).astype(np.uint8)).save(path, quality=90)
        write_position(path, 150 + 0.5 * i, 2.0)


def make_run(run: Path, size: int, first_image: Path, seed: int = 0) -> float:
    """Config, inference.json and random weights of the tiny YOLO at input `size` in `run`;
    returns the score threshold that about TOP_BOXES boxes of `first_image` pass."""
    from PIL import Image

    from clusterhpc.config import load_config, write_resolved
    from clusterhpc.models import inference_record
    from clusterhpc.models.yolo import build_yolo
    from clusterhpc.models.yolo_setup import yolo_spec

    cfg = load_config(CONFIG, [f"model.input_size={size}", f"run.dir={run}"])
    run.mkdir(parents=True)
    write_resolved(cfg, run)
    inference_record.write(
        run,
        {
            "input_size": size,
            "normalisation": inference_record.NORMALISATION,
            "anchors": ANCHORS,
        },
    )
    model = build_yolo(yolo_spec(cfg))
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if hasattr(layer, "kernel"):
            shape = tuple(layer.kernel.shape)
            std = np.sqrt(2 / np.prod(shape[:-1]))
            layer.kernel.assign(rng.normal(0, std, shape).astype(np.float32))
    model.save_weights(str(run / "final.weights.h5"))
    with Image.open(first_image) as img:
        pixels = np.asarray(img.convert("RGB"), np.float32)[None] / 255
    logits = np.concatenate([np.ravel(np.asarray(raw)[..., 4]) for raw in model(pixels)])
    return float(1 / (1 + np.exp(-np.sort(logits)[-TOP_BOXES - 1])))


def clusterhpc_worker(run: Path, images: Path, out: Path, threshold: float, batch: int) -> None:
    """Under mpirun: time `clusterhpc detect` in-process; rank 0 prints the seconds (JSON)."""
    import clusterhpc.detect.stage  # noqa: F401  (imported before the clock starts)
    from clusterhpc.cli import main as cli_main
    from clusterhpc.hpc.mpi import get_comm
    from clusterhpc.keras_compat import import_keras

    import_keras()
    comm = get_comm()
    overrides = [
        f"run.dir={run}",
        f"detect.images={images}",
        f"detect.out={out}",
        f"detect.score_threshold={threshold!r}",
        f"detect.batch_size={batch}",
        f"detect.scale={SCALE}",
    ]
    comm.barrier()
    tic = time.perf_counter()
    assert cli_main(["--log-level", "WARNING", "detect", str(CONFIG), *overrides]) == 0
    comm.barrier()
    if comm.is_root:
        print(json.dumps({"seconds": time.perf_counter() - tic}))


def plain_worker(run: Path, images: Path, out: Path, threshold: float, batch: int) -> None:
    """The plain tf.data + Keras loop with the same post-processing; prints the seconds."""
    from astropy.table import Table

    from clusterhpc.config import load_config
    from clusterhpc.detect.catalog import boxes_to_sky
    from clusterhpc.keras_compat import import_keras
    from clusterhpc.models.yolo import build_yolo
    from clusterhpc.models.yolo_postprocess import postprocess
    from clusterhpc.models.yolo_setup import yolo_spec

    tf, _ = import_keras()
    tic = time.perf_counter()
    spec = yolo_spec(load_config(run / "config.yaml"))
    size = spec.input_size
    model = build_yolo(spec)
    model.load_weights(str(run / "final.weights.h5"))
    anchors = np.asarray(ANCHORS) * size
    files = sorted(str(path) for path in images.glob("*.jpeg"))
    centres = [np.loadtxt(Path(f).with_suffix(".txt")) for f in files]

    def load(path):
        pixels = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
        boxed = tf.image.resize_with_pad(
            tf.image.convert_image_dtype(pixels, tf.float32), size, size
        )
        return boxed, tf.shape(pixels)[:2]

    dataset = (
        tf.data.Dataset.from_tensor_slices(files)
        .map(load, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch)
        .prefetch(tf.data.AUTOTUNE)
    )
    columns: dict[str, list[np.ndarray]] = {k: [] for k in ("RA", "DEC", "WIDTH", "HEIGHT")}
    columns["SCORE"], index = [], 0
    for pixels, shapes in dataset:
        outputs = model.predict_on_batch(pixels)
        for b, shape in enumerate(shapes.numpy()):
            det = postprocess([o[b] for o in outputs], anchors, spec, tuple(shape), threshold)
            sky = boxes_to_sky(det.boxes, *centres[index], SCALE, tuple(shape))
            for key, values in zip(columns, (*sky, det.scores), strict=True):
                columns[key].append(values)
            index += 1
    Table({k: np.concatenate(v) for k, v in columns.items()}).write(out, overwrite=True)
    print(json.dumps({"seconds": time.perf_counter() - tic}))


def launch(mode: str, ranks: int, folder: Path, threshold: float, batch: int) -> float:
    """Seconds of one timed worker run (under `mpirun -np ranks` for clusterhpc)."""
    args = [sys.executable, __file__, "--worker", mode, "--dir", str(folder)]
    args += ["--batch", str(batch), "--threshold", repr(threshold)]
    if mode == "clusterhpc":
        mpirun = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", str(ranks)]
        args = [*mpirun, "--mca", "btl", "self,vader,tcp", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    if proc.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,1024", help="network input sizes (px)")
    parser.add_argument("--images", type=int, default=128, help="cutouts per size")
    parser.add_argument("--batch", type=int, default=16, help="images per inference batch")
    parser.add_argument("--ranks", default="1,2", help="MPI rank counts for clusterhpc detect")
    parser.add_argument("--worker", choices=("clusterhpc", "plain"), help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--threshold", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker = clusterhpc_worker if args.worker == "clusterhpc" else plain_worker
        out = args.dir / f"{args.worker}.fits"
        worker(args.dir / "run", args.dir / "images", out, args.threshold, args.batch)
        return
    ranks = [int(k) for k in args.ranks.split(",")]
    result: dict[str, str] = {"images": str(args.images)}
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            folder = Path(tmp) / str(size)
            write_cutouts(folder / "images", args.images, size)
            threshold = make_run(folder / "run", size, folder / "images" / "c00000.jpeg")
            print(
                f"{args.images} cutouts of {size} px, batch {args.batch}, "
                f"score threshold {threshold:.6f} (untrained tiny YOLOv3)"
            )
            plain = args.images / launch("plain", 1, folder, threshold, args.batch)
            print(f"  plain tf.data + Keras loop, 1 process  {plain:8.1f} images/s")
            result[f"plain_{size}_per_s"] = f"{plain:.2f}"
            rate = {}
            for k in ranks:
                rate[k] = args.images / launch("clusterhpc", k, folder, threshold, args.batch)
                print(
                    f"  clusterhpc detect, mpirun -np {k}       {rate[k]:8.1f} images/s  "
                    f"x{rate[k] / plain:.2f} the plain loop"
                )
                result[f"clusterhpc_{size}_{k}rank_per_s"] = f"{rate[k]:.2f}"
                result[f"clusterhpc_{size}_{k}rank_vs_plain_ratio"] = f"{rate[k] / plain:.3f}"
            if 1 in rate and 2 in rate:
                print(f"  2 ranks / 1 rank: x{rate[2] / rate[1]:.2f}")
                result[f"clusterhpc_{size}_scaling_ratio"] = f"{rate[2] / rate[1]:.3f}"
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
