"""What one example costs a Keras model: parameters, gradient tensors and bytes, forward FLOPs
and activation values, read from the layers of a built (functional) model.

FLOPs count a multiply and an add as two. Convolution and dense layers are counted exactly
(2 per weight use, plus one add per output for a bias); batch normalisation as 2 per value
(scale and shift), `Add` as one per value per extra input, `LeakyReLU` as 2 per value
(multiply, max), `ReLU` and `Activation` as 1 (0 for linear). Other layers without weights
count 0: in the YOLO they only move values (padding, reshape, concatenation, the upsampling
Lambda). Any other layer with weights, and a layer called more than once (shared weights),
raise: a count is never silently short.
Training a step costs about 3 × the forward pass (`TRAINING_FLOPS_FACTOR`: the backward pass
computes gradients for both the activations and the weights).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

TRAINING_FLOPS_FACTOR = 3.0
_ELEMENTWISE = {"BatchNormalization": 2.0, "LeakyReLU": 2.0, "ReLU": 1.0}


@dataclass(frozen=True)
class ModelCost:
    """Per-example costs of one model at its built input size."""

    parameters: int  # all weights (model.count_params(): batch-norm statistics included)
    trainable_parameters: int  # the values the gradient all-reduce sends
    gradient_tensors: int  # trainable variables: one all-reduce each without tensor fusion
    forward_flops: float
    activation_values: int  # layer outputs per example (what the backward pass keeps)
    batch_norm_layers: int  # each synchronises its statistics across ranks with sync batch norm

    def gradient_bytes(self, bytes_per_value: int = 4) -> int:
        """Bytes of one step's gradients: 4 per value in float32, 2 in float16."""
        return self.trainable_parameters * bytes_per_value

    @property
    def training_flops(self) -> float:
        return TRAINING_FLOPS_FACTOR * self.forward_flops


def _values(shape: Sequence[int | None]) -> int:
    """Values per example of a layer output shape (batch dimension left out)."""
    return math.prod(int(d) for d in shape[1:])


def layer_forward_flops(layer) -> float:
    """FLOPs of one layer's forward pass on one example (see the module's counting rules)."""
    kind = type(layer).__name__
    out = _values(layer.output_shape)
    if kind in ("Conv2D", "Dense"):
        # every kernel weight is used once per output position (groups, dilation included)
        positions = out // (layer.filters if kind == "Conv2D" else layer.units)
        kernel = int(layer.kernel.shape.num_elements())
        return 2.0 * kernel * positions + (out if layer.use_bias else 0)
    if kind in _ELEMENTWISE:
        return _ELEMENTWISE[kind] * out
    if kind == "Add":
        return float((len(layer.input_shape) - 1) * out)
    if kind == "Activation":
        return 0.0 if layer.get_config()["activation"] == "linear" else float(out)
    if layer.weights:
        raise ValueError(f"no FLOP rule for layer {layer.name!r} ({kind}), which has weights")
    return 0.0


def model_cost(model) -> ModelCost:
    """Parameters, gradient tensors, forward FLOPs, activation values per example and the
    number of batch-norm layers."""
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    shared = [layer.name for layer in layers if len(layer.inbound_nodes) > 1]
    if shared:
        raise ValueError(f"layers called more than once are not counted: {shared}")
    return ModelCost(
        parameters=int(model.count_params()),
        trainable_parameters=sum(int(v.shape.num_elements()) for v in model.trainable_variables),
        gradient_tensors=len(model.trainable_variables),
        forward_flops=sum(layer_forward_flops(layer) for layer in layers),
        activation_values=sum(_values(layer.output_shape) for layer in layers),
        batch_norm_layers=sum(type(layer).__name__ == "BatchNormalization" for layer in layers),
    )
