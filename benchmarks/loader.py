"""Input pipeline: packed shards (raw and JPEG) against the fair tf.data baseline over JPEGs.

    python benchmarks/loader.py [--sizes 256,1024,2048] [--images 2048] [--batch 8]
                                [--cache warm,cold] [--modes host,device] [--train-rate]

For every cutout side, on the same synthetic sky cutouts (JPEG quality 90), images/s of:
(a) the fair baseline, what a user would write: tf.data over the JPEG files with
    `tf.io.decode_jpeg` in a parallel map (AUTOTUNE), the plan's flips and transposes
    (`tf.image` ops under `tf.cond`), batching and prefetch;
(b) `detection_dataset` over `prep pack` shards with `encoding: raw`, images drawn one by one
    (`train.read_run: 1`) and as runs of one batch (`read_run` = batch, shuffle window of 4
    batches);
(c) the same over shards with `encoding: jpeg` (the files' bytes), read as runs: in `device`
    mode the bytes are decoded by TensorFlow in the pipeline (with the DCT that gives
    Pillow's pixels), in `host` mode by Pillow while reading, before the moves.
All deliver uint8 images of the cutout's side (the input size; the training step converts
them to float on its device) with the same augmentation draws; the packed ones also deliver
the moved boxes. Two modes: `host`, the flips applied by the pipeline (both sides), and
`device`, as `clusterhpc train` does it, the pixels delivered as read with their draws and
the flips left to the training step on its GPU (both sides again); in that mode the cost of
the step's flips on this CPU is printed too. Each reader is timed after a warm-up pass (warm
page cache: the best of three passes) and over one pass after the page cache was dropped
(cold: /proc/sys/vm/drop_caches as root, else posix_fadvise(DONTNEED) on every file read).
The images per side shrink with its area (at least 96: about 1.2 GiB of raw shards at
2048 px, so that building the pipeline and its first batch weigh little). Bytes on disk are
printed per encoding. `--train-rate` adds the images/s one CPU step of the quickstart's tiny
YOLO consumes at 256 px. Ends with a RESULT line: rates,
ratios against (a) in the same run and mode, and the size ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clusterhpc.data.augment_tf import augment_on_device  # noqa: E402
from clusterhpc.data.packed import EpochPlan, PackedSplit  # noqa: E402
from clusterhpc.data.tf_datasets import detection_dataset  # noqa: E402
from clusterhpc.keras_compat import import_keras  # noqa: E402
from clusterhpc.prep.pack import ImageEntry, pack_shard, plan_shards, write_index  # noqa: E402

JPEG_QUALITY = 90
WINDOW_BATCHES = 4


def sky_cutout(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A noisy sky with a few round sources and one bright cluster-like blob, and its box."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    sky = rng.normal(25.0, 6.0, (size, size, 3)).astype(np.float32)
    for _ in range(12):
        x, y = rng.uniform(0, size, 2)
        sigma = rng.uniform(1.0, 3.0) * size / 256
        sky += (
            rng.uniform(30, 120)
            * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))[..., None]
        )
    x, y = rng.uniform(size / 4, 3 * size / 4, 2)
    half = rng.uniform(size / 16, size / 6)
    sky[..., 0] += 90 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * (half / 2) ** 2))
    box = np.array([[x - half, y - half, x + half, y + half]], np.float32)
    return np.clip(sky, 0, 255).astype(np.uint8), box


def make_survey(folder: Path, n: int, size: int) -> list[ImageEntry]:
    rng = np.random.default_rng(size)
    entries = []
    for i in range(n):
        image, box = sky_cutout(rng, size)
        path = folder / f"{i:06d}.jpeg"
        Image.fromarray(image).save(path, quality=JPEG_QUALITY)
        fields = {"weight": [1.0], "cls": [0], "z": [0.3], "lam": [30.0], "cluster_id": [i]}
        meta = {"id": i, "ra": 0.0, "dec": 0.0, "z": 0.3, "lam": 30.0, "empty": False}
        entries.append(
            ImageEntry(path.name, box, {**fields, "central": [True]}, {**meta, "pixscale": 0.4})
        )
    return entries


def pack(folder: Path, entries: list[ImageEntry], encoding: str) -> PackedSplit:
    out = folder / f"packed-{encoding}"
    settings = {"image_size": 0, "compression": "none", "encoding": encoding}
    results = [
        pack_shard(plan, out, folder, settings, {}, [])
        for plan in plan_shards({"train": entries}, 64)
    ]
    write_index(out, results)
    return PackedSplit(out, "train")


def drop_cache(files: list[Path]) -> str:
    """Evict `files` from the page cache; says how."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return "drop_caches"
    except OSError:
        for path in files:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
        return "fadvise"


def baseline_dataset(paths: list[str], plan: EpochPlan, batch: int, on_device: bool):
    """The tf.data pipeline a user writes over JPEG files, with the plan's flips (or, with
    `on_device`, with the flips left to the training step, as the packed reader does)."""
    tf, _ = import_keras()
    flips = tf.constant(plan.flips & (not on_device))

    def load(path, flip):
        image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
        image = tf.cond(flip[0], lambda: tf.image.flip_left_right(image), lambda: image)
        image = tf.cond(flip[1], lambda: tf.image.flip_up_down(image), lambda: image)
        return tf.cond(flip[2], lambda: tf.image.transpose(image), lambda: image)

    ordered = tf.constant([paths[i] for i in plan.indices])
    ds = tf.data.Dataset.from_tensor_slices((ordered, flips))
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE).batch(batch, drop_remainder=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def one_pass(make_dataset, n_images: int) -> float:
    start = time.perf_counter()
    for _ in make_dataset():
        pass
    return n_images / (time.perf_counter() - start)


def timed(make_dataset, n_images: int, cold_files: list[Path] | None) -> tuple[float, str]:
    """Images/s, and how the cache was prepared: warm (the best of three passes after a
    warm-up pass) or cold (one pass after dropping it)."""
    if cold_files is None:
        one_pass(make_dataset, n_images)
        return max(one_pass(make_dataset, n_images) for _ in range(3)), "warm-up pass, best of 3"
    how = drop_cache(cold_files)
    return one_pass(make_dataset, n_images), how


def training_rate(batch: int) -> float:
    """Images/s one CPU training step of the quickstart's tiny YOLO (256 px) consumes."""
    from clusterhpc.models.yolo import YoloSpec, build_yolo
    from clusterhpc.models.yolo_loss import yolo_loss
    from clusterhpc.models.yolo_targets import encode_targets

    tf, keras = import_keras()
    spec = YoloSpec(256, backbone="tiny", width=0.25)
    model = build_yolo(spec)
    optimizer = keras.optimizers.Adam(1e-4)
    anchors = np.array([[w, w] for w in (12, 20, 30, 44, 60, 80, 100, 130, 170)], np.float32)
    images = tf.constant(np.random.default_rng(0).random((batch, 256, 256, 3)), tf.float32)
    labels = [
        tf.constant(np.repeat(lab[None], batch, 0))
        for lab in encode_targets(
            np.array([[20, 30, 90, 120]], float), np.ones(1), np.zeros((1, 0)), anchors, 256
        )
    ]

    @tf.function
    def step() -> None:
        with tf.GradientTape() as tape:
            outputs = model(images, training=True)
            loss = yolo_loss(outputs, labels, tf.zeros((batch, 4, 4)), anchors, spec)["total"]
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))

    step()
    start, n = time.perf_counter(), 10
    for _ in range(n):
        step()
    return n * batch / (time.perf_counter() - start)


def device_flip_cost(plan: EpochPlan, size: int, batch: int) -> float:
    """Milliseconds per image that `augment_on_device` costs a training step on this CPU."""
    tf, _ = import_keras()
    images = tf.constant(
        np.random.default_rng(0).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    )
    batches = [
        (tf.constant(plan.flips[i : i + batch]), tf.constant(plan.shifts[i : i + batch], tf.int32))
        for i in range(0, len(plan.indices) - batch + 1, batch)
    ]
    step = tf.function(augment_on_device)
    step(images, *batches[0])
    start = time.perf_counter()
    for flips, shifts in batches:
        step(images, flips, shifts).numpy()
    return 1e3 * (time.perf_counter() - start) / (len(batches) * batch)


def measure_size(
    size: int, n: int, batch: int, caches: list[str], modes: list[str]
) -> dict[str, float]:
    """Every reader at one cutout side; returns RESULT fields."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(dir=os.environ.get("LOADER_BENCH_DIR")) as tmp:
        folder = Path(tmp)
        entries = make_survey(folder, n, size)
        raw, jpeg = pack(folder, entries, "raw"), pack(folder, entries, "jpeg")
        paths = [str(folder / e.path) for e in entries]
        mib = {
            "files": sum(Path(p).stat().st_size for p in paths) / 2**20,
            "raw": sum(p.stat().st_size for p in raw.packed_dir.glob("*.h5")) / 2**20,
            "jpeg": sum(p.stat().st_size for p in jpeg.packed_dir.glob("*.h5")) / 2**20,
        }
        print(
            f"{size} px, {n} images: JPEG files {mib['files']:.1f} MiB, raw shards "
            f"{mib['raw']:.1f} MiB, jpeg shards {mib['jpeg']:.1f} MiB"
        )
        flat = raw.epoch_plan(seed=0, epoch=0, batch_size=batch, aug_prob=0.5)
        runs = raw.epoch_plan(
            seed=0,
            epoch=0,
            batch_size=batch,
            aug_prob=0.5,
            read_run=batch,
            shuffle_buffer=WINDOW_BATCHES * batch,
        )
        used = len(flat.indices)
        for mode in modes:
            on_device = mode == "device"

            def packed(split: PackedSplit, plan: EpochPlan, on_device: bool = on_device):
                return lambda: detection_dataset(
                    split, plan, input_size=size, batch_size=batch, on_device=on_device
                )

            readers = {
                "baseline": (
                    lambda on_device=on_device: baseline_dataset(paths, flat, batch, on_device),
                    [Path(p) for p in paths],
                ),
                "raw_each": (packed(raw, flat), [s.path for s in raw.shards]),
                "raw_runs": (packed(raw, runs), [s.path for s in raw.shards]),
                "jpeg_runs": (packed(jpeg, runs), [s.path for s in jpeg.shards]),
            }
            for cache in caches:
                rates = {}
                for name, (make, files) in readers.items():
                    rates[name], how = timed(make, used, files if cache == "cold" else None)
                print(
                    f"  flips on {mode:6} {cache:4} ({how}): baseline {rates['baseline']:7.1f} "
                    "images/s | "
                    + " | ".join(
                        f"{name} {rate:7.1f} ({rate / rates['baseline']:.2f}x)"
                        for name, rate in rates.items()
                        if name != "baseline"
                    )
                )
                key = f"{size}_{cache}_{mode}"
                for name, rate in rates.items():
                    out[f"{name}_{key}_images_per_s"] = rate
                    if name != "baseline":
                        out[f"{name}_vs_baseline_{key}_ratio"] = rate / rates["baseline"]
        if "device" in modes:
            out[f"device_flips_{size}_ms_per_image"] = device_flip_cost(runs, size, batch)
            print(
                f"  the step's on-device flips on this CPU: "
                f"{out[f'device_flips_{size}_ms_per_image']:.3f} ms per image"
            )
        out[f"jpeg_vs_raw_bytes_{size}_ratio"] = mib["jpeg"] / mib["raw"]
        for split in (raw, jpeg):
            split.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,1024,2048", help="cutout sides (px)")
    parser.add_argument("--images", type=int, default=2048, help="images at 256 px")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--cache", default="warm,cold", help="warm, cold or both")
    parser.add_argument(
        "--modes", default="host,device", help="where the flips run: host, device or both"
    )
    parser.add_argument("--train-rate", action="store_true")
    args = parser.parse_args()
    fields: dict[str, float] = {}
    for size in (int(s) for s in args.sizes.split(",")):
        n = max(min(96, args.images), round(args.images * (256 / size) ** 2))
        n -= n % args.batch
        fields.update(
            measure_size(size, n, args.batch, args.cache.split(","), args.modes.split(","))
        )
    if args.train_rate:
        fields["train_256_images_per_s"] = training_rate(args.batch)
        print(f"tiny YOLO training step at 256 px consumes {fields['train_256_images_per_s']:.1f}")
    ratios = [v for k, v in fields.items() if k.startswith("raw_runs_vs_baseline")]
    fields["min_raw_runs_vs_baseline_ratio"] = min(ratios)
    print("RESULT " + " ".join(f"{k}={v:.3f}" for k, v in fields.items()))


if __name__ == "__main__":
    main()
