"""The tf.data reader yields what the plain iterator yields, letterboxed to the network input."""

from __future__ import annotations

import numpy as np
import pytest

from clusterhpc.data.packed import PackedSplit, iterate
from clusterhpc.data.tf_datasets import detection_dataset
from tests.data.fixtures import make_entries, pack


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tfdata")
    pack({"train": make_entries(tmp / "survey", 9)}, tmp / "survey", tmp / "packed")
    return PackedSplit(tmp / "packed", "train")


def test_tf_pipeline_matches_python_iterator(split):
    plan = split.epoch_plan(seed=5, epoch=2, aug_prob=0.5)
    ds = detection_dataset(split, plan, input_size=32, batch_size=4, max_boxes=3)
    batches = list(ds.as_numpy_iterator())
    assert len(batches) == 2  # 9 images, batches of 4, remainder dropped
    expected = list(iterate(split, plan))
    for b, batch in enumerate(batches):
        assert batch["image"].shape == (4, 32, 32, 3)
        for j in range(4):
            ref = expected[b * 4 + j]
            np.testing.assert_allclose(batch["image"][j], ref.image / 255.0, atol=1e-6)
            assert batch["n_boxes"][j] == 1
            np.testing.assert_allclose(batch["boxes"][j, 0], ref.boxes[0], atol=1e-5)
            np.testing.assert_array_equal(batch["boxes"][j, 1:], 0)
            assert batch["index"][j] == plan.indices[b * 4 + j]


def test_letterbox_scales_boxes_to_input_size(split):
    plan = split.epoch_plan(seed=0, epoch=0, shuffle=False)
    batch = next(detection_dataset(split, plan, input_size=64, batch_size=1).as_numpy_iterator())
    item = split.item(0)
    np.testing.assert_allclose(batch["boxes"][0, 0], item.boxes[0] * 2, atol=1e-5)
    x1, y1, x2, y2 = (item.boxes[0] * 2).astype(int)
    # The drawn rectangle (red 250) is red inside the scaled box, away from its resampled edges.
    assert batch["image"][0, y1 + 1 : y2 - 1, x1 + 1 : x2 - 1, 0].min() > 0.9


def test_resume_from_a_batch_continues_the_same_sequence(split):
    plan = split.epoch_plan(seed=1, epoch=0)
    full = [
        b["index"]
        for b in detection_dataset(split, plan, input_size=32, batch_size=2).as_numpy_iterator()
    ]
    resumed = [
        b["index"]
        for b in detection_dataset(
            split, plan, input_size=32, batch_size=2, start_batch=2
        ).as_numpy_iterator()
    ]
    assert [list(b) for b in resumed] == [list(b) for b in full[2:]]
