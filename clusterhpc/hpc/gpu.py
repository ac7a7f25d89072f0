"""One GPU per local rank, with memory growth: training, evaluate and detect alike.

Ranks on a node otherwise all start on GPU 0, and each grabs nearly all of every GPU's memory.
The pinning must happen before TensorFlow initialises its devices; a process that already did
(an earlier stage of `clusterhpc run` in the same process) keeps the pinning it has.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from clusterhpc.hpc.env import rank_info
from clusterhpc.keras_compat import import_keras
from clusterhpc.log import get_logger

log = get_logger("gpu")
Device = TypeVar("Device")


def local_gpu(gpus: Sequence[Device], local_rank: int) -> Device:
    """The GPU of a local rank: local ranks beyond the GPU count share them round-robin."""
    return gpus[local_rank % len(gpus)]


def pin_local_gpu(local_rank: int | None = None) -> str | None:
    """Make this process see only its local rank's GPU, with memory growth; the device's
    name, or None without GPUs. `local_rank` defaults to the launcher's (`rank_info`)."""
    tf, _ = import_keras()
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    gpu = local_gpu(gpus, rank_info().local_rank if local_rank is None else local_rank)
    if tf.config.get_visible_devices("GPU") == [gpu]:
        return gpu.name  # already pinned (an earlier stage in this process)
    try:
        tf.config.experimental.set_memory_growth(gpu, True)
        tf.config.set_visible_devices(gpu, "GPU")
    except RuntimeError as exc:  # TensorFlow already initialised its devices
        log.warning("cannot pin this rank to %s: %s", gpu.name, exc)
        return None
    return gpu.name
