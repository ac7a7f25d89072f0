"""Weightless Keras layers of the set networks (`clusterhpc.models.sets`), and the seed vector.

Members are slots of a padded (B, N, F) tensor with a (B, N) mask; nothing here reads another
example of the batch, and padded slots never reach an output (`tf.where`, not products, so
any finite or non-finite padding value is harmless).

Ordered k-tuples of distinct valid members are what Janossy pooling averages over. A set with
fewer than k members has none; it takes every ordered k-tuple of its members WITH repetition
instead (a 1-member set under k = 2: the one tuple (m, m)), in the exact and the sampled form
alike.
"""

from __future__ import annotations

from clusterhpc.keras_compat import import_keras

tf, keras = import_keras()


def sample_tuples(mask, key, count: int, k: int):
    """(B, count, k) int32 slot indices of `count` uniformly drawn ordered k-tuples of
    distinct valid members per set (with repetition when the set has fewer than k).

    The draws of set b come only from `key[b]` and its own mask (stateless Philox): the same
    key gives the same tuples in any batch, on any rank, on CPU or GPU. XLA-compiled code
    (`train.xla`) has its own Philox stream, so it draws other tuples from the same key."""
    mask = tf.cast(mask, tf.float32)
    uniform = tf.map_fn(
        lambda seed: tf.random.stateless_uniform((count, k), seed, alg="philox"),
        tf.cast(key, tf.int32),
        fn_output_signature=tf.TensorSpec((count, k), tf.float32),
    )
    n = tf.reduce_sum(mask, axis=1, keepdims=True)  # (B, 1)
    distinct = n >= k
    ranks = []  # rank of the drawn member among the set's valid members, as float
    for j in range(k):
        size = tf.where(distinct, n - j, n)
        rank = tf.minimum(tf.floor(uniform[:, :, j] * size), size - 1)
        if ranks:  # skip the members already taken, in increasing order
            taken = tf.sort(tf.stack(ranks, axis=-1), axis=-1)
            for i in range(j):
                rank += tf.cast(distinct & (rank >= taken[..., i]), tf.float32)
        ranks.append(rank)
    ranks = tf.stack(ranks, axis=-1)  # (B, count, k)
    # the slot of the r-th valid member: the number of slots holding fewer than r + 1 of them
    before = tf.cumsum(mask, axis=1)[:, None, None, :] < ranks[..., None] + 1.0
    return tf.reduce_sum(tf.cast(before, tf.int32), axis=-1)


def _concatenated(x, index):
    """(B, T, k * F) features of the member tuples `index` (B, T, k) or (T, k)."""
    batch_dims = 1 if index.shape.rank == 3 else 0
    features = tf.gather(x, index, axis=1, batch_dims=batch_dims)
    width = index.shape[-1] * x.shape[-1]
    return tf.reshape(features, tf.concat([tf.shape(features)[:2], [width]], axis=0))


class ExactTuples(keras.layers.Layer):
    """All N^k ordered k-tuples of slots: their (B, N^k, k*F) features and (B, N^k) weights,
    1 for a tuple of distinct valid members (any valid tuple when the set has < k members)."""

    def __init__(self, k: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.k = k

    def call(self, inputs):
        x, mask = inputs
        slots = tf.range(tf.shape(x)[1])
        grid = tf.meshgrid(*[slots] * self.k, indexing="ij")
        index = tf.stack([tf.reshape(g, [-1]) for g in grid], axis=-1)  # (T, k)
        mask = tf.cast(mask, x.dtype)
        valid = tf.reduce_prod(tf.gather(mask, index, axis=1), axis=-1)  # (B, T)
        distinct = tf.ones_like(index[:, 0], tf.bool)
        for i in range(self.k):
            for j in range(i + 1, self.k):
                distinct &= index[:, i] != index[:, j]
        enough = tf.reduce_sum(mask, axis=1, keepdims=True) >= self.k  # (B, 1)
        weights = valid * tf.cast(distinct[None, :] | ~enough, x.dtype)
        return _concatenated(x, index), weights

    def get_config(self) -> dict:
        return {**super().get_config(), "k": self.k}


class SampledTuples(keras.layers.Layer):
    """π-SGD: `subsets` (training) or `inference_subsets` random ordered k-tuples per set from
    `sample_tuples`, as (B, S, k*F) features and (B, S) unit weights. `training` must be a
    Python bool or None (None: inference)."""

    def __init__(self, k: int, subsets: int, inference_subsets: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.k = k
        self.subsets = subsets
        self.inference_subsets = inference_subsets

    def call(self, inputs, training=None):
        x, mask, key = inputs
        count = self.subsets if training else self.inference_subsets
        index = sample_tuples(mask, key, count, self.k)
        return _concatenated(x, index), tf.ones(tf.shape(index)[:2], x.dtype)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "k": self.k,
            "subsets": self.subsets,
            "inference_subsets": self.inference_subsets,
        }


class MaskedPool(keras.layers.Layer):
    """(B, T, H) features and (B, T) weights -> (B, H) weighted sum or weighted mean."""

    def __init__(self, mode: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.mode = mode

    def call(self, inputs):
        h, weights = inputs
        weights = tf.cast(weights, h.dtype)[..., None]
        total = tf.reduce_sum(tf.where(weights > 0, h * weights, 0.0), axis=1)
        return total if self.mode == "sum" else total / tf.reduce_sum(weights, axis=1)

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}


class MemberSummary(keras.layers.Layer):
    """(B, 4F + 1): per-feature mean, standard deviation, min and max over the valid
    members, and ln(1 + member count)."""

    def call(self, inputs):
        x, mask = inputs
        valid = tf.cast(mask, x.dtype)[..., None] > 0
        n = tf.reduce_sum(tf.cast(valid, x.dtype), axis=1)  # (B, 1)
        mean = tf.reduce_sum(tf.where(valid, x, 0.0), axis=1) / n
        centred = tf.where(valid, x - mean[:, None, :], 0.0)
        std = tf.sqrt(tf.reduce_sum(tf.square(centred), axis=1) / n)
        low = tf.reduce_min(tf.where(valid, x, float("inf")), axis=1)
        high = tf.reduce_max(tf.where(valid, x, float("-inf")), axis=1)
        return tf.concat([mean, std, low, high, tf.math.log1p(n)], axis=-1)


class LogSize(keras.layers.Layer):
    """(B, 1) ln(1 + n) of the (B,) set sizes."""

    def call(self, size):
        return tf.math.log1p(tf.reshape(tf.cast(size, self.compute_dtype), (-1, 1)))


class PaddedMembers(keras.layers.Layer):
    """(B, N*F + N): the members' features in slot order (zeros at padding) and the mask."""

    def call(self, inputs):
        x, mask = inputs
        mask = tf.cast(mask, x.dtype)
        x = tf.where(mask[..., None] > 0, x, 0.0)
        return tf.concat([tf.reshape(x, [-1, x.shape[1] * x.shape[2]]), mask], axis=-1)


class KeyMask(keras.layers.Layer):
    """Attention mask (B, Q, N) letting every query see the valid members only; Q = N for
    self-attention (`queries` None), else `queries`."""

    def __init__(self, queries: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.queries = queries

    def call(self, mask):
        valid = tf.cast(mask, tf.float32)[:, None, :] > 0
        queries = tf.shape(mask)[1] if self.queries is None else self.queries
        return tf.repeat(valid, queries, axis=1)

    def get_config(self) -> dict:
        return {**super().get_config(), "queries": self.queries}


class SeedVector(keras.layers.Layer):
    """A learned (1, width) query, repeated for every example of a (B, ...) input."""

    def __init__(self, width: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.width = width

    def build(self, input_shape) -> None:
        self.seed = self.add_weight(
            name="seed", shape=(1, 1, self.width), initializer="random_normal"
        )
        super().build(input_shape)

    def call(self, reference):
        return tf.repeat(tf.cast(self.seed, self.compute_dtype), tf.shape(reference)[0], axis=0)

    def get_config(self) -> dict:
        return {**super().get_config(), "width": self.width}
