"""Input pipeline throughput: per-file JPEG decoding (the seed's way) vs packed HDF5 + tf.data.

    python benchmarks/loader.py [--images 512] [--size 256] [--input 256] [--batch 8]

In one run, on the same synthetic cutouts (noise + a bright box, saved as JPEG quality 95):
(a) the seed's loader: a Python loop that opens every JPEG, decodes it, letterboxes it to the
    network input, moves the boxes and encodes the YOLO targets, then stacks batches;
(b) the packed pipeline: `prep pack` shards (no compression, LZ4, gzip) read by
    `detection_dataset` with the same augmentation, letterbox and target encoding;
(c) what the quickstart's tiny YOLO consumes: images/s of one training step on this CPU.
Prints images/s, the shard sizes, and ends with a RESULT line.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clusterhpc.data.packed import PackedSplit  # noqa: E402
from clusterhpc.data.tf_datasets import detection_dataset  # noqa: E402
from clusterhpc.models.anchors import kmeans_anchors  # noqa: E402
from clusterhpc.models.yolo import YoloSpec, build_yolo  # noqa: E402
from clusterhpc.models.yolo_loss import yolo_loss  # noqa: E402
from clusterhpc.models.yolo_targets import encode_targets, label_width  # noqa: E402
from clusterhpc.prep.pack import ImageEntry, pack_shard, plan_shards, write_index  # noqa: E402


def make_jpegs(folder: Path, n: int, size: int) -> list[ImageEntry]:
    rng = np.random.default_rng(0)
    entries = []
    for i in range(n):
        image = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
        x1, y1 = rng.integers(0, size // 2, 2)
        w, h = rng.integers(size // 8, size // 2, 2)
        image[y1 : y1 + h, x1 : x1 + w, 0] = 240
        path = folder / f"{i}.jpeg"
        Image.fromarray(image).save(path, quality=95)
        entries.append(
            ImageEntry(
                path=path.name,
                boxes=np.array([[x1, y1, x1 + w, y1 + h]], np.float32),
                box_fields={
                    "weight": [1.0],
                    "cls": [0],
                    "z": [0.3],
                    "lam": [30.0],
                    "cluster_id": [i],
                    "central": [True],
                },
                meta={
                    "id": i,
                    "ra": 0.0,
                    "dec": 0.0,
                    "z": 0.3,
                    "lam": 30.0,
                    "empty": False,
                    "pixscale": 3.17,
                },
            )
        )
    return entries


def seed_loader(
    folder: Path, entries: list[ImageEntry], anchors: np.ndarray, input_size: int, batch: int
) -> float:
    """Images/s of decode + letterbox + target encoding in a Python loop, per file."""
    rng = np.random.default_rng(1)
    start = time.perf_counter()
    images = []
    for entry in entries:
        with Image.open(folder / entry.path) as img:
            rgb = img.convert("RGB")
        scale = input_size / max(rgb.size)
        resized = (
            np.asarray(
                rgb.resize(
                    (round(rgb.size[0] * scale), round(rgb.size[1] * scale)),
                    Image.Resampling.BILINEAR,
                ),
                np.float32,
            )
            / 255.0
        )
        boxes = entry.boxes * scale
        if rng.random() < 0.5:
            resized, boxes = (
                resized[:, ::-1],
                boxes[:, [2, 1, 0, 3]] * [-1, 1, -1, 1] + [input_size, 0, input_size, 0],
            )
        encode_targets(boxes, np.ones(len(boxes)), np.zeros((len(boxes), 0)), anchors, input_size)
        images.append(resized)
        if len(images) == batch:
            np.stack(images)
            images = []
    return len(entries) / (time.perf_counter() - start)


def packed_loader(split: PackedSplit, anchors: np.ndarray, input_size: int, batch: int) -> float:
    """Images/s of the tf.data pipeline over shards, targets included, after one warm-up pass."""
    from clusterhpc.keras_compat import import_keras

    tf, _ = import_keras()

    def encode(batch: dict) -> dict:
        def run(boxes, counts, weight):
            maps = [
                encode_targets(boxes[i, :n], weight[i, :n], np.zeros((n, 0)), anchors, input_size)
                for i, n in enumerate(counts)
            ]
            return tuple(np.stack(scale) for scale in zip(*maps, strict=True))

        labels = tf.numpy_function(
            run,
            [batch["boxes"], batch["n_boxes"], batch["weight"]],
            [tf.float32] * 3,
            stateful=False,
        )
        return {"image": batch["image"], "labels": tuple(labels)}

    plan = split.epoch_plan(seed=0, epoch=0, batch_size=batch, aug_prob=0.5)
    rates = []
    for _ in range(2):
        start = time.perf_counter()
        for _batch in detection_dataset(
            split, plan, input_size=input_size, batch_size=batch, max_boxes=4, encode=encode
        ):
            pass
        rates.append(len(plan.indices) / (time.perf_counter() - start))
    return rates[-1]


def training_rate(anchors: np.ndarray, input_size: int, batch: int) -> float:
    """Images/s one CPU training step of the quickstart's tiny YOLO consumes."""
    from clusterhpc.keras_compat import import_keras

    tf, keras = import_keras()
    spec = YoloSpec(input_size, backbone="tiny", width=0.25)
    model = build_yolo(spec)
    optimizer = keras.optimizers.Adam(1e-4)
    rng = np.random.default_rng(0)
    images = tf.constant(rng.random((batch, input_size, input_size, 3)), tf.float32)
    boxes = np.array([[20, 30, 90, 120]], float)
    labels = [
        tf.constant(np.repeat(lab[None], batch, 0))
        for lab in encode_targets(boxes, np.ones(1), np.zeros((1, 0)), anchors, input_size)
    ]
    true = tf.zeros((batch, 4, 4))

    @tf.function
    def step() -> None:
        with tf.GradientTape() as tape:
            loss = yolo_loss(model(images, training=True), labels, true, anchors, spec)["total"]
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))

    step()
    start, n = time.perf_counter(), 10
    for _ in range(n):
        step()
    assert label_width(0) == 6
    return n * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--size", type=int, default=256, help="cutout side (px)")
    parser.add_argument("--input", type=int, default=256, help="network input side (px)")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        entries = make_jpegs(folder, args.images, args.size)
        wh = np.concatenate([e.boxes[:, 2:] - e.boxes[:, :2] for e in entries]) / args.size
        anchors = kmeans_anchors(wh, k=9, seed=0)[0] * args.input
        seed_rate = seed_loader(folder, entries, anchors, args.input, args.batch)
        print(f"(a) per-file JPEG loop (seed):      {seed_rate:8.1f} images/s")
        rates, sizes = {}, {}
        for compression in ("none", "lz4", "gzip"):
            out = folder / f"packed-{compression}"
            settings = {"image_size": 0, "compression": compression, "member_features": []}
            results = [
                pack_shard(plan, out, folder, settings, {}, [])
                for plan in plan_shards({"train": entries}, 256)
            ]
            write_index(out, results)
            sizes[compression] = sum(p.stat().st_size for p in out.glob("*.h5")) / 2**20
            rates[compression] = packed_loader(
                PackedSplit(out, "train"), anchors, args.input, args.batch
            )
            print(
                f"(b) packed HDF5 + tf.data [{compression:>4}]: {rates[compression]:8.1f} "
                f"images/s, shards {sizes[compression]:.1f} MiB"
            )
        jpeg_mib = sum(p.stat().st_size for p in folder.glob("*.jpeg")) / 2**20
        print(f"    JPEG files: {jpeg_mib:.1f} MiB")
        consume = training_rate(anchors, args.input, args.batch)
        print(
            f"(c) tiny YOLO training step consumes {consume:8.1f} images/s "
            f"(input {args.input}, batch {args.batch})"
        )
    best = max(rates, key=rates.get)
    print(
        f"RESULT seed_images_per_s={seed_rate:.1f} packed_images_per_s={rates['none']:.1f} "
        f"packed_lz4_images_per_s={rates['lz4']:.1f} packed_gzip_images_per_s={rates['gzip']:.1f}"
        f" train_images_per_s={consume:.1f} speedup_ratio={rates['none'] / seed_rate:.2f} "
        f"headroom_ratio={rates[best] / consume:.2f} lz4_size_ratio="
        f"{sizes['lz4'] / sizes['none']:.3f}"
    )


if __name__ == "__main__":
    main()
