"""CNN classifier of whole cutouts: does it hold a cluster, and (optionally) at which z.

Two architectures of 4 stages, each halving the resolution (total stride 16):

- `small`: the seed's classifier (classic_CNN `_RAM_multiGPU`): per stage Conv 3x3 - batch
  norm - ReLU - MaxPool 2 with 64, 128, 256, 512 channels (x `model.width`), Flatten, Dense;
- `residual`: a 3x3 stem, then per stage a residual block (two Conv 3x3 + batch norm, 1x1
  projection shortcut) and MaxPool 2, global average pooling, Dense.

The output is one float32 tensor (batch, 1) of the cluster logit, or (batch, 3) with the
redshift head: logit, z mean and raw ln σ_z (squashed by `cnn_loss.split_outputs`).
Batch norm is synchronised over Horovod ranks as in the detector.
"""

from __future__ import annotations

from dataclasses import dataclass

from clusterhpc.config import Config
from clusterhpc.keras_compat import import_keras
from clusterhpc.models.sync_batchnorm import batch_norm_layer

STRIDE = 16  # 4 stages of MaxPool 2
STAGE_CHANNELS = (64, 128, 256, 512)
FEATURES_LAYER = "features"  # the last convolutional map (what Grad-CAM looks at)


@dataclass(frozen=True)
class CnnSpec:
    input_size: int
    architecture: str = "small"  # small | residual
    width: float = 1.0
    redshift: bool = False
    weight_decay: float = 5e-4
    sync_batchnorm: bool = True
    bn_momentum: float = 0.99

    @property
    def n_outputs(self) -> int:
        return 3 if self.redshift else 1


def cnn_spec(cfg: Config) -> CnnSpec:
    m = cfg.model
    return CnnSpec(
        input_size=m.input_size,
        architecture=m.cnn.architecture,
        width=m.width,
        redshift=m.cnn.redshift,
        weight_decay=m.weight_decay,
        sync_batchnorm=m.sync_batchnorm,
        bn_momentum=m.bn_momentum,
    )


class _Layers:
    """Layers named by kind and count (conv_3, bn_3): weights load across processes."""

    def __init__(self, spec: CnnSpec) -> None:
        _, self.keras = import_keras()
        self.spec = spec
        self.count: dict[str, int] = {}

    def name(self, kind: str) -> str:
        self.count[kind] = self.count.get(kind, 0) + 1
        return f"{kind}_{self.count[kind]}"

    def conv_bn(self, x, filters: int, kernel: int, relu: bool = True):
        x = self.keras.layers.Conv2D(
            filters,
            kernel,
            padding="same",
            use_bias=False,
            kernel_regularizer=self.keras.regularizers.l2(self.spec.weight_decay),
            name=self.name("conv"),
        )(x)
        x = batch_norm_layer(self.name("bn"), self.spec.bn_momentum, self.spec.sync_batchnorm)(x)
        return self.keras.layers.ReLU(name=self.name("relu"))(x) if relu else x

    def pool(self, x):
        return self.keras.layers.MaxPooling2D(2, name=self.name("pool"))(x)

    def residual(self, x, filters: int):
        shortcut = self.conv_bn(x, filters, 1, relu=False)
        x = self.conv_bn(x, filters, 3)
        x = self.conv_bn(x, filters, 3, relu=False)
        x = self.keras.layers.Add(name=self.name("add"))([shortcut, x])
        return self.keras.layers.ReLU(name=self.name("relu"))(x)


def build_cnn(spec: CnnSpec):
    """Image in [0, 1] of shape (S, S, 3) -> (batch, n_outputs) raw outputs."""
    if spec.input_size % STRIDE:
        raise ValueError(f"input size {spec.input_size} is not a multiple of {STRIDE}")
    if spec.architecture not in ("small", "residual"):
        raise ValueError(f"unknown architecture {spec.architecture!r}; expected small, residual")
    b = _Layers(spec)
    layers = b.keras.layers
    inputs = b.keras.Input((spec.input_size, spec.input_size, 3), name="image")
    channels = [max(4, round(c * spec.width)) for c in STAGE_CHANNELS]
    x = inputs
    if spec.architecture == "residual":
        x = b.conv_bn(x, channels[0] // 2, 3)
    for filters in channels:
        x = b.conv_bn(x, filters, 3) if spec.architecture == "small" else b.residual(x, filters)
        x = b.pool(x)
    x = layers.Activation("linear", name=FEATURES_LAYER)(x)
    if spec.architecture == "small":
        x = layers.Flatten(name="flatten")(x)
    else:
        x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(
        spec.n_outputs,
        kernel_regularizer=b.keras.regularizers.l2(spec.weight_decay),
        kernel_initializer="zeros",  # start at p = 0.5, z = 0, ln σ_z near 0
        name="dense_out",
    )(x)
    outputs = layers.Activation("linear", dtype="float32", name="outputs")(x)
    return b.keras.Model(inputs, outputs, name=f"cnn_{spec.architecture}")
