"""What every model family on packed cutouts shares: the splits, epoch plans and batches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clusterhpc.config import Config
from clusterhpc.data.packed import PackedSplit, read_index, split_fingerprint
from clusterhpc.data.tf_datasets import detection_dataset
from clusterhpc.keras_compat import import_keras
from clusterhpc.models import inference_record
from clusterhpc.paths import packed_dir


class PackedCutoutTask:
    """Base of the trainer tasks that read `prep pack` shards (detector and classifier).

    Subclasses set `name`, `input_size` and `max_boxes`, and give `encode` (a packed batch
    to the loss's inputs), `build_model`, `loss` and `inference_extras`.
    """

    name: str
    input_size: int
    max_boxes: int

    def __init__(self, cfg: Config, packed: str | Path | None = None) -> None:
        self.cfg = cfg
        root = Path(packed) if packed else packed_dir(cfg)
        self.train_split = PackedSplit(root, "train")
        has_valid = read_index(root)["splits"].get("valid", {}).get("n_images", 0) > 0
        self.valid_split = PackedSplit(root, "valid") if has_valid else None

    def encode(self, split: PackedSplit, batch: dict) -> dict:
        raise NotImplementedError

    def steps_per_epoch(self, n_ranks: int) -> int:
        return len(self.train_split) // (self.cfg.train.batch_size * n_ranks)

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
            read_run=t.read_run,
            shuffle_buffer=t.shuffle_buffer,
        )
        return detection_dataset(
            split,
            plan,
            input_size=self.input_size,
            batch_size=t.batch_size,
            max_boxes=self.max_boxes,
            start_batch=start,
            encode=lambda batch: self.encode(split, batch),
            on_device=augment_on_device(t.augment_on),
        )

    def train_batches(self, epoch: int, start_step: int, rank: int, n_ranks: int):
        return self._batches(self.train_split, epoch, start_step, rank, n_ranks, augment=True)

    def valid_batches(self, rank: int, n_ranks: int):
        if self.valid_split is None or len(self.valid_split) < self.cfg.train.batch_size * n_ranks:
            return None
        return self._batches(self.valid_split, 0, 0, rank, n_ranks, augment=False)

    def batch_size(self, batch) -> int:
        return int(batch["image"].shape[0])

    def train_fingerprint(self) -> str:
        return split_fingerprint(self.train_split.packed_dir, "train")

    def input_identity(self) -> dict[str, Any]:
        return {"data.train_shards": self.train_fingerprint()}

    def inference_extras(self) -> dict[str, Any]:
        """What this family's inference needs besides the common values."""
        return {}

    def inference_values(self) -> dict[str, Any]:
        return {
            "input_size": self.input_size,
            "normalisation": inference_record.NORMALISATION,
            "train_shards": self.train_fingerprint(),
            **self.inference_extras(),
        }


def augment_on_device(setting: str) -> bool:
    """`train.augment_on`: whether the training step applies the flips and translations."""
    if setting != "auto":
        return setting == "device"
    tf, _ = import_keras()
    return bool(tf.config.list_physical_devices("GPU"))
