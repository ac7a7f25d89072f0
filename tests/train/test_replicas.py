"""The replica report: weights digests, the divergence check and what `train` does with them."""

from __future__ import annotations

import numpy as np

from clusterhpc.train.replicas import (
    describe_divergence,
    diverged,
    replica_report,
    weights_digest,
)


class Weights:
    """Anything with `trainable_weights`, like a Keras model."""

    def __init__(self, *arrays: np.ndarray) -> None:
        self.trainable_weights = list(arrays)


def record(rank: int, digest: str, host: str = "node1") -> dict:
    return {"rank": rank, "host": host, "local_rank": rank, "weights_sha256": digest}


def test_the_digest_follows_every_value_and_the_order_of_the_weights():
    a, b = np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(4, np.float32)
    digest = weights_digest(Weights(a, b))
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert weights_digest(Weights(a.copy(), b.copy())) == digest
    changed = a.copy()
    changed[1, 2] = np.nextafter(changed[1, 2], np.float32(10))  # one ulp
    assert weights_digest(Weights(changed, b)) != digest
    assert weights_digest(Weights(b, a)) != digest
    assert weights_digest(Weights(a.T, b)) != digest  # C order of the values, not storage


def test_the_digest_covers_trainable_weights_not_batch_norm_statistics():
    """Unsynchronised batch norm (`model.sync_batchnorm: false`) keeps per-rank statistics."""
    from clusterhpc.keras_compat import import_keras

    _, keras = import_keras()
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(2), keras.layers.BatchNormalization()]
    )
    digest = weights_digest(model)
    assert weights_digest(model) == digest
    moving_mean = next(w for w in model.weights if "moving_mean" in w.name)
    assert not moving_mean.trainable
    moving_mean.assign(moving_mean + 1.0)
    assert weights_digest(model) == digest
    gamma = next(w for w in model.weights if "gamma" in w.name)
    gamma.assign(gamma * 2.0)
    assert weights_digest(model) != digest


def test_diverged_names_the_ranks_that_differ_from_rank_0():
    same = [record(0, "aa"), record(1, "aa"), record(2, "aa")]
    assert diverged(same) == []
    assert diverged([record(0, "aa")]) == []
    odd = [record(2, "aa", "node2"), record(0, "aa"), record(1, "bb", "node2"), record(3, "cc")]
    assert diverged(odd) == [1, 3]
    text = describe_divergence(odd, diverged(odd))
    assert "rank 0 on node1" in text and "rank 1 on node2" in text and "rank 3 on node1" in text
    assert "rank 2" not in text
    assert diverged([record(0, "bb"), record(1, "aa"), record(2, "aa")]) == [1, 2]


class Backend:
    """Two ranks whose gather returns the records out of order."""

    rank, local_rank = 1, 1

    def gather_object(self, obj: dict) -> list:
        return [obj, {**obj, "rank": 0, "local_rank": 0}]


def test_the_report_has_every_rank_in_rank_order():
    replicas = replica_report(Weights(np.zeros(3, np.float32)), Backend())
    assert [r["rank"] for r in replicas] == [0, 1]
    assert replicas[1]["local_rank"] == 1 and replicas[1]["host"]
    assert replicas[0]["weights_sha256"] == weights_digest(Weights(np.zeros(3, np.float32)))
