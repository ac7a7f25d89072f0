"""A trained catalogue-model run as a predictor: per-set means, σ and detection probabilities.

The model comes from the run's resolved `config.yaml` and its weights; the features, their
standardisation and the target scales from the run's `inference.json`, written by training,
so a run predicts on any catalogue from its own directory. π-SGD models draw their inference
subsets from a fixed key per set (its cluster ID and kind): a set gets the same output in any
catalogue, selection or order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clusterhpc.config import Config
from clusterhpc.data.set_encoder import MODEL_INPUTS, SetEncoder, inference_keys
from clusterhpc.errors import DataError
from clusterhpc.hpc.gpu import pin_local_gpu
from clusterhpc.hpc.mpi import Comm
from clusterhpc.io.set_shards import MemberSets
from clusterhpc.keras_compat import import_keras
from clusterhpc.log import progress
from clusterhpc.models import inference_record
from clusterhpc.models.set_loss import SetPredictions, output_width, split_outputs
from clusterhpc.models.sets import build_set_model, set_model_spec
from clusterhpc.models.yolo_inference import load_weights


class SetPredictor:
    """Batched inference of a trained `sets` or `mlp` run."""

    def __init__(self, train_cfg: Config, run: Path, checkpoint: str = "final") -> None:
        tf, _ = import_keras()
        pin_local_gpu()
        record = inference_record.read(run)
        if "feature_scale" not in record:
            raise DataError(
                f"{Path(run) / inference_record.NAME}: no feature standardisation recorded; "
                "train the catalogue model again"
            )
        self.encoder = SetEncoder.from_record(record)
        spec = set_model_spec(
            train_cfg, len(self.encoder.names), output_width(self.encoder.targets)
        )
        self.model = build_set_model(spec)
        self.weights = load_weights(self.model, run, checkpoint)
        model = self.model
        self._forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def predict(
        self, sets: MemberSets, batch_size: int, comm: Comm | None = None, draw: int = 0
    ) -> SetPredictions | None:
        """Predictions for every set (rank r of `comm` takes sets r, r + size, ...; rank 0
        gathers them and returns them in order, the other ranks return None). `draw` > 0:
        π-SGD tuples independent of draw 0's."""
        rank, size = (comm.rank, comm.size) if comm else (0, 1)
        features, offsets = self.encoder.inputs(sets)
        keys = inference_keys(sets, draw)
        mine = np.arange(rank, len(sets), size)
        chunks = []
        for first in progress(range(0, mine.size, batch_size), desc="predict", unit="batch"):
            rows = mine[first : first + batch_size]
            batch = self.encoder.batch(features, offsets, {}, rows, keys)
            inputs = {k: batch[k] for k in MODEL_INPUTS}
            chunks.append(self._forward(inputs).numpy())
        width = output_width(self.encoder.targets)
        raw = np.concatenate(chunks) if chunks else np.zeros((0, width), np.float32)
        if comm is not None and size > 1:
            parts = comm.gather((mine, raw))
            if parts is None:
                return None
            order = np.concatenate([p[0] for p in parts])
            raw = np.concatenate([p[1] for p in parts])[np.argsort(order)]
        return self._physical(raw)

    def _physical(self, raw: np.ndarray) -> SetPredictions:
        """Outputs in physical units (targets de-standardised, σ scaled likewise)."""
        tf, _ = import_keras()
        mean, sigma, prob = {}, {}, None
        for name, (mu, log_sigma) in split_outputs(tf.constant(raw), self.encoder.targets).items():
            if name == "detect":
                prob = tf.sigmoid(mu).numpy().astype(np.float64)
                continue
            scale = self.encoder.scales[name]
            value = mu.numpy().astype(np.float64) * scale.std + scale.mean
            mean[name] = value[:, 0] if value.shape[1] == 1 else value
            # centre: one scale for both axes, so its isotropic σ scales like the others
            sigma[name] = np.exp(log_sigma.numpy().astype(np.float64)) * float(scale.std[0])
        return SetPredictions(mean, sigma, prob)
