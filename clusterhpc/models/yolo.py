"""YOLOv3 for galaxy clusters (Redmon & Farhadi 2018; YOLO-CL, Grishin et al. 2023).

Darknet-53 backbone (or a shallower, narrower variant for CPUs) and three detection scales at
strides 8, 16 and 32 with 3 anchors each. The network outputs raw maps of shape
(batch, G, G, 3, 5 + extra) per scale, ordered small to large stride; decoding, loss and
post-processing live in `yolo_loss` and `yolo_postprocess`. `extra` depends on the head:

- `no_class`: 0 (objectness only; the loss weights boxes by their in-image area fraction),
- `class`: one logit per class (e.g. redshift bins),
- `regression`: a mean and a log-σ per regression target (Gaussian likelihood); the log-σ
  is clipped to `LOG_SIGMA_RANGE` by both the loss and inference (`clip_log_sigma`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clusterhpc.keras_compat import import_keras

STRIDES = (8, 16, 32)
ANCHORS_PER_SCALE = 3
# Residual blocks per backbone stage (strides 2, 4, 8, 16, 32).
BACKBONE_DEPTHS = {"darknet53": (1, 2, 8, 8, 4), "tiny": (1, 1, 1, 1, 1)}
# Range of the regression head's predicted ln σ, in training and at inference alike.
LOG_SIGMA_RANGE = (-7.0, 3.0)


def clip_log_sigma(log_sigma, clip=np.clip):
    """The regression head's ln σ clipped to `LOG_SIGMA_RANGE`; `clip` is the array library's
    clip function (NumPy at inference; the loss passes `tf.clip_by_value`)."""
    return clip(log_sigma, *LOG_SIGMA_RANGE)


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


class _Builder:
    """Builds the layers with names that depend only on the architecture (conv_12, bn_12, ...):
    weights saved by one process (or rank count, or sync/local batch norm) load in another."""

    def __init__(self, spec: YoloSpec) -> None:
        self.spec = spec
        self.count: dict[str, int] = {}
        _, self.keras = import_keras()

    def name(self, kind: str) -> str:
        self.count[kind] = self.count.get(kind, 0) + 1
        return f"{kind}_{self.count[kind]}"

    def channels(self, base: int) -> int:
        return max(4, round(base * self.spec.width))

    def conv(self, x, filters: int, kernel: int, downsample: bool = False):
        layers, spec = self.keras.layers, self.spec
        if downsample:
            x = layers.ZeroPadding2D(((1, 0), (1, 0)), name=self.name("pad"))(x)
        x = layers.Conv2D(
            filters,
            kernel,
            strides=2 if downsample else 1,
            padding="valid" if downsample else "same",
            use_bias=False,
            kernel_regularizer=self.keras.regularizers.l2(spec.weight_decay),
            kernel_initializer=self.keras.initializers.RandomNormal(stddev=0.01),
            name=self.name("conv"),
        )(x)
        x = self.batch_norm()(x)
        return layers.LeakyReLU(alpha=spec.leaky_alpha, name=self.name("leaky"))(x)

    def batch_norm(self):
        """Batch normalisation, synchronised across ranks (`batch_norm_layer`)."""
        from clusterhpc.models.sync_batchnorm import batch_norm_layer

        return batch_norm_layer(self.name("bn"), self.spec.bn_momentum, self.spec.sync_batchnorm)

    def residual(self, x, filters: int):
        shortcut = x
        x = self.conv(x, filters // 2, 1)
        x = self.conv(x, filters, 3)
        return self.keras.layers.Add(name=self.name("add"))([shortcut, x])

    def backbone(self, inputs):
        """Feature maps at strides 8, 16 and 32."""
        spec = self.spec
        if spec.backbone not in BACKBONE_DEPTHS:
            raise ValueError(
                f"unknown backbone {spec.backbone!r}; expected {sorted(BACKBONE_DEPTHS)}"
            )
        x = self.conv(inputs, self.channels(32), 3)
        routes = []
        for stage, depth in enumerate(BACKBONE_DEPTHS[spec.backbone]):
            filters = self.channels(64 * 2**stage)
            x = self.conv(x, filters, 3, downsample=True)
            for _ in range(depth):
                x = self.residual(x, filters)
            routes.append(x)
        return routes[2], routes[3], routes[4]

    def head_block(self, x, filters: int):
        for kernel in (1, 3, 1, 3, 1):
            x = self.conv(x, filters if kernel == 1 else 2 * filters, kernel)
        return x

    def output(self, x, filters: int, grid: int, name: str):
        layers, spec = self.keras.layers, self.spec
        x = self.conv(x, 2 * filters, 3)
        x = layers.Conv2D(
            ANCHORS_PER_SCALE * spec.channels_per_anchor,
            1,
            kernel_regularizer=self.keras.regularizers.l2(spec.weight_decay),
            kernel_initializer=self.keras.initializers.RandomNormal(stddev=0.01),
            name=self.name("conv_out"),
        )(x)
        shape = (grid, grid, ANCHORS_PER_SCALE, spec.channels_per_anchor)
        x = layers.Reshape(shape, name=self.name("reshape"))(x)
        return layers.Activation("linear", dtype="float32", name=name)(x)

    def upsample_concat(self, x, route, filters: int):
        layers = self.keras.layers
        x = self.conv(x, filters, 1)
        x = layers.Lambda(upsample_nearest_2x, name=self.name("upsample"))(x)
        return layers.Concatenate(name=self.name("concat"))([x, route])


def upsample_nearest_2x(x):
    """Nearest-neighbour x2 upsampling of (N, H, W, C) by broadcast and reshape.

    The same values as `UpSampling2D(2)`, but its gradient is a sum over each 2 x 2 block,
    which has a deterministic GPU kernel; the gradient of `UpSampling2D`
    (ResizeNearestNeighborGrad) has none, so it raises under `train.deterministic` on GPU."""
    tf, _ = import_keras()
    _, height, width, channels = x.shape
    batch = tf.shape(x)[0]
    blocks = tf.broadcast_to(x[:, :, None, :, None, :], [batch, height, 2, width, 2, channels])
    return tf.reshape(blocks, [batch, 2 * height, 2 * width, channels])


def build_yolo(spec: YoloSpec):
    """The detector: image in [0, 1] of shape (S, S, 3) -> raw maps [stride 8, 16, 32]."""
    if spec.input_size % STRIDES[-1]:
        raise ValueError(f"input size {spec.input_size} is not a multiple of {STRIDES[-1]}")
    b = _Builder(spec)
    inputs = b.keras.Input((spec.input_size, spec.input_size, 3), name="image")
    route_s, route_m, x = b.backbone(inputs)
    grid_s, grid_m, grid_l = spec.grid_sizes()
    x = b.head_block(x, b.channels(512))
    large = b.output(x, b.channels(512), grid_l, "raw_stride32")
    x = b.head_block(b.upsample_concat(x, route_m, b.channels(256)), b.channels(256))
    medium = b.output(x, b.channels(256), grid_m, "raw_stride16")
    x = b.head_block(b.upsample_concat(x, route_s, b.channels(128)), b.channels(128))
    small = b.output(x, b.channels(128), grid_s, "raw_stride8")
    return b.keras.Model(inputs, [small, medium, large], name=f"yolov3_{spec.backbone}")
