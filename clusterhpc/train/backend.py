"""Data-parallel backends: Horovod when several ranks run, a local one for a single process.

Both offer the same small surface: rank/size/local rank, averaging a gradient tape, averaging
metrics, broadcasting variables and agreeing on a flag (e.g. "a signal arrived").
"""

from __future__ import annotations

from typing import Any

from clusterhpc.hpc.env import rank_info
from clusterhpc.keras_compat import import_keras


class LocalBackend:
    """One process, no communication."""

    name = "local"

    def __init__(self) -> None:
        self.rank, self.size, self.local_rank = 0, 1, 0

    def tape(self, tape: Any) -> Any:
        return tape

    def average(self, values: dict) -> dict:
        return values

    def broadcast(self, variables: list) -> None:
        return None

    def any(self, flag: bool) -> bool:
        return flag

    def barrier(self) -> None:
        return None


class HorovodBackend:
    """Horovod over MPI or Gloo: ring all-reduce of gradients, rank 0 broadcasts weights."""

    name = "horovod"

    def __init__(self) -> None:
        tf, _ = import_keras()
        import horovod.tensorflow as hvd

        hvd.init()
        self.hvd = hvd
        self.rank, self.size, self.local_rank = hvd.rank(), hvd.size(), hvd.local_rank()
        gpus = tf.config.list_physical_devices("GPU")
        if gpus:  # one GPU per local rank
            gpu = gpus[self.local_rank % len(gpus)]
            tf.config.experimental.set_memory_growth(gpu, True)
            tf.config.set_visible_devices(gpu, "GPU")

    def tape(self, tape: Any) -> Any:
        return self.hvd.DistributedGradientTape(tape)

    def average(self, values: dict) -> dict:
        return {
            k: self.hvd.allreduce(v, op=self.hvd.Average, name=f"avg_{k}")
            for k, v in values.items()
        }

    def broadcast(self, variables: list) -> None:
        self.hvd.broadcast_variables(variables, root_rank=0)

    def any(self, flag: bool) -> bool:
        tf, _ = import_keras()
        return bool(
            self.hvd.allreduce(tf.constant(int(flag)), op=self.hvd.Max, name="any_flag").numpy()
        )

    def barrier(self) -> None:
        tf, _ = import_keras()
        self.hvd.allreduce(tf.constant(0), name="barrier")


def make_backend() -> LocalBackend | HorovodBackend:
    """Horovod when the launcher started several ranks, the local backend otherwise."""
    return HorovodBackend() if rank_info().distributed else LocalBackend()
