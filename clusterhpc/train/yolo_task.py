"""The YOLO detector as a trainer task: packed images -> letterboxed batches -> YOLO loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clusterhpc.boxes import clip, xyxy_to_xywh
from clusterhpc.config import Config
from clusterhpc.data.packed import PackedSplit, split_fingerprint
from clusterhpc.data.pipeline import detection_dataset
from clusterhpc.keras_compat import import_keras
from clusterhpc.models import inference_record
from clusterhpc.models.anchors import read_anchors
from clusterhpc.models.yolo import build_yolo
from clusterhpc.models.yolo_loss import LossSettings, yolo_loss
from clusterhpc.models.yolo_setup import box_extra_targets, yolo_spec
from clusterhpc.models.yolo_targets import encode_targets, label_width
from clusterhpc.paths import anchors_path, packed_dir


class YoloTask:
    name = "yolo"

    def __init__(self, cfg: Config, packed: str | Path | None = None) -> None:
        self.cfg = cfg
        self.spec = yolo_spec(cfg)
        self.anchors = read_anchors(anchors_path(cfg)) * cfg.model.input_size
        root = Path(packed) if packed else packed_dir(cfg)
        self.train_split = PackedSplit(root, "train")
        self.valid_split = PackedSplit(root, "valid") if self._has_split(root, "valid") else None
        self.settings = LossSettings(cfg.model.ignore_iou, cfg.model.label_smoothing)

    @staticmethod
    def _has_split(root: Path, split: str) -> bool:
        from clusterhpc.data.packed import read_index

        return read_index(root)["splits"].get(split, {}).get("n_images", 0) > 0

    def build_model(self):
        return build_yolo(self.spec)

    def steps_per_epoch(self, n_ranks: int) -> int:
        return len(self.train_split) // (self.cfg.train.batch_size * n_ranks)

    def _encode(self, batch: dict) -> dict:
        """Batch -> images, YOLO label maps per scale, and the true boxes and ignore regions
        (xywh of their in-image parts, zero rows for padding) per image."""
        tf, _ = import_keras()
        cfg, spec, anchors = self.cfg, self.spec, self.anchors

        def encode(boxes, counts, weight, z, lam, ignore):
            labels = [[], [], []]
            xywh = np.zeros_like(boxes)
            for row, n in enumerate(counts):
                extra = box_extra_targets(cfg, z[row, :n], lam[row, :n])
                maps = encode_targets(
                    boxes[row, :n],
                    weight[row, :n],
                    extra,
                    anchors,
                    spec.input_size,
                    cfg.model.positive_iou,
                )
                for scale, label in enumerate(maps):
                    labels[scale].append(label)
                # the in-image parts, as in the label maps (for the loss's ignore test)
                visible = clip(boxes[row, :n], spec.input_size, spec.input_size)
                xywh[row, :n] = xyxy_to_xywh(visible)
            regions = xyxy_to_xywh(clip(ignore.reshape(-1, 4), spec.input_size, spec.input_size))
            regions = regions.reshape(ignore.shape).astype(np.float32)
            return (*(np.stack(maps) for maps in labels), xywh, regions)

        outputs = tf.numpy_function(
            encode,
            [
                batch["boxes"],
                batch["n_boxes"],
                batch["weight"],
                batch["z"],
                batch["lam"],
                batch["ignore"],
            ],
            [tf.float32] * 5,
            stateful=False,
        )
        width = label_width(spec.n_targets)
        for label, grid in zip(outputs[:3], spec.grid_sizes(), strict=True):
            label.set_shape((None, grid, grid, 3, width))
        outputs[3].set_shape(batch["boxes"].shape)
        outputs[4].set_shape(batch["ignore"].shape)
        return {
            "image": batch["image"],
            "labels": tuple(outputs[:3]),
            "true_boxes": outputs[3],
            "ignore_boxes": outputs[4],
        }

    def _batches(
        self, split: PackedSplit, epoch: int, start: int, rank: int, n_ranks: int, augment: bool
    ):
        t = self.cfg.train
        plan = split.epoch_plan(
            self.cfg.seed,
            epoch,
            rank,
            n_ranks,
            t.batch_size,
            shuffle=True,  # valid too: a capped validation is then a random subset
            aug_prob=t.augment_prob if augment else 0.0,
            max_shift=t.augment_shift if augment else 0.0,
        )
        return detection_dataset(
            split,
            plan,
            input_size=self.spec.input_size,
            batch_size=t.batch_size,
            max_boxes=self.cfg.model.max_boxes,
            start_batch=start,
            encode=self._encode,
        )

    def train_batches(self, epoch: int, start_step: int, rank: int, n_ranks: int):
        return self._batches(self.train_split, epoch, start_step, rank, n_ranks, augment=True)

    def valid_batches(self, rank: int, n_ranks: int):
        if self.valid_split is None or len(self.valid_split) < self.cfg.train.batch_size * n_ranks:
            return None
        return self._batches(self.valid_split, 0, 0, rank, n_ranks, augment=False)

    def loss(self, model, batch, training: bool) -> dict:
        outputs = model(batch["image"], training=training)
        return yolo_loss(
            outputs,
            list(batch["labels"]),
            batch["true_boxes"],
            self.anchors,
            self.spec,
            self.settings,
            ignore_boxes=batch["ignore_boxes"],
        )

    def batch_size(self, batch) -> int:
        return int(batch["image"].shape[0])

    def input_identity(self) -> dict:
        digest = split_fingerprint(self.train_split.packed_dir, "train")
        return {"data.train_shards": digest, "model.anchor_values": self.anchors.tolist()}

    def inference_values(self) -> dict:
        return {
            "input_size": self.spec.input_size,
            "normalisation": inference_record.NORMALISATION,
            "anchors": (self.anchors / self.spec.input_size).tolist(),
            "train_shards": split_fingerprint(self.train_split.packed_dir, "train"),
        }
