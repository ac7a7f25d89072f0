"""A trained YOLO run as a detector: its config, its weights, batched inference + NMS.

The model shape comes from the run's resolved `config.yaml` and the anchors from its
`inference.json` (what it was trained with), not from the config the caller evaluates with
nor from the survey's prep files, so a run can score any survey from its directory alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from clusterhpc.config import Config, load_config
from clusterhpc.errors import DataError
from clusterhpc.hpc.gpu import pin_local_gpu
from clusterhpc.keras_compat import import_keras
from clusterhpc.log import get_logger
from clusterhpc.models import inference_record
from clusterhpc.models.anchors import read_anchors
from clusterhpc.models.yolo import build_yolo
from clusterhpc.models.yolo_postprocess import Detections, postprocess

log = get_logger("inference")


def trained_config(run: Path, fallback: Config) -> Config:
    """The run's resolved training config, or `fallback` when the run has none."""
    path = run / "config.yaml"
    if path.exists():
        return load_config(path)
    log.warning("%s: no resolved training config; using the given config's model", path)
    return fallback


def resolve_weights(run: Path, checkpoint: str) -> str:
    """'final' (final.weights.h5, else the latest checkpoint), 'latest' or a path."""
    tf, _ = import_keras()
    final = Path(run) / "final.weights.h5"
    if checkpoint == "final" and final.exists():
        return str(final)
    if checkpoint in ("final", "latest"):
        path = tf.train.latest_checkpoint(str(Path(run) / "checkpoints"))
        if path is None:
            raise DataError(f"{run}: no final.weights.h5 and no checkpoint in checkpoints/")
        return path
    if checkpoint.endswith(".h5") and not Path(checkpoint).exists():
        raise DataError(f"evaluate.checkpoint = {checkpoint}: no such weights file")
    return checkpoint


def load_weights(model, run: Path, checkpoint: str) -> str:
    """Load the weights `resolve_weights` names; returns their path."""
    tf, _ = import_keras()
    path = resolve_weights(run, checkpoint)
    if path.endswith(".h5"):
        model.load_weights(path)
    else:
        try:
            tf.train.Checkpoint(model=model).restore(str(path)).expect_partial()
        except (tf.errors.NotFoundError, ValueError) as exc:
            raise DataError(f"checkpoint {path}: cannot restore the model ({exc})") from exc
    return str(path)


def run_anchors(run: Path, train_cfg: Config, input_size: int) -> np.ndarray:
    """(9, 2) anchors as fractions of the input side, from the run's `inference.json` (whose
    input size and pixel normalisation must be what inference feeds); runs without one fall
    back to the anchors file of the training config (`model.anchors`)."""
    from clusterhpc.paths import anchors_path

    record = inference_record.read(run)
    if "anchors" not in record:
        path = anchors_path(train_cfg)
        log.warning("%s: no %s; reading the anchors from %s", run, inference_record.NAME, path)
        return read_anchors(path)
    if record.get("input_size") != input_size:
        raise DataError(
            f"{run / inference_record.NAME}: input_size {record.get('input_size')}, but the run's "
            f"config.yaml has model.input_size {input_size}"
        )
    expected = inference_record.NORMALISATION
    if record.get("normalisation", expected) != expected:
        raise DataError(
            f"{run / inference_record.NAME}: trained on pixels normalised as "
            f"{record['normalisation']!r}; this clusterhpc feeds {expected!r}"
        )
    return np.asarray(record["anchors"], np.float64).reshape(-1, 2)


class Detector:
    """Batched inference of a trained run on letterboxed images, then NMS per image."""

    def __init__(
        self,
        train_cfg: Config,
        run: Path,
        checkpoint: str = "final",
        *,
        score_threshold: float = 0.01,
        nms_iou: float = 0.45,
        nms_method: str = "nms",
        nms_sigma: float = 0.3,
    ) -> None:
        from clusterhpc.models.yolo_setup import yolo_spec

        tf, _ = import_keras()
        pin_local_gpu()  # every rank of evaluate and detect on its own GPU, as in training
        # Inference (and batch-norm recalibration) works per rank: no synchronised statistics.
        self.spec = dataclasses.replace(yolo_spec(train_cfg), sync_batchnorm=False)
        self.anchors = run_anchors(run, train_cfg, self.spec.input_size) * self.spec.input_size
        self.value_names = (
            tuple(train_cfg.model.regression) if self.spec.head == "regression" else ()
        )
        self.run = Path(run)
        self.model = build_yolo(self.spec)
        self.weights = load_weights(self.model, run, checkpoint)
        self.settings = {
            "score_threshold": score_threshold,
            "iou_threshold": nms_iou,
            "method": nms_method,
            "sigma": nms_sigma,
        }
        model = self.model
        self._forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    @property
    def input_size(self) -> int:
        return self.spec.input_size

    def letterbox(self, image: np.ndarray) -> np.ndarray:
        """uint8 (H, W, 3) -> float (S, S, 3) in [0, 1], as the training pipeline does."""
        from clusterhpc.data.tf_datasets import letterbox_image

        return letterbox_image(image, self.input_size)

    def recalibrate_batchnorm(self, batches: Sequence[np.ndarray]) -> int:
        """Re-estimate batch-norm moving statistics as the mean over letterboxed batches.

        ("Precise BN"): after short trainings the momentum-0.99 moving averages still carry
        their initial values, and inference-mode outputs collapse. Returns layers updated."""
        layers = [layer for layer in self.model.layers if hasattr(layer, "moving_mean")]
        momenta = [layer.momentum for layer in layers]
        try:
            for k, batch in enumerate(batches):
                for layer in layers:
                    layer.momentum = k / (k + 1.0)  # running mean of the batch statistics
                self.model(batch, training=True)
        finally:
            for layer, momentum in zip(layers, momenta, strict=True):
                layer.momentum = momentum
        return len(layers)

    def detect_letterboxed(
        self, batch: np.ndarray, shapes: Sequence[tuple[int, int]]
    ) -> list[Detections]:
        """Detections per image of a (B, S, S, 3) batch; boxes in each original image's px.

        Regression values are what the head predicts: z, and ln λ for 'lam'."""
        outputs = [np.asarray(o) for o in self._forward(batch)]
        return [
            postprocess([o[b] for o in outputs], self.anchors, self.spec, shape, **self.settings)
            for b, shape in enumerate(shapes)
        ]

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detections of uint8 images of any sizes (letterboxed in one call when all have one)."""
        if not images:
            return []
        from clusterhpc.data.tf_datasets import letterbox_batch

        if len({im.shape for im in images}) == 1:
            batch = letterbox_batch(np.stack(images), self.input_size)
        else:
            batch = np.stack([self.letterbox(im) for im in images])
        return self.detect_letterboxed(batch, [im.shape[:2] for im in images])


def recalibrate_on_training_images(
    detector: Detector, train_cfg: Config, n_images: int, batch: int, cfg: Config | None = None
) -> None:
    """Precise-BN statistics from the first `n_images` of the run's training split: read from
    `cfg`'s survey when it holds the run's training shards (by content), else from where the
    run was trained."""
    from clusterhpc.data.packed import PackedSplit
    from clusterhpc.paths import packed_dir, trained_packed_dir

    packed = trained_packed_dir(train_cfg)
    if cfg is not None and inference_record.trained_on(detector.run, packed_dir(cfg)):
        packed = packed_dir(cfg)
    split = PackedSplit(packed, "train")
    n = min(n_images, len(split))
    images = [detector.letterbox(split.item(i).image) for i in range(n)]
    batches = [np.stack(images[i : i + batch]) for i in range(0, n, batch)]
    layers = detector.recalibrate_batchnorm(batches)
    log.info("re-estimated %d batch-norm layers on %d training images", layers, n)
