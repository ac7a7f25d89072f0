"""What a model family gives the generic trainer: model, data per epoch, loss."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol


class Task(Protocol):
    """A trainable model family (YOLO detector, CNN classifier, catalogue MLP, set network)."""

    name: str

    def build_model(self) -> Any:
        """A fresh Keras model (weights are then broadcast from rank 0 or restored)."""

    def steps_per_epoch(self, n_ranks: int) -> int:
        """Optimizer steps per epoch with `n_ranks` ranks (equal on every rank)."""

    def train_batches(self, epoch: int, start_step: int, rank: int, n_ranks: int) -> Iterable[Any]:
        """This rank's training batches of `epoch`, from step `start_step` on (deterministic)."""

    def valid_batches(self, rank: int, n_ranks: int) -> Iterable[Any] | None:
        """This rank's validation batches (same count on every rank), or None."""

    def loss(self, model: Any, batch: Any, training: bool) -> dict[str, Any]:
        """Loss terms as scalars, including 'total' (weight decay is added by the trainer)."""

    def batch_size(self, batch: Any) -> int:
        """Examples in a batch (for throughput)."""

    def input_identity(self) -> dict[str, Any]:
        """The training inputs by content (JSON values), for `train.identity`."""

    def inference_values(self) -> dict[str, Any]:
        """What inference needs besides config and weights (JSON values), for
        `models.inference_record`."""
