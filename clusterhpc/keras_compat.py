"""The one place that imports TensorFlow and Keras.

TensorFlow <= 2.15 ships Keras 2 as `tf.keras`. From 2.16 `tf.keras` is Keras 3, which Horovod
does not support (its DistributedOptimizer silently stops averaging gradients), so there the
Keras 2 API comes from the `tf_keras` package with `TF_USE_LEGACY_KERAS=1`, as in NVIDIA's
TensorFlow containers. Everything else in clusterhpc gets `tf` and `keras` from here.
On Python >= 3.12 with tf_keras < 2.19, `keras.utils.set_random_seed` is replaced (see
`_set_random_seed`). `import_horovod_keras` checks that Horovod's Keras classes use this Keras.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import random
import sys
from types import ModuleType

_TF_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-macos")


def installed_tensorflow_release() -> str | None:
    """Version of the installed TensorFlow distribution ("2.17.1"), read without importing it."""
    for dist in _TF_DISTRIBUTIONS:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def major_minor(release: str) -> tuple[int, int]:
    """(major, minor) of a version string such as "2.17.1" or "2.18.0rc1"."""
    major, minor = release.split(".")[:2]
    return int(major), int(minor)


def installed_tensorflow_version() -> tuple[int, int] | None:
    """(major, minor) of the installed TensorFlow distribution, read without importing it."""
    release = installed_tensorflow_release()
    return None if release is None else major_minor(release)


def tf_keras_requirement(tf_version: tuple[int, int] | None) -> str | None:
    """The `tf_keras` that TensorFlow `tf_version` needs (same minor release), None up to 2.15."""
    if tf_version is None or tf_version < (2, 16):
        return None
    major, minor = tf_version
    return f"tf_keras~={major}.{minor}.0"


@functools.cache
def import_keras() -> tuple[ModuleType, ModuleType]:
    """Return `(tensorflow, keras)` where `keras` is the Keras 2 API."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    version = installed_tensorflow_version()
    if version is not None and version >= (2, 16):
        # Must be set before TensorFlow is imported: `tf.keras` then resolves to tf_keras.
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf

    if major_minor(tf.__version__) <= (2, 15):
        return tf, tf.keras
    try:
        import tf_keras
    except ImportError as exc:
        raise ImportError(
            f"TensorFlow {tf.__version__} uses Keras 3, which Horovod cannot average; "
            "install the Keras 2 API: pip install --no-deps "
            f"'{tf_keras_requirement(major_minor(tf.__version__))}'"
        ) from exc
    if sys.version_info >= (3, 12) and major_minor(tf_keras.__version__) < (2, 19):
        tf_keras.utils.set_random_seed = functools.partial(_set_random_seed, tf)
    return tf, tf_keras


def _set_random_seed(tf: ModuleType, seed: int) -> None:
    """`keras.utils.set_random_seed` for tf_keras < 2.19 on Python >= 3.12.

    tf_keras's own seeds Python's, NumPy's and TensorFlow's generators, and a generator of its
    own from which it then draws each layer's seed with `randint(1, 1e9)`: a float bound, which
    Python 3.12 rejects (tf_keras 2.19 casts it). This one seeds the first three only, so the
    layer seeds come from Python's seeded `random` instead (`randint(1, int(1e9))`).
    """
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)


@functools.cache
def import_horovod_keras() -> ModuleType:
    """`horovod.tensorflow.keras`, patched to use the same Keras backend as `import_keras`.

    Horovod builds its Keras classes on `tf.keras`, which TensorFlow >= 2.16 resolves once, on
    first use: to tf_keras only when `import_keras` came first. Importing `horovod.tensorflow`
    earlier makes them Keras 3 classes, which do not average tf_keras gradients: that raises.
    """
    tf, keras = import_keras()
    import horovod.tensorflow.keras as hvd_keras
    import horovod.tensorflow.keras.callbacks as hvd_callbacks

    if not issubclass(hvd_callbacks.BroadcastGlobalVariablesCallback, keras.callbacks.Callback):
        raise ImportError(
            f"Horovod's Keras classes are not {keras.__name__}'s: TensorFlow {tf.__version__} "
            "resolved tf.keras to Keras 3 before clusterhpc.keras_compat.import_keras() ran; "
            "call it before importing horovod.tensorflow (or export TF_USE_LEGACY_KERAS=1)"
        )
    hvd_callbacks.K = keras.backend
    return hvd_keras
