"""The CNN classifier as a trainer task: packed cutouts -> (image, is-cluster, z) batches.

The packed shards' splits are used as they are (sky-disjoint, as for the detector). An image
is a positive when it is a cluster cutout and a negative when it is an empty field (random
sky away from clusters). Labels come from the shards' own metadata, looked up by each
image's index in the batch, so they cannot be separated from their pixels by shuffling.
Classes are balanced by example weights N / (2 N_class) of the training split (no image is
dropped); the same weights apply to the validation loss. Images are flipped, transposed and
translated with blank fill (never wrapped) by the detector's reader (`data.pipeline`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clusterhpc.config import Config
from clusterhpc.data.augment_tf import model_input, pixel_fields
from clusterhpc.data.classes import class_weights, split_labels
from clusterhpc.data.packed import PackedSplit
from clusterhpc.keras_compat import import_keras
from clusterhpc.models.cnn import build_cnn, cnn_spec
from clusterhpc.models.cnn_loss import cnn_loss
from clusterhpc.train.packed_task import PackedCutoutTask


class CnnTask(PackedCutoutTask):
    name = "cnn"
    max_boxes = 1

    def __init__(self, cfg: Config, packed: str | Path | None = None) -> None:
        super().__init__(cfg, packed)
        self.spec = cnn_spec(cfg)
        self.input_size = self.spec.input_size
        label, _ = split_labels(self.train_split)
        where = f"{self.train_split.packed_dir} (train)"
        self.weights = class_weights(label, where) if cfg.model.cnn.balance else (1.0, 1.0)
        self._tables = {
            s.split: self._label_table(s)
            for s in (self.train_split, self.valid_split)
            if s is not None
        }

    def build_model(self):
        return build_cnn(self.spec)

    def _label_table(self, split: PackedSplit) -> np.ndarray:
        """(label, z, weight) per image of `split`, rows indexed by image index (a numpy
        array, so that every traced input pipeline embeds its own constant)."""
        label, z = split_labels(split)
        weight = np.where(label > 0, self.weights[1], self.weights[0]).astype(np.float32)
        return np.stack([label, z, weight], 1).astype(np.float32)

    def encode(self, split: PackedSplit, batch: dict) -> dict:
        tf, _ = import_keras()
        rows = tf.gather(self._tables[split.split], batch["index"])
        return {
            **pixel_fields(batch),
            "label": rows[:, 0],
            "z": rows[:, 1],
            "weight": rows[:, 2],
            "index": batch["index"],
        }

    def loss(self, model, batch, training: bool) -> dict:
        outputs = model(model_input(batch), training=training)
        return cnn_loss(outputs, batch["label"], batch["weight"], batch["z"])
