"""The set networks and catalogue MLPs: invariances, exact and sampled Janossy pooling against
brute force, per-example randomness, weight files and gradients."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from clusterhpc.config import load_config
from clusterhpc.keras_compat import import_keras
from clusterhpc.models.determinism import find_unsupported
from clusterhpc.models.sets import SetModelSpec, build_set_model, set_model_spec

tf, keras = import_keras()

F, N, HIDDEN, OUTPUTS = 3, 6, 8, 2
MODELS = {
    "janossy_k1": {"pooling": "janossy", "k": 1},
    "janossy_k2": {"pooling": "janossy", "k": 2},
    "janossy_k3": {"pooling": "janossy", "k": 3},
    "pi_sgd_k2": {"pooling": "pi_sgd", "k": 2},
    "deepsets_sum": {"pooling": "deepsets_sum"},
    "deepsets_mean": {"pooling": "deepsets_mean"},
    "attention": {"pooling": "attention", "heads": 2},
    "mlp_summary": {"kind": "mlp", "mlp_input": "summary"},
    "mlp_padded": {"kind": "mlp", "mlp_input": "padded"},
}
INVARIANT = [m for m in MODELS if m not in ("pi_sgd_k2", "mlp_padded")]
ANY_N = [m for m in MODELS if m != "mlp_padded"]


@pytest.fixture(autouse=True, scope="module")
def op_determinism():
    """The trainer runs every model under op determinism; so do these tests."""
    tf.config.experimental.enable_op_determinism()


def make_spec(name: str = "deepsets_mean", **changes) -> SetModelSpec:
    values = {
        "kind": "sets",
        "pooling": "deepsets_mean",
        "mlp_input": "summary",
        "n_features": F,
        "n_outputs": OUTPUTS,
        "max_members": N,
        "hidden": HIDDEN,
        "subsets": 16,
        "inference_subsets": 32,
        **MODELS[name],
        **changes,
    }
    return SetModelSpec(**values)


def build(spec: SetModelSpec, seed: int = 0):
    keras.utils.set_random_seed(seed)
    return build_set_model(spec)


def make_batch(sizes, n_slots: int = N, seed: int = 0) -> dict[str, np.ndarray]:
    """Sets of `sizes` members in the first slots, zeros at padding, keys (i, 7)."""
    rng = np.random.default_rng(seed)
    mask = (np.arange(n_slots)[None, :] < np.asarray(sizes)[:, None]).astype(np.float32)
    x = (rng.normal(size=(len(sizes), n_slots, F)) * mask[..., None]).astype(np.float32)
    key = np.stack([np.arange(len(sizes)), np.full(len(sizes), 7)], axis=1).astype(np.int32)
    return {"x": x, "mask": mask, "size": mask.sum(axis=1), "key": key}


def run(model, batch, training: bool = False) -> np.ndarray:
    return model(batch, training=training).numpy()


def close(a, b, tol: float = 1e-5) -> None:
    np.testing.assert_allclose(a, b, atol=tol, rtol=tol)


def phi(model, tuples: np.ndarray) -> np.ndarray:
    for i in range(model_depth(model)):
        tuples = model.get_layer(f"phi_dense_{i}")(tuples)
    return np.asarray(tuples)


def rho(model, pooled: np.ndarray, size: float) -> np.ndarray:
    """rho of pooled representations (rows) of a set of `size` galaxies."""
    log_size = np.full((len(pooled), 1), np.log1p(size), np.float32)
    pooled = np.concatenate([np.asarray(pooled, np.float32), log_size], axis=1)
    for i in range(model_depth(model)):
        pooled = model.get_layer(f"rho_dense_{i}")(pooled)
    return np.asarray(model.get_layer("out")(pooled))


def model_depth(model) -> int:
    return sum(layer.name.startswith("rho_dense_") for layer in model.layers)


@pytest.mark.parametrize("name", INVARIANT)
def test_outputs_do_not_change_when_members_are_permuted(name):
    model = build(make_spec(name))
    batch = make_batch([6, 4, 2])
    rng = np.random.default_rng(1)
    perm = np.stack([rng.permutation(N) for _ in range(3)])  # padding moves between members
    shuffled = {
        "x": np.take_along_axis(batch["x"], perm[..., None], axis=1),
        "mask": np.take_along_axis(batch["mask"], perm, axis=1),
        "size": batch["size"],
        "key": batch["key"],
    }
    assert not np.array_equal(shuffled["mask"], batch["mask"])
    close(run(model, shuffled), run(model, batch))


@pytest.mark.parametrize("name", MODELS)
def test_padding_values_and_padded_length_do_not_matter(name):
    model = build(make_spec(name))
    batch = make_batch([6, 3, 1])
    noisy = dict(batch)
    junk = np.random.default_rng(2).normal(size=batch["x"].shape).astype(np.float32) * 10
    noisy["x"] = np.where(batch["mask"][..., None] > 0, batch["x"], junk)
    for training in (False, True):
        expected = run(model, batch, training)
        close(run(model, noisy, training), expected)
        if name in ANY_N:
            longer = make_batch([6, 3, 1], n_slots=N + 3)
            longer["x"][:, :N] = batch["x"]
            longer["x"][:, N:] = 5.0
            close(run(model, longer, training), expected)


@pytest.mark.parametrize("k", [2, 3])
def test_exact_janossy_is_the_mean_of_phi_over_ordered_tuples_of_distinct_members(k):
    model = build(make_spec(f"janossy_k{k}"))
    batch = make_batch([6, 1, 2])
    batch["mask"][0] = [1, 0, 1, 1, 0, 1]  # members need not be the first slots
    expected = []
    for x, mask, size in zip(batch["x"], batch["mask"], batch["size"], strict=True):
        members = np.flatnonzero(mask)
        tuples = [t for t in itertools.product(members, repeat=k) if len(set(t)) == k]
        if not tuples:  # fewer than k members: the tuples with repetition
            tuples = list(itertools.product(members, repeat=k))
        features = np.stack([x[list(t)].reshape(-1) for t in tuples])
        expected.append(rho(model, phi(model, features).mean(axis=0, keepdims=True), size)[0])
    close(run(model, batch), np.stack(expected))


def test_pi_sgd_outputs_are_a_function_of_the_key():
    model = build(make_spec("pi_sgd_k2", subsets=4, inference_subsets=8))
    batch = make_batch([6] * 4)
    batch["x"][:] = batch["x"][0]
    batch["key"] = np.array([[0, 0], [0, 0], [1, 0], [0, 1]], np.int32)
    for training in (True, False):
        out = run(model, batch, training)
        np.testing.assert_array_equal(out[0], out[1])
        np.testing.assert_array_equal(run(model, batch, training), out)
        for i, j in itertools.combinations([0, 2, 3], 2):
            assert np.abs(out[i] - out[j]).max() > 1e-4


@pytest.mark.parametrize("training", [True, False])
def test_pi_sgd_is_rho_of_the_mean_over_its_drawn_tuples(training):
    from clusterhpc.models.set_layers import sample_tuples

    spec = make_spec("pi_sgd_k2", subsets=8, inference_subsets=24)
    model = build(spec)
    batch = make_batch([6, 4, 1])
    count = spec.subsets if training else spec.inference_subsets
    index = sample_tuples(batch["mask"], batch["key"], count, spec.k).numpy()
    assert index.shape == (3, count, spec.k)
    out = run(model, batch, training)
    for b in range(3):
        f = phi(model, batch["x"][b][index[b]].reshape(count, -1))
        size = batch["size"][b]
        close(out[b], rho(model, f.mean(axis=0, keepdims=True), size)[0])
        if b == 0:  # E[rho(f)] is another model (the seed's inference bug)
            assert np.abs(rho(model, f, size).mean(axis=0) - out[b]).max() > 1e-3


def test_sampled_tuples_are_uniform_over_distinct_valid_members():
    from clusterhpc.models.set_layers import sample_tuples

    mask = np.zeros((3, N), np.float32)
    mask[0, [0, 2, 3, 5]] = 1
    mask[1, 4] = 1
    mask[2, [1, 3]] = 1
    key = np.array([[3, 1], [4, 1], [5, 1]], np.int32)
    pairs = sample_tuples(mask, key, 12000, 2).numpy()
    drawn, counts = np.unique(pairs[0], axis=0, return_counts=True)
    counts = dict(zip(map(tuple, drawn), counts, strict=True))
    assert set(counts) == set(itertools.permutations([0, 2, 3, 5], 2))
    assert all(abs(c - 1000) < 150 for c in counts.values())  # 5 sigma
    assert np.all(pairs[1] == 4)  # one member, k = 2: the tuple (m, m)
    triples = sample_tuples(mask, key, 4000, 3).numpy()
    assert {tuple(t) for t in triples[0]} == set(itertools.permutations([0, 2, 3, 5], 3))
    assert {tuple(t) for t in triples[2]} == set(itertools.product([1, 3], repeat=3))


def test_pi_sgd_converges_to_exact_janossy_like_one_over_root_subsets(tmp_path):
    exact_model = build(make_spec("janossy_k2", max_members=8))
    exact_model.save_weights(str(tmp_path / "exact.weights.h5"))
    one = make_batch([7], n_slots=8, seed=3)
    exact = run(exact_model, one)
    batch = {k: np.repeat(v, 64, axis=0) for k, v in one.items()}
    batch["key"] = np.stack([np.arange(64), np.full(64, 11)], axis=1).astype(np.int32)
    spread, error = [], []
    for subsets in (16, 256, 4096):
        model = build(make_spec("pi_sgd_k2", max_members=8, inference_subsets=subsets), seed=9)
        model.load_weights(str(tmp_path / "exact.weights.h5"))
        out = run(model, batch)
        spread.append(out.std(axis=0).mean())
        error.append(np.sqrt(np.mean((out - exact) ** 2)))
    ratios = np.array(spread[:-1]) / np.array(spread[1:])
    assert np.all((ratios > 2.5) & (ratios < 6.5)), ratios  # sqrt(16) = 4
    assert error[2] < error[1] / 2.5 < error[0] / 6, error


@pytest.mark.parametrize("name", MODELS)
def test_an_example_does_not_depend_on_the_rest_of_its_batch(name):
    model = build(make_spec(name))
    batch = make_batch([6, 3, 1])
    for training in (True, False):
        together = run(model, batch, training)
        for b in range(3):
            alone = {k: v[b : b + 1] for k, v in batch.items()}
            close(run(model, alone, training), together[b : b + 1])


@pytest.mark.parametrize("name", MODELS)
def test_weights_saved_to_h5_load_into_a_fresh_model(name, tmp_path):
    spec = make_spec(name)
    model = build(spec, seed=1)
    batch = make_batch([6, 3, 1])
    path = str(tmp_path / "model.weights.h5")
    model.save_weights(path)
    fresh = build(spec, seed=2)
    assert np.abs(run(fresh, batch) - run(model, batch)).max() > 1e-4
    fresh.load_weights(path)
    for training in (False, True):
        np.testing.assert_array_equal(run(fresh, batch, training), run(model, batch, training))


@pytest.mark.parametrize("name", MODELS)
def test_gradients_are_finite_and_reach_every_weight(name):
    model = build(make_spec(name, weight_decay=1e-3))
    kernels = [v for v in model.trainable_variables if "kernel" in v.name]
    assert len(model.losses) == len(kernels)
    batch = make_batch([6, 3, 1, 2])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(model(batch, training=True))) + tf.add_n(model.losses)
    grads = tape.gradient(loss, model.trainable_variables)
    for variable, grad in zip(model.trainable_variables, grads, strict=True):
        assert grad is not None, variable.name
        assert np.all(np.isfinite(grad)), variable.name
        if "/key/bias" not in variable.name:  # softmax ignores a bias added to every key
            assert np.abs(grad).max() > 0, variable.name


@pytest.mark.parametrize("name", MODELS)
def test_training_step_has_only_deterministic_gpu_ops(name):
    model = build(make_spec(name, weight_decay=1e-3))
    optimizer = keras.optimizers.Adam(1e-3)

    @tf.function
    def step(batch):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(model(batch, training=True))) + tf.add_n(model.losses)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    batch = make_batch([6, 2])
    graph = step.get_concrete_function(batch).graph.as_graph_def()
    assert find_unsupported(graph) == []
    before = float(step(batch))
    for _ in range(20):
        after = float(step(batch))
    assert after < before


@pytest.mark.parametrize("name", MODELS)
def test_sets_of_one_member_work(name):
    model = build(make_spec(name))
    for n_slots in (N, 1) if name in ANY_N else (N,):
        batch = make_batch([1, 1], n_slots=n_slots)
        for training in (False, True):
            assert np.all(np.isfinite(run(model, batch, training)))


@pytest.mark.parametrize("name", MODELS)
def test_mixed_precision_gives_finite_float32_outputs(name):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build(make_spec(name))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    for training in (False, True):
        out = model(make_batch([6, 3, 1]), training=training)
        assert out.dtype == tf.float32
        assert np.all(np.isfinite(out.numpy()))


def test_pi_sgd_on_a_single_member_equals_exact_janossy(tmp_path):
    exact = build(make_spec("janossy_k2"))
    sampled = build(make_spec("pi_sgd_k2"), seed=4)
    exact.save_weights(str(tmp_path / "w.h5"))
    sampled.load_weights(str(tmp_path / "w.h5"))
    batch = make_batch([1, 1, 1])
    close(run(sampled, batch, training=True), run(exact, batch))


def test_spec_comes_from_the_config():
    cfg = load_config(
        None,
        [
            "model.kind=sets",
            "model.pooling=pi_sgd",
            "model.weight_decay=0.001",
            "model.sets.k=2",
            "model.sets.hidden=32",
            "model.sets.depth=3",
            "model.sets.subsets=10",
            "model.sets.inference_subsets=100",
            "model.sets.heads=2",
            "model.sets.max_members=20",
        ],
    )
    assert set_model_spec(cfg, 5, 3) == SetModelSpec(
        "sets", "pi_sgd", "summary", 5, 3, 20, 32, 3, 2, 10, 100, 2, 0.001
    )


def test_bad_specs_are_refused_with_the_key_named():
    with pytest.raises(ValueError, match="pi_sgd"):
        build_set_model(make_spec("janossy_k3", max_members=64))
    with pytest.raises(ValueError, match=r"model\.kind"):
        build_set_model(make_spec(kind="yolo"))
    with pytest.raises(ValueError, match=r"model\.pooling"):
        build_set_model(make_spec(pooling="max"))


@pytest.mark.parametrize("name", MODELS)
def test_rho_sees_the_set_size_that_a_mean_would_forget(name):
    """Two sets with the same members but 10 and 100 galaxies before the cap: a mean over
    members cannot tell them apart, rho can (a richness needs it)."""
    model = build(make_spec(name))
    batch = make_batch([6, 6])
    batch["x"][1] = batch["x"][0]
    batch["key"][1] = batch["key"][0]
    batch["size"] = np.array([10.0, 100.0], np.float32)
    out = run(model, batch)
    assert np.abs(out[0] - out[1]).max() > 1e-4
