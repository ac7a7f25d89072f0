"""The scaling model's pure parts (benchmarks/scaling_model.py) and the model-cost counter
(clusterhpc.models.cost), on cases worked out by hand."""

from __future__ import annotations

import argparse
import sys

import pytest

from clusterhpc.keras_compat import import_keras
from clusterhpc.models.cost import ModelCost, layer_forward_flops, model_cost
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import scaling_model as sm

MIB = 2**20


def test_ring_allreduce_bytes_by_hand():
    assert sm.ring_allreduce_bytes(1000, 1) == 0  # nothing to exchange
    assert sm.ring_allreduce_bytes(1000, 2) == 1000  # 2 x 1/2: half out, half back
    assert sm.ring_allreduce_bytes(1000, 8) == 1750  # 2 x 7/8


def test_allreduce_seconds_by_hand():
    # 4 ranks, 3 messages: 3 x 2 x 3 steps of 10 us, then 1.5 MB at 1 GB/s
    assert sm.allreduce_seconds(1e6, 4, 3, 1e-5, 1e9) == pytest.approx(1.8e-4 + 1.5e-3)
    assert sm.allreduce_seconds(1e6, 1, 3, 1e-5, 1e9) == 0


def test_allreduce_messages_fused_and_unfused():
    assert sm.allreduce_messages(234.7 * MIB, 222, 0) == 222  # fusion off: one per tensor
    assert sm.allreduce_messages(234.7 * MIB, 222, 64 * MIB) == 4
    assert sm.allreduce_messages(117.4 * MIB, 222, 64 * MIB) == 2  # float16
    assert sm.allreduce_messages(8 * MIB, 114, 64 * MIB) == 1
    assert sm.allreduce_messages(100 * MIB, 3, 1 * MIB) == 3  # never more than the tensors


def test_tree_latency_and_sync_batchnorm_by_hand():
    assert sm.tree_latency_seconds(1, 1e-5) == 0
    assert sm.tree_latency_seconds(2, 1e-5) == pytest.approx(2e-5)  # 1 level up and down
    assert sm.tree_latency_seconds(256, 1e-5) == pytest.approx(16e-5)  # 8 levels
    assert sm.tree_latency_seconds(200, 1e-5) == pytest.approx(16e-5)  # rounds up
    assert sm.sync_batchnorm_seconds(72, 1, 1e-3, 2e-4, 1e-5) == 0  # one rank: local statistics
    # 4 sequential all-reduces per layer, each one cycle (longer than the op) + 2 x 3 levels
    assert sm.sync_batchnorm_seconds(72, 8, 1e-3, 2e-4, 1e-5) == pytest.approx(
        4 * 72 * (1e-3 + 6e-5)
    )
    # a cycle shorter than the op's own overhead: the overhead counts
    assert sm.sync_batchnorm_seconds(10, 2, 1e-4, 2.5e-4, 0) == pytest.approx(4 * 10 * 2.5e-4)


def test_fit_recovers_latency_and_bandwidth():
    sizes = [4e3, 6.5e4, 1e6, 4e6, 1.6e7, 6.4e7]
    times = [sm.allreduce_seconds(s, 2, 1, 20e-6, 3e9) for s in sizes]
    alpha, bandwidth = sm.fit_latency_bandwidth(sizes, times, 2)
    assert alpha == pytest.approx(20e-6) and bandwidth == pytest.approx(3e9)


def test_fit_without_a_resolved_latency_gives_zero_alpha():
    sizes = [1e6, 4e6, 1.6e7]
    times = [s / 2e9 - 1e-4 for s in sizes]  # a negative intercept: no latency to see
    alpha, bandwidth = sm.fit_latency_bandwidth(sizes, times, 2)
    assert alpha == 0 and 1.9e9 < bandwidth < 2.3e9


def _args(**changes) -> argparse.Namespace:
    values = dict(
        gpu="a100",
        achieved=0.25,
        network="hdr",
        nics_per_node=1,
        gpus_per_node=4,
        alpha_us=5.0,
        link_efficiency=0.8,
        fusion_mb=64.0,
        cycle_ms=1.0,
        op_ms=0.25,
        max_batch_per_gpu=8,
        max_global_batch=256,
    )
    return argparse.Namespace(**{**values, **changes})


def test_ring_bandwidth_nvlink_inside_a_node_network_across():
    args = _args()
    assert sm.ring_bandwidth(4, args) == pytest.approx(300e9 * 0.8)
    assert sm.ring_bandwidth(8, args) == pytest.approx(25e9 * 0.8)  # 200 Gbit/s
    assert sm.ring_bandwidth(8, _args(nics_per_node=4)) == pytest.approx(100e9 * 0.8)


def test_prediction_caps_the_global_batch_and_fp16_halves_the_bytes():
    cost = ModelCost(60_000_000, 60_000_000, 222, 4e11, activation_values=0, batch_norm_layers=72)
    args = _args()
    eight, many = sm.predict(cost, args, 8), sm.predict(cost, args, 256)
    assert (eight.batch_per_gpu, eight.global_batch) == (8, 64)
    assert (many.batch_per_gpu, many.global_batch) == (1, 256)
    assert eight.compute_s == pytest.approx(8 * 1.2e12 / (312e12 * 0.25))
    ring = sm.ring_allreduce_bytes(240e6, 8) / 20e9
    assert eight.fused_s == pytest.approx(1e-3 + 4 * 14 * 5e-6 + ring)
    assert eight.fused_fp16_s == pytest.approx(1e-3 + 2 * 14 * 5e-6 + ring / 2)
    assert eight.unfused_s > eight.fused_s
    assert eight.sync_batchnorm_s == pytest.approx(4 * 72 * (1e-3 + 2 * 3 * 5e-6))
    assert eight.step_s() == pytest.approx(
        eight.compute_s + eight.sync_batchnorm_s + eight.fused_fp16_s
    )
    assert eight.images_per_s(sync_batchnorm=False) == pytest.approx(
        64 / (eight.compute_s + eight.fused_fp16_s)
    )
    assert eight.efficiency(eight.fused_s, sync_batchnorm=False, hidden_s=1.0) == 1.0
    assert eight.efficiency(0.0) == pytest.approx(
        eight.compute_s / (eight.compute_s + eight.sync_batchnorm_s)
    )


def test_conv2d_flops_by_hand():
    _, keras = import_keras()
    inputs = keras.Input((8, 8, 3))
    same = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)
    strided = keras.layers.Conv2D(5, 3, strides=2, use_bias=True)  # valid: 8 -> 3
    model = keras.Model(inputs, strided(same(inputs)))
    assert layer_forward_flops(same) == 2 * 3 * 3 * 3 * 4 * 8 * 8
    assert layer_forward_flops(strided) == 2 * 3 * 3 * 4 * 5 * 3 * 3 + 5 * 3 * 3  # + bias adds
    cost = model_cost(model)
    assert cost.forward_flops == 2 * 3 * 3 * 3 * 4 * 8 * 8 + 2 * 3 * 3 * 4 * 5 * 3 * 3 + 45
    assert cost.training_flops == 3 * cost.forward_flops
    assert cost.activation_values == 8 * 8 * 4 + 3 * 3 * 5


def test_dense_batchnorm_and_activations_by_hand():
    _, keras = import_keras()
    inputs = keras.Input((10,))
    dense = keras.layers.Dense(6)
    norm = keras.layers.BatchNormalization()
    leaky = keras.layers.LeakyReLU()
    hidden = dense(inputs)
    model = keras.Model(inputs, keras.layers.Add()([leaky(norm(hidden)), hidden]))
    assert layer_forward_flops(dense) == 2 * 10 * 6 + 6
    assert layer_forward_flops(norm) == 2 * 6
    assert layer_forward_flops(leaky) == 2 * 6
    assert model_cost(model).forward_flops == (2 * 10 * 6 + 6) + 12 + 12 + 6  # Add: 6


def test_a_shared_layer_is_refused():
    _, keras = import_keras()
    inputs = keras.Input((6,))
    dense = keras.layers.Dense(6)
    with pytest.raises(ValueError, match="called more than once"):
        model_cost(keras.Model(inputs, dense(dense(inputs))))


def test_a_layer_with_weights_and_no_rule_is_refused():
    _, keras = import_keras()
    inputs = keras.Input((4, 3))
    model = keras.Model(inputs, keras.layers.LayerNormalization()(inputs))
    with pytest.raises(ValueError, match="no FLOP rule"):
        model_cost(model)


def test_tiny_yolo_counts_match_keras_and_the_profiler():
    from train_throughput import count_forward_flops

    from clusterhpc.models.yolo import YoloSpec, build_yolo

    model = build_yolo(YoloSpec(64, backbone="tiny", width=0.25, sync_batchnorm=False))
    cost = model_cost(model)
    assert cost.parameters == model.count_params()
    assert cost.trainable_parameters == sum(v.shape.num_elements() for v in model.trainable_weights)
    assert cost.gradient_tensors == len(model.trainable_variables)
    assert cost.gradient_bytes(2) * 2 == cost.gradient_bytes(4)
    assert 3 * cost.batch_norm_layers + 6 == cost.gradient_tensors  # kernel, gamma, beta; 3 heads
    # the profiler counts the same convolutions; the element-wise ops differ by about 1 %
    assert cost.forward_flops == pytest.approx(count_forward_flops(model, 64), rel=0.03)
