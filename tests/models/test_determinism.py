"""Every model the trainer builds has a training step that op determinism can run on a GPU.

`train.deterministic` is on by default, and on GPU TensorFlow raises at the first run of an op
with no deterministic kernel (`clusterhpc.models.determinism`). These tests build the trainer's
own training step (loss, gradients, optimizer update) for each shipped config, as a concrete
graph with op determinism enabled, and look for those ops in it and in every function it calls.
"""

from __future__ import annotations

import numpy as np
import pytest

from clusterhpc.config import load_config
from clusterhpc.keras_compat import import_keras
from clusterhpc.models.determinism import UNSUPPORTED, Unsupported, find_unsupported
from clusterhpc.train.tasks import make_task
from clusterhpc.train.trainer import Trainer
from tests.train.fixtures import ROOT, make_packed_survey

pytestmark = pytest.mark.slow

# (config, overrides): the configs' own model and train settings at a 64 px input, plus the
# two other heads on the CPU model.
CASES = {
    "quickstart": ("quickstart.yaml", ()),
    "tiny": ("tiny.yaml", ()),
    "sdss_yolo": ("sdss_yolo.yaml", ()),  # Darknet-53, width 1, mixed precision, Adam
    "tiny-class-head": ("tiny.yaml", ("model.head=class", "model.class_edges=[0.05,0.3,0.6]")),
    "tiny-regression-head": ("tiny.yaml", ("model.head=regression", "model.regression=[z,lam]")),
}


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    return make_packed_survey(tmp_path_factory.mktemp("determinism"))


@pytest.fixture
def keras_policy():
    """The trainer sets the global mixed-precision policy from the config: restore it."""
    _, keras = import_keras()
    yield
    keras.mixed_precision.set_global_policy("float32")


def training_step_graph(cfg, run):
    """The GraphDef of the trainer's compiled training step on one real batch."""
    trainer = Trainer(make_task(cfg), cfg.train, run, cfg.seed)
    trainer._setup()
    batch = next(iter(trainer.task.train_batches(0, 0, 0, 1)))
    return trainer.train_step.get_concrete_function(batch).graph.as_graph_def()


def op_types(graph_def) -> set[str]:
    ops = {node.op for node in graph_def.node}
    for function in graph_def.library.function:
        ops |= {node.op for node in function.node_def}
    return ops


@pytest.mark.parametrize("case", sorted(CASES))
def test_training_step_has_no_op_without_a_deterministic_gpu_kernel(
    case, survey, tmp_path, keras_policy
):
    name, overrides = CASES[case]
    cfg = load_config(
        ROOT / "configs" / name,
        [
            f"data.root={survey}",
            f"run.dir={tmp_path / 'run'}",
            "model.input_size=64",
            "train.batch_size=2",
            *overrides,
        ],
    )
    assert cfg.train.deterministic  # the default this test is about
    graph = training_step_graph(cfg, tmp_path / "run")
    ops = op_types(graph)
    # the gradients and the update are in the graph that was checked
    assert {"Conv2DBackpropFilter", "Conv2DBackpropInput"} <= ops
    assert ops & {"ResourceApplyAdam", "ResourceApplyKerasMomentum", "AssignSubVariableOp"}
    assert find_unsupported(graph) == []


def test_the_detector_finds_nearest_resize_gradients_and_inference_mode_batch_norm_gradients():
    """Self-check of `find_unsupported` on small graphs: the gradient of nearest-neighbour
    UpSampling2D is flagged, batch norm's gradient only in inference mode (fine-tuning)."""
    tf, keras = import_keras()
    upsample, norm = keras.layers.UpSampling2D(2), keras.layers.BatchNormalization()
    x = tf.constant(np.random.default_rng(0).normal(size=(2, 4, 4, 3)), tf.float32)

    def gradient_graph(layer, training: bool):
        @tf.function
        def step(inputs):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                loss = tf.reduce_sum(layer(inputs, training=training))
            return tape.gradient(loss, inputs)

        return step.get_concrete_function(x).graph.as_graph_def()

    assert any(
        "ResizeNearestNeighborGrad" in f for f in find_unsupported(gradient_graph(upsample, True))
    )
    assert find_unsupported(gradient_graph(norm, True)) == []
    flagged = find_unsupported(gradient_graph(norm, False))
    assert flagged and all(f.startswith("FusedBatchNormGrad") for f in flagged)
    # an op type matches its table entry only with the listed attribute values
    only_training = (Unsupported("FusedBatchNormGradV3", "test", when=(("is_training", True),)),)
    assert find_unsupported(gradient_graph(norm, True), only_training)
    assert len({entry.op_type for entry in UNSUPPORTED}) == len(UNSUPPORTED)
