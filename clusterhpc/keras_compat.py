"""The one place that imports TensorFlow and Keras.

TensorFlow <= 2.15 ships Keras 2 as `tf.keras`. From 2.16 `tf.keras` is Keras 3, which Horovod
does not support (its DistributedOptimizer silently stops averaging gradients), so there the
Keras 2 API comes from the `tf_keras` package with `TF_USE_LEGACY_KERAS=1`, as in NVIDIA's
TensorFlow containers. Everything else in clusterhpc gets `tf` and `keras` from here.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
from types import ModuleType

_TF_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-macos")


def installed_tensorflow_version() -> tuple[int, int] | None:
    """(major, minor) of the installed TensorFlow distribution, read without importing it."""
    for dist in _TF_DISTRIBUTIONS:
        try:
            major, minor = importlib.metadata.version(dist).split(".")[:2]
        except importlib.metadata.PackageNotFoundError:
            continue
        return int(major), int(minor)
    return None


@functools.cache
def import_keras() -> tuple[ModuleType, ModuleType]:
    """Return `(tensorflow, keras)` where `keras` is the Keras 2 API."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    version = installed_tensorflow_version()
    if version is not None and version >= (2, 16):
        # Must be set before TensorFlow is imported: `tf.keras` then resolves to tf_keras.
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf

    if tuple(int(p) for p in tf.__version__.split(".")[:2]) <= (2, 15):
        return tf, tf.keras
    try:
        import tf_keras
    except ImportError as exc:
        raise ImportError(
            f"TensorFlow {tf.__version__} uses Keras 3, which Horovod cannot average; "
            "install the Keras 2 API: pip install --no-deps tf_keras"
        ) from exc
    return tf, tf_keras


@functools.cache
def import_horovod_keras() -> ModuleType:
    """`horovod.tensorflow.keras`, patched to use the same Keras backend as `import_keras`."""
    _, keras = import_keras()
    import horovod.tensorflow.keras as hvd_keras
    import horovod.tensorflow.keras.callbacks as hvd_callbacks

    hvd_callbacks.K = keras.backend
    return hvd_keras
