"""A trained CNN run as a classifier: its config, its weights, batched probabilities and z.

As for the detector, the model comes from the run's resolved `config.yaml` and its weights,
and images are fed as in training (uint8 / 255, letterboxed to the input size).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from clusterhpc.config import Config
from clusterhpc.errors import DataError
from clusterhpc.hpc.gpu import pin_local_gpu
from clusterhpc.keras_compat import import_keras
from clusterhpc.models import inference_record
from clusterhpc.models.cnn import build_cnn, cnn_spec
from clusterhpc.models.cnn_loss import split_outputs
from clusterhpc.models.yolo_inference import load_weights


@dataclasses.dataclass(frozen=True)
class Scores:
    """Per-image classifier outputs; z and σ are NaN without a redshift head."""

    prob: np.ndarray
    z: np.ndarray
    sigma: np.ndarray


class Classifier:
    """Batched inference of a trained CNN run."""

    def __init__(self, train_cfg: Config, run: Path, checkpoint: str = "final") -> None:
        tf, _ = import_keras()
        pin_local_gpu()
        self.spec = dataclasses.replace(cnn_spec(train_cfg), sync_batchnorm=False)
        record = inference_record.read(run)
        if record.get("input_size", self.spec.input_size) != self.spec.input_size:
            raise DataError(
                f"{run / inference_record.NAME}: input_size {record['input_size']}, but the "
                f"run's config.yaml has model.input_size {self.spec.input_size}"
            )
        self.run = Path(run)
        self.model = build_cnn(self.spec)
        self.weights = load_weights(self.model, run, checkpoint)
        model = self.model
        self._forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    @property
    def input_size(self) -> int:
        return self.spec.input_size

    def score(self, batch: np.ndarray) -> Scores:
        """Probability of a cluster, z and σ_z of a (B, S, S, 3) batch in [0, 1]."""
        tf, _ = import_keras()
        logit, z, log_sigma = split_outputs(self._forward(batch))
        prob = tf.sigmoid(logit).numpy().astype(np.float64)
        if z is None:
            nan = np.full(len(prob), np.nan)
            return Scores(prob, nan, nan.copy())
        return Scores(prob, z.numpy().astype(np.float64), np.exp(log_sigma.numpy()))

    def score_images(self, images: list[np.ndarray]) -> Scores:
        """Scores of uint8 images of any size (letterboxed as in training)."""
        from clusterhpc.data.tf_datasets import letterbox_image

        return self.score(np.stack([letterbox_image(im, self.input_size) for im in images]))
