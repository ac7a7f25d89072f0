"""Data-parallel backends: Horovod when several ranks run, a local one for a single process.

Both offer the same small surface: rank/size/local rank, averaging a gradient tape, averaging
metrics, broadcasting variables, agreeing on a flag (e.g. "a signal arrived") and gathering one
picklable object per rank onto every rank (e.g. the replica report). Both pin the
process to its local rank's GPU (`clusterhpc.hpc.gpu`).

Horovod's own timeouts are set before `hvd.init()` where the environment does not set them
(Horovod 0.28.1 defaults in brackets):
- HOROVOD_STALL_CHECK_TIME_SECONDS [60]: rank 0 warns, and checks this often, when some ranks
  wait in a collective that others have not joined;
- HOROVOD_STALL_SHUTDOWN_TIME_SECONDS [0: never]: after this long Horovod shuts down, the
  waiting collectives raise on every rank and the job ends (`clusterhpc.hpc.failure`), instead
  of a silently hung rank holding the allocation to its time limit. `train.stall_timeout_s`
  (15 min by default) stays far above what a rank legitimately spends outside the collectives
  (rank 0 writing a checkpoint; ranks tracing the step, compiling it with XLA);
- HOROVOD_GLOO_TIMEOUT_SECONDS [30] (`horovodrun --gloo`): rendezvous and collectives; 30 s is
  less than ranks importing TensorFlow from a shared file system may differ by.

So are its tensor-fusion knobs, from `train.fusion_threshold_mb` (HOROVOD_FUSION_THRESHOLD
[64 MiB]: gradients ready together are all-reduced as one buffer of at most this size) and
`train.cycle_time_ms` (HOROVOD_CYCLE_TIME: how long the background thread gathers ready
tensors per round). `train.allreduce_compression: fp16` sends the gradients as float16.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from clusterhpc.hpc.env import rank_info
from clusterhpc.hpc.gpu import pin_local_gpu
from clusterhpc.keras_compat import import_keras

GLOO_TIMEOUT_S = 600
STALL_WARNING_S = 60  # Horovod's default; never above the shutdown time (it would disable it)


def horovod_timeouts(stall_timeout_s: int, env: Mapping[str, str]) -> dict[str, str]:
    """The Horovod timeout variables to set: those `env` does not set already."""
    values = {"HOROVOD_GLOO_TIMEOUT_SECONDS": GLOO_TIMEOUT_S}
    if stall_timeout_s and "HOROVOD_STALL_SHUTDOWN_TIME_SECONDS" not in env:
        values["HOROVOD_STALL_SHUTDOWN_TIME_SECONDS"] = stall_timeout_s
        values["HOROVOD_STALL_CHECK_TIME_SECONDS"] = min(STALL_WARNING_S, stall_timeout_s)
    return {k: str(v) for k, v in values.items() if k not in env}


def horovod_tuning(
    fusion_threshold_mb: float, cycle_time_ms: float, env: Mapping[str, str]
) -> dict[str, str]:
    """The tensor-fusion variables to set: those `env` does not set already."""
    values = {"HOROVOD_FUSION_THRESHOLD": str(round(fusion_threshold_mb * 2**20))}
    if cycle_time_ms > 0:
        values["HOROVOD_CYCLE_TIME"] = f"{cycle_time_ms:g}"
    return {k: v for k, v in values.items() if k not in env}


class LocalBackend:
    """One process, no communication."""

    name = "local"

    def __init__(self) -> None:
        self.rank, self.size, self.local_rank = 0, 1, 0
        pin_local_gpu(0)

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

    def gather_object(self, obj: Any) -> list:
        """Every rank's `obj`, in rank order: here the one."""
        return [obj]


class HorovodBackend:
    """Horovod over MPI or Gloo: ring all-reduce of gradients, rank 0 broadcasts weights."""

    name = "horovod"

    def __init__(
        self,
        stall_timeout_s: int = 0,
        compression: str = "none",
        fusion_threshold_mb: float = 64.0,
        cycle_time_ms: float = 0.0,
    ) -> None:
        import horovod.tensorflow as hvd

        os.environ.update(horovod_timeouts(stall_timeout_s, os.environ))
        os.environ.update(horovod_tuning(fusion_threshold_mb, cycle_time_ms, os.environ))
        hvd.init()
        self.hvd = hvd
        self.compression = hvd.Compression.fp16 if compression == "fp16" else hvd.Compression.none
        self.rank, self.size, self.local_rank = hvd.rank(), hvd.size(), hvd.local_rank()
        pin_local_gpu(self.local_rank)

    def tape(self, tape: Any) -> Any:
        return self.hvd.DistributedGradientTape(tape, compression=self.compression)

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

    def gather_object(self, obj: Any) -> list:
        """Every rank's `obj` (pickled), in rank order, on every rank."""
        return list(self.hvd.allgather_object(obj, name="gather_object"))


def make_backend(
    stall_timeout_s: int = 0,
    compression: str = "none",
    fusion_threshold_mb: float = 64.0,
    cycle_time_ms: float = 0.0,
) -> LocalBackend | HorovodBackend:
    """Horovod when the launcher started several ranks, the local backend otherwise;
    `stall_timeout_s`: HOROVOD_STALL_SHUTDOWN_TIME_SECONDS unless set (0: Horovod's default);
    the others as `train.allreduce_compression`, `train.fusion_threshold_mb`, `cycle_time_ms`."""
    if not rank_info().distributed:
        return LocalBackend()
    return HorovodBackend(stall_timeout_s, compression, fusion_threshold_mb, cycle_time_ms)
