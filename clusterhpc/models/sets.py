"""Permutation-invariant set networks and MLP baselines on member-galaxy catalogues.

Every model takes `{"x": (B, N, F) float32, "mask": (B, N) float32, "size": (B,) float32,
"key": (B, 2) int32}` (standardised member features, 1 for a real member and 0 for padding,
the number of galaxies in each set before the cap to N, a per-example random key) and
returns (B, n_outputs) float32 raw outputs from a linear last layer. rho (the MLPs' head
too) reads ln(1 + size) beside the pooled representation: a mean over members or tuples
forgets how many there are, which a richness needs, and the cap to N would hide it too.

`model.kind: sets` with `model.pooling`:
- `janossy`: exact k-ary Janossy pooling, rho(mean over every ordered k-tuple of distinct
  members of phi(concatenated features)); k = 1 is Deep Sets with mean pooling. It costs
  N^k tuples per set, at most MAX_EXACT_TUPLES.
- `pi_sgd`: π-SGD (Murphy et al. 2019): the same mean over `subsets` random tuples when
  training and over `inference_subsets` at inference, always rho(mean_s phi(tuple_s)), never
  the mean of rho. The tuples of an example are drawn from its `key` alone, so the same key
  gives the same output in any batch, on any number of Horovod ranks and after a resume.
- `deepsets_sum`, `deepsets_mean`: rho(sum or mean over members of phi(member)).
- `attention` (Set Transformer): a linear embedding, `depth` blocks of multi-head
  self-attention over the valid members and a ReLU feed-forward layer (each with a residual
  connection and layer normalisation), pooling by multi-head attention of one learned seed
  vector (PMA), then rho.
A set with fewer than k members takes its k-tuples with repetition (`set_layers`).

`model.kind: mlp` with `model.mlp_input`: `summary` (per-feature mean, standard deviation,
min and max over the members and ln(1 + count)) or `padded` (the N*F features in slot order,
brightest first, and the N mask values: NOT permutation invariant).

phi and rho are `depth` ReLU Dense layers of width `hidden`; rho ends in a linear Dense to
the outputs. L2 `weight_decay` on every kernel (`model.losses`). No batch normalisation: an
example's output never depends on the rest of its batch. Layers are named by role and
position (`phi_dense_0`, `mha_1`, `rho_dense_1`, `out`), so weight files load across
processes, and a `janossy` model's weights load into the `pi_sgd` model of the same k.
"""

from __future__ import annotations

from dataclasses import dataclass

from clusterhpc.config import Config
from clusterhpc.keras_compat import import_keras

POOLINGS = ("janossy", "pi_sgd", "deepsets_sum", "deepsets_mean", "attention")
MLP_INPUTS = ("summary", "padded")
MAX_EXACT_TUPLES = 65536  # N^k per set for exact Janossy pooling


@dataclass(frozen=True)
class SetModelSpec:
    kind: str  # "sets" | "mlp"
    pooling: str  # "janossy" | "pi_sgd" | "deepsets_sum" | "deepsets_mean" | "attention"
    mlp_input: str  # "summary" | "padded"
    n_features: int
    n_outputs: int
    max_members: int
    hidden: int = 64
    depth: int = 2
    k: int = 1
    subsets: int = 128
    inference_subsets: int = 1024
    heads: int = 4
    weight_decay: float = 0.0


def set_model_spec(cfg: Config, n_features: int, n_outputs: int) -> SetModelSpec:
    """The spec of `cfg.model` for members of `n_features` features and `n_outputs` outputs."""
    m, s = cfg.model, cfg.model.sets
    return SetModelSpec(
        kind=m.kind,
        pooling=m.pooling,
        mlp_input=m.mlp_input,
        n_features=n_features,
        n_outputs=n_outputs,
        max_members=s.max_members,
        hidden=s.hidden,
        depth=s.depth,
        k=s.k,
        subsets=s.subsets,
        inference_subsets=s.inference_subsets,
        heads=s.heads,
        weight_decay=m.weight_decay,
    )


def _check(spec: SetModelSpec) -> None:
    if spec.kind not in ("sets", "mlp"):
        raise ValueError(f"model.kind {spec.kind!r}: expected sets or mlp")
    if spec.kind == "mlp" and spec.mlp_input not in MLP_INPUTS:
        raise ValueError(f"model.mlp_input {spec.mlp_input!r}: expected one of {MLP_INPUTS}")
    if spec.kind == "sets" and spec.pooling not in POOLINGS:
        raise ValueError(f"model.pooling {spec.pooling!r}: expected one of {POOLINGS}")
    if spec.k < 1:
        raise ValueError(f"model.sets.k = {spec.k}: expected at least 1")
    tuples = spec.max_members**spec.k
    if spec.kind == "sets" and spec.pooling == "janossy" and tuples > MAX_EXACT_TUPLES:
        raise ValueError(
            f"exact Janossy pooling with model.sets.k = {spec.k} and model.sets.max_members = "
            f"{spec.max_members} takes {tuples} tuples per set (at most {MAX_EXACT_TUPLES}); "
            "use model.pooling=pi_sgd, a smaller k or fewer members"
        )


class _Builder:
    """Named Dense stacks with the spec's width, depth and weight decay."""

    def __init__(self, spec: SetModelSpec) -> None:
        _, self.keras = import_keras()
        self.spec = spec
        decay = spec.weight_decay
        self.regularizer = self.keras.regularizers.l2(decay) if decay > 0 else None

    def dense(self, x, width: int, name: str, activation: str | None = "relu", **kwargs):
        layer = self.keras.layers.Dense(
            width, activation=activation, kernel_regularizer=self.regularizer, name=name, **kwargs
        )
        return layer(x)

    def stack(self, x, prefix: str):
        for i in range(self.spec.depth):
            x = self.dense(x, self.spec.hidden, f"{prefix}_{i}")
        return x

    def head(self, x, prefix: str):
        """`depth` hidden layers, then the linear float32 outputs."""
        x = self.stack(x, prefix)
        return self.dense(x, self.spec.n_outputs, "out", activation=None, dtype="float32")

    def attention(self, name: str):
        """A multi-head attention layer of `heads` heads over `hidden` features."""
        spec = self.spec
        return self.keras.layers.MultiHeadAttention(
            spec.heads,
            max(1, spec.hidden // spec.heads),
            kernel_regularizer=self.regularizer,
            name=name,
        )

    def with_size(self, pooled, log_size):
        """The pooled representation and ln(1 + set size), what rho reads."""
        return self.keras.layers.Concatenate(name="with_size")([pooled, log_size])

    def residual_norm(self, x, update, name: str):
        added = self.keras.layers.Add(name=f"{name}_add")([x, update])
        return self.keras.layers.LayerNormalization(name=f"{name}_norm")(added)


def _set_transformer(b: _Builder, x, mask):
    from clusterhpc.models.set_layers import KeyMask, SeedVector

    layers = b.keras.layers
    h = b.dense(x, b.spec.hidden, "embed", activation=None)
    self_mask = KeyMask(name="attention_mask")(mask)
    for i in range(b.spec.depth):
        attended = b.attention(f"mha_{i}")(h, h, attention_mask=self_mask)
        h = b.residual_norm(h, attended, f"mha_{i}")
        h = b.residual_norm(h, b.dense(h, b.spec.hidden, f"ff_dense_{i}"), f"ff_{i}")
    seed = SeedVector(b.spec.hidden, name="pma_seed")(mask)
    seed_mask = KeyMask(1, name="pma_mask")(mask)
    pooled = b.attention("pma_mha")(seed, h, attention_mask=seed_mask)
    pooled = b.residual_norm(seed, pooled, "pma")
    return layers.Reshape((b.spec.hidden,), name="pma_flatten")(pooled)


def build_set_model(spec: SetModelSpec):
    """The Keras model of `spec` (see the module docstring)."""
    from clusterhpc.models import set_layers as sl

    _check(spec)
    b = _Builder(spec)
    keras = b.keras
    padded = spec.kind == "mlp" and spec.mlp_input == "padded"
    slots = spec.max_members if padded else None  # set models take any N
    x = keras.Input((slots, spec.n_features), name="x")
    mask = keras.Input((slots,), name="mask")
    size = keras.Input((), name="size")
    key = keras.Input((2,), dtype="int32", name="key")
    log_size = sl.LogSize(name="log_size")(size)
    if spec.kind == "mlp":
        summary = sl.PaddedMembers(name="padded") if padded else sl.MemberSummary(name="summary")
        outputs = b.head(b.with_size(summary([x, mask]), log_size), "mlp_dense")
        name = f"mlp_{spec.mlp_input}"
    elif spec.pooling == "attention":
        outputs = b.head(b.with_size(_set_transformer(b, x, mask), log_size), "rho_dense")
        name = "sets_attention"
    else:
        if spec.pooling == "janossy":
            members, weights = sl.ExactTuples(spec.k, name="tuples")([x, mask])
        elif spec.pooling == "pi_sgd":
            tuples = sl.SampledTuples(spec.k, spec.subsets, spec.inference_subsets, name="tuples")
            members, weights = tuples([x, mask, key])
        else:
            members, weights = x, mask
        mode = "sum" if spec.pooling == "deepsets_sum" else "mean"
        pooled = sl.MaskedPool(mode, name="pool")([b.stack(members, "phi_dense"), weights])
        outputs = b.head(b.with_size(pooled, log_size), "rho_dense")
        name = f"sets_{spec.pooling}"
    inputs = {"x": x, "mask": mask, "size": size, "key": key}
    return keras.Model(inputs, outputs, name=name)
