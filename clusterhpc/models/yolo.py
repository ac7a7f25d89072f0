"""YOLOv3 for galaxy clusters (Redmon & Farhadi 2018; YOLO-CL, Grishin et al. 2023).

Darknet-53 backbone (or a shallower, narrower variant for CPUs) and three detection scales at
strides 8, 16 and 32 with 3 anchors each. The network outputs raw maps of shape
(batch, G, G, 3, 5 + extra) per scale, ordered small to large stride; decoding, loss and
post-processing live in `yolo_loss` and `yolo_postprocess`. `extra` depends on the head:

- `no_class`: 0 (objectness only; the loss weights boxes by their in-image area fraction),
- `class`: one logit per class (e.g. redshift bins),
- `regression`: a mean and a log-σ per regression target (Gaussian likelihood).
"""

from __future__ import annotations

from dataclasses import dataclass

from clusterhpc.hpc.env import rank_info
from clusterhpc.keras_compat import import_keras

STRIDES = (8, 16, 32)
ANCHORS_PER_SCALE = 3
# Residual blocks per backbone stage (strides 2, 4, 8, 16, 32).
BACKBONE_DEPTHS = {"darknet53": (1, 2, 8, 8, 4), "tiny": (1, 1, 1, 1, 1)}


@dataclass(frozen=True)
class YoloSpec:
    """What the network looks like; everything the trainer and post-processing need."""

    input_size: int
    head: str = "no_class"  # no_class | class | regression
    n_classes: int = 1
    n_regression: int = 1
    backbone: str = "darknet53"
    width: float = 1.0  # channel multiplier (1.0 = Darknet-53's 32..1024 channels)
    weight_decay: float = 5e-4
    leaky_alpha: float = 0.1
    sync_batchnorm: bool = True  # batch statistics over all Horovod ranks, not per rank
    bn_momentum: float = 0.99  # moving-average momentum of the batch-norm statistics

    @property
    def n_extra(self) -> int:
        return {"no_class": 0, "class": self.n_classes, "regression": 2 * self.n_regression}[
            self.head
        ]

    @property
    def n_targets(self) -> int:
        """Extra per-box training targets: classes (one-hot) or regression values."""
        return {"no_class": 0, "class": self.n_classes, "regression": self.n_regression}[self.head]

    @property
    def channels_per_anchor(self) -> int:
        return 5 + self.n_extra

    def grid_sizes(self) -> tuple[int, ...]:
        return tuple(self.input_size // s for s in STRIDES)


def _conv(x, filters: int, kernel: int, spec: YoloSpec, downsample: bool = False):
    _, keras = import_keras()
    layers = keras.layers
    if downsample:
        x = layers.ZeroPadding2D(((1, 0), (1, 0)))(x)
    x = layers.Conv2D(
        filters,
        kernel,
        strides=2 if downsample else 1,
        padding="valid" if downsample else "same",
        use_bias=False,
        kernel_regularizer=keras.regularizers.l2(spec.weight_decay),
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
    )(x)
    x = _batch_norm(spec)(x)
    return layers.LeakyReLU(alpha=spec.leaky_alpha)(x)


def _batch_norm(spec: YoloSpec):
    """Batch normalisation; synchronised across ranks under Horovod so that N ranks with batch
    b compute exactly what one rank with batch N*b computes (small per-GPU batches)."""
    _, keras = import_keras()
    if spec.sync_batchnorm and rank_info().distributed:
        from clusterhpc.models.sync_batchnorm import sync_batch_norm

        return sync_batch_norm(
            name=f"sync_bn_{keras.backend.get_uid('sync_bn')}", momentum=spec.bn_momentum
        )
    return keras.layers.BatchNormalization(momentum=spec.bn_momentum)


def _residual(x, filters: int, spec: YoloSpec):
    _, keras = import_keras()
    shortcut = x
    x = _conv(x, filters // 2, 1, spec)
    x = _conv(x, filters, 3, spec)
    return keras.layers.Add()([shortcut, x])


def _channels(base: int, spec: YoloSpec) -> int:
    return max(4, round(base * spec.width))


def backbone(inputs, spec: YoloSpec):
    """Feature maps at strides 8, 16 and 32."""
    if spec.backbone not in BACKBONE_DEPTHS:
        raise ValueError(f"unknown backbone {spec.backbone!r}; expected {sorted(BACKBONE_DEPTHS)}")
    x = _conv(inputs, _channels(32, spec), 3, spec)
    routes = []
    for stage, depth in enumerate(BACKBONE_DEPTHS[spec.backbone]):
        filters = _channels(64 * 2**stage, spec)
        x = _conv(x, filters, 3, spec, downsample=True)
        for _ in range(depth):
            x = _residual(x, filters, spec)
        routes.append(x)
    return routes[2], routes[3], routes[4]


def _head_block(x, filters: int, spec: YoloSpec):
    for kernel in (1, 3, 1, 3, 1):
        x = _conv(x, filters if kernel == 1 else 2 * filters, kernel, spec)
    return x


def _output(x, filters: int, grid: int, spec: YoloSpec, name: str):
    _, keras = import_keras()
    x = _conv(x, 2 * filters, 3, spec)
    x = keras.layers.Conv2D(
        ANCHORS_PER_SCALE * spec.channels_per_anchor,
        1,
        kernel_regularizer=keras.regularizers.l2(spec.weight_decay),
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
    )(x)
    x = keras.layers.Reshape((grid, grid, ANCHORS_PER_SCALE, spec.channels_per_anchor))(x)
    return keras.layers.Activation("linear", dtype="float32", name=name)(x)


def build_yolo(spec: YoloSpec):
    """The detector: image in [0, 1] of shape (S, S, 3) -> raw maps [stride 8, 16, 32]."""
    if spec.input_size % STRIDES[-1]:
        raise ValueError(f"input size {spec.input_size} is not a multiple of {STRIDES[-1]}")
    _, keras = import_keras()
    layers = keras.layers
    inputs = keras.Input((spec.input_size, spec.input_size, 3), name="image")
    route_s, route_m, x = backbone(inputs, spec)
    grid_s, grid_m, grid_l = spec.grid_sizes()

    x = _head_block(x, _channels(512, spec), spec)
    large = _output(x, _channels(512, spec), grid_l, spec, "raw_stride32")
    x = _conv(x, _channels(256, spec), 1, spec)
    x = layers.Concatenate()([layers.UpSampling2D(2)(x), route_m])
    x = _head_block(x, _channels(256, spec), spec)
    medium = _output(x, _channels(256, spec), grid_m, spec, "raw_stride16")
    x = _conv(x, _channels(128, spec), 1, spec)
    x = layers.Concatenate()([layers.UpSampling2D(2)(x), route_s])
    x = _head_block(x, _channels(128, spec), spec)
    small = _output(x, _channels(128, spec), grid_s, spec, "raw_stride8")
    return keras.Model(inputs, [small, medium, large], name=f"yolov3_{spec.backbone}")
