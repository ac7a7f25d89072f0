"""The YOLO detector as a trainer task: packed images -> letterboxed batches -> YOLO loss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from clusterhpc.box_geometry import clip, xyxy_to_xywh
from clusterhpc.config import Config
from clusterhpc.data.augment_tf import model_input, pixel_fields
from clusterhpc.data.packed import PackedSplit
from clusterhpc.keras_compat import import_keras
from clusterhpc.models.anchors import read_anchors
from clusterhpc.models.yolo import build_yolo
from clusterhpc.models.yolo_loss import LossSettings, yolo_loss
from clusterhpc.models.yolo_setup import box_extra_targets, yolo_spec
from clusterhpc.models.yolo_targets import encode_targets, label_width
from clusterhpc.paths import anchors_path
from clusterhpc.train.packed_task import PackedCutoutTask


class YoloTask(PackedCutoutTask):
    name = "yolo"

    def __init__(self, cfg: Config, packed: str | Path | None = None) -> None:
        super().__init__(cfg, packed)
        self.spec = yolo_spec(cfg)
        self.input_size = self.spec.input_size
        self.max_boxes = cfg.model.max_boxes
        self.anchors = read_anchors(anchors_path(cfg)) * cfg.model.input_size
        self.settings = LossSettings(cfg.model.ignore_iou, cfg.model.label_smoothing)

    def build_model(self):
        return build_yolo(self.spec)

    def encode(self, split: PackedSplit, batch: dict) -> dict:
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
            **pixel_fields(batch),
            "labels": tuple(outputs[:3]),
            "true_boxes": outputs[3],
            "ignore_boxes": outputs[4],
        }

    def loss(self, model, batch, training: bool) -> dict:
        outputs = model(model_input(batch), training=training)
        return yolo_loss(
            outputs,
            list(batch["labels"]),
            batch["true_boxes"],
            self.anchors,
            self.spec,
            self.settings,
            ignore_boxes=batch["ignore_boxes"],
        )

    def input_identity(self) -> dict[str, Any]:
        return {**super().input_identity(), "model.anchor_values": self.anchors.tolist()}

    def inference_extras(self) -> dict[str, Any]:
        return {"anchors": (self.anchors / self.spec.input_size).tolist()}
