"""The catalogue models (`model.kind: sets` or `mlp`) as a trainer task over member-set shards.

Every rank holds the (small) training split in memory. An epoch is a seeded permutation of
its sets, cut into global batches of `train.batch_size` x ranks, of which each rank takes its
slice, so 2 ranks see exactly the batches 1 rank sees with the doubled batch; with
`model.sets.rotate` every set is turned by its own random rotation of the sphere, drawn from
(seed, epoch). A resumed epoch replays the same permutation and rotations. Each example's
`key` (its index in the split and the epoch) seeds the π-SGD subsets, so they do not depend
on the rank either. Without a `detect` target only member sets are used; with it, the
non-member sets join as negatives and the regression targets are scored on member sets only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from clusterhpc.config import Config
from clusterhpc.data.set_encoder import MODEL_INPUTS, SetEncoder, training_keys, usable_sets
from clusterhpc.data.set_features import random_rotations, rotate_sets
from clusterhpc.errors import DataError
from clusterhpc.io.set_shards import MemberSets, read_index, read_split, split_fingerprint
from clusterhpc.log import get_logger
from clusterhpc.models.set_loss import output_width, set_loss
from clusterhpc.models.sets import build_set_model, set_model_spec
from clusterhpc.paths import sets_dir

log = get_logger("train")
EPOCH_STREAM = 102  # permutation and rotations of an epoch
LEAKS = {
    "lnlam": "lambda = sum(P * P_FREE)",
    "lnmass": "lambda = sum(P * P_FREE), and the mass follows lambda",
    "detect": "non-members have P = 0",
}


class SetsTask:
    """Trainer task of the set networks and the catalogue MLPs."""

    def __init__(self, cfg: Config, root: str | Path | None = None) -> None:
        self.cfg = cfg
        self.name = cfg.model.kind
        self.root = Path(root) if root else sets_dir(cfg)
        targets = list(cfg.model.sets.targets)
        if not targets:
            raise DataError("model.sets.targets is empty: name at least one target")
        for target in targets:
            if cfg.model.sets.use_p and target in LEAKS:
                log.warning(
                    "model.sets.use_p is true with target %s: P leaks it (%s)",
                    target,
                    LEAKS[target],
                )
        self.train = usable_sets(read_split(self.root, "train"), targets)
        has_valid = read_index(self.root)["splits"].get("valid", {}).get("n_sets", 0) > 0
        self.valid = usable_sets(read_split(self.root, "valid"), targets) if has_valid else None
        self.encoder = SetEncoder(cfg.model.sets, self.train)
        self._fixed: dict[str, tuple] = {}

    def build_model(self):
        spec = set_model_spec(self.cfg, len(self.encoder.names), output_width(self.encoder.targets))
        return build_set_model(spec)

    def steps_per_epoch(self, n_ranks: int) -> int:
        return len(self.train) // (self.cfg.train.batch_size * n_ranks)

    def _epoch_data(self, sets: MemberSets, epoch: int, rotate: bool) -> tuple:
        """Features, offsets and targets of `sets` in `epoch` (rotated when asked)."""
        if rotate:
            rng = np.random.default_rng([self.cfg.seed, EPOCH_STREAM, epoch])
            rng.permutation(len(sets))  # the permutation comes first from this stream
            sets = rotate_sets(sets, random_rotations(len(sets), rng))
        return (*self.encoder.inputs(sets), self.encoder.targets_of(sets))

    def _unrotated(self, name: str, sets: MemberSets) -> tuple:
        """A split's inputs as stored, computed once."""
        if name not in self._fixed:
            self._fixed[name] = self._epoch_data(sets, 0, rotate=False)
        return self._fixed[name]

    def _batches(
        self, data: tuple, order: np.ndarray, start: int, rank: int, n_ranks: int, epoch: int
    ) -> Iterator[dict[str, np.ndarray]]:
        per_rank = self.cfg.train.batch_size
        step_size = per_rank * n_ranks
        keys = training_keys(len(order), epoch)
        for step in range(start, len(order) // step_size):
            first = step * step_size + rank * per_rank
            yield self.encoder.batch(*data, order[first : first + per_rank], keys)

    def train_batches(self, epoch: int, start_step: int, rank: int, n_ranks: int):
        order = np.random.default_rng([self.cfg.seed, EPOCH_STREAM, epoch]).permutation(
            len(self.train)
        )
        if self.cfg.model.sets.rotate:
            data = self._epoch_data(self.train, epoch, rotate=True)
        else:
            data = self._unrotated("train", self.train)
        return self._batches(data, order, start_step, rank, n_ranks, epoch)

    def valid_batches(self, rank: int, n_ranks: int):
        if self.valid is None or len(self.valid) < self.cfg.train.batch_size * n_ranks:
            return None
        data = self._unrotated("valid", self.valid)
        return self._batches(data, np.arange(len(self.valid)), 0, rank, n_ranks, 0)

    def loss(self, model, batch, training: bool) -> dict:
        inputs = {k: batch[k] for k in MODEL_INPUTS}
        return set_loss(model(inputs, training=training), batch, self.encoder.targets)

    def batch_size(self, batch) -> int:
        return int(batch["x"].shape[0])

    def input_identity(self) -> dict[str, Any]:
        return {"data.train_sets": split_fingerprint(self.root, "train")}

    def inference_values(self) -> dict[str, Any]:
        return {**self.encoder.record(), "train_sets": split_fingerprint(self.root, "train")}
