"""The replica report: which rank ended training on which host, with which weights.

After `Trainer.fit` returns (finished or interrupted), every rank contributes one record
`{"rank", "host", "local_rank", "weights_sha256"}` and the backend gathers them onto every
rank (`gather_object`); `train` writes them, ordered by rank, as `replicas` into
`train_summary.json`, with `replicas_identical`. `weights_sha256` is the SHA-256 of the bytes
of every trainable weight array, in order.

Data-parallel replicas hold identical trainable weights: rank 0's are broadcast before the
first step and every step applies the same averaged gradients. Non-trainable weights are left
out: batch-norm statistics legitimately differ between ranks when `model.sync_batchnorm` is
off. Ranks whose digest differs from rank 0's have diverged: a rank that skipped a broadcast
or a faulty device, or, harmlessly, nodes whose CPUs round the optimizer's update differently
(another instruction set). Rank 0 then logs a warning naming those ranks and their hosts, and
the summary says `replicas_identical: false`; the checkpoints and weights are rank 0's.
"""

from __future__ import annotations

import hashlib
import socket
from typing import Any, Protocol

import numpy as np


class _Gathers(Protocol):
    rank: int
    local_rank: int

    def gather_object(self, obj: Any) -> list: ...


def weights_digest(model: Any) -> str:
    """SHA-256 (hex) of the model's trainable weights: the C-order bytes of every array of
    `model.trainable_weights`, concatenated in that order."""
    digest = hashlib.sha256()
    for weight in model.trainable_weights:
        values = weight.numpy() if hasattr(weight, "numpy") else weight
        digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def replica_report(model: Any, backend: _Gathers) -> list[dict[str, Any]]:
    """Every rank's record, ordered by rank; a collective: every rank must call it."""
    record = {
        "rank": backend.rank,
        "host": socket.gethostname(),
        "local_rank": backend.local_rank,
        "weights_sha256": weights_digest(model),
    }
    return sorted(backend.gather_object(record), key=lambda r: r["rank"])


def diverged(records: list[dict[str, Any]]) -> list[int]:
    """The ranks whose weights digest differs from rank 0's ([] when all agree)."""
    reference = next((r["weights_sha256"] for r in records if r["rank"] == 0), None)
    return sorted(r["rank"] for r in records if r["weights_sha256"] != reference)


def describe_divergence(records: list[dict[str, Any]], ranks: list[int]) -> str:
    """One line naming rank 0 and the diverged ranks with their hosts and digests."""
    by_rank = {r["rank"]: r for r in records}
    parts = [
        f"rank {rank} on {by_rank[rank]['host']} ({by_rank[rank]['weights_sha256'][:12]})"
        for rank in ranks
    ]
    zero = by_rank.get(0)
    where = f"rank 0 on {zero['host']} ({zero['weights_sha256'][:12]})" if zero else "no rank 0"
    return f"weights differ from {where}: " + ", ".join(parts)
