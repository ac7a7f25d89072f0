"""TensorFlow ops that raise under `tf.config.experimental.enable_op_determinism()` (TF 2.15).

`train.deterministic` (the default) enables op determinism. TensorFlow then raises on the first
run of an op that has no deterministic kernel on the device (`UnimplementedError`, or
`FailedPrecondition` for `Timestamp`): on a GPU node, at the first training step. Checking a
training graph's op types against `UNSUPPORTED` finds that on a CPU machine.

Sources:
- NVIDIA framework-reproducibility, "Status of GPU-Determinism in TensorFlow"
  (github.com/NVIDIA/framework-reproducibility, tensorflow_status.md): the sources with no
  solution, for which stock TensorFlow 2.7+ raises `UnimplementedError` when determinism is
  expected;
- TensorFlow RFC 20210119-determinism (tensorflow/community), its list of ops that are
  nondeterministic on GPU;
- TensorFlow's kernels, whose GPU versions raise "Determinism is not yet supported in GPU
  implementation of Bincount / DenseBincount / FakeQuantWithMinMaxVarsGradient"
  (core/kernels/bincount_op*.cc, fake_quant_ops.cc);
- messages in TensorFlow 2.15's own library: "Timestamp cannot be called when determinism is
  enabled", "GPU MaxPool gradient ops do not yet have a deterministic XLA implementation".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Unsupported:
    """An op type that raises under op determinism (on GPU unless `api` says otherwise)."""

    op_type: str
    api: str  # what in the Python API emits it
    # node attribute values for which it raises (empty: always); e.g. is_training=False
    when: tuple[tuple[str, bool], ...] = ()


UNSUPPORTED: tuple[Unsupported, ...] = (
    Unsupported("ResizeNearestNeighborGrad", "UpSampling2D / tf.image.resize nearest, backprop"),
    Unsupported("CropAndResizeGradImage", "tf.image.crop_and_resize, backprop to image"),
    Unsupported("CropAndResizeGradBoxes", "tf.image.crop_and_resize, backprop to boxes"),
    Unsupported("AdjustContrastv2", "tf.image.adjust_contrast"),
    Unsupported("SparseTensorDenseMatMul", "tf.sparse.sparse_dense_matmul"),
    Unsupported("Bincount", "tf.math.bincount"),
    Unsupported("DenseBincount", "tf.math.bincount"),
    Unsupported(
        "DepthwiseConv2dNativeBackpropFilter",
        "DepthwiseConv2D / tf.nn.depthwise_conv2d, backprop to the filter (non-cuDNN path)",
    ),
    Unsupported("FakeQuantWithMinMaxVarsGradient", "tf.quantization fake-quant, backprop"),
    Unsupported(
        "FakeQuantWithMinMaxVarsPerChannelGradient", "tf.quantization fake-quant, backprop"
    ),
    *(
        Unsupported(
            op,
            "BatchNormalization called with training=False, backprop (fine-tuning)",
            when=(("is_training", False),),
        )
        for op in ("FusedBatchNormGrad", "FusedBatchNormGradV2", "FusedBatchNormGradV3")
    ),
    *(
        Unsupported(op, "max pooling backprop, under XLA (train.xla) on GPU")
        for op in ("MaxPoolGrad", "MaxPoolGradV2", "MaxPool3DGrad")
    ),
    Unsupported("Timestamp", "tf.timestamp (raises on every device)"),
)


def _nodes(graph_def: Any) -> Iterator[Any]:
    """Every node of a GraphDef and of every function in its library (gradients, loop and
    branch bodies, nested tf.functions: the library holds them all, flattened)."""
    yield from graph_def.node
    for function in graph_def.library.function:
        yield from function.node_def


def _raises(entry: Unsupported, node: Any) -> bool:
    return node.op == entry.op_type and all(
        name in node.attr and node.attr[name].b == value for name, value in entry.when
    )


def find_unsupported(graph_def: Any, table: Iterable[Unsupported] = UNSUPPORTED) -> list[str]:
    """'op type (node name): API' for each node that would raise under op determinism."""
    table = tuple(table)
    return sorted(
        f"{node.op} ({node.name}): {entry.api}"
        for node in _nodes(graph_def)
        for entry in table
        if _raises(entry, node)
    )
