"""The YOLO loss leaves predictions on ignore regions alone: no objectness (no-object) penalty
where a prediction overlaps an ignore region by IoU >= ignore_iou, the usual one elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

from clusterhpc.models.yolo import YoloSpec
from clusterhpc.models.yolo_targets import encode_targets
from tests.models.test_yolo_parts import ANCHORS

SPEC = YoloSpec(64, head="no_class")
# one confident prediction at stride 16, cell (x 1, y 2), anchor 0 (12 x 12): raw xy = 0 puts
# its centre mid-cell, raw wh = 0 gives the anchor size: the box xywh (24, 40, 12, 12)
PREDICTED = np.array([24.0, 40.0, 12.0, 12.0])


def raw_maps(logit: float = 4.0) -> list[np.ndarray]:
    """Raw outputs predicting background (logit -12) everywhere but the one anchor above."""
    raws = []
    for grid in SPEC.grid_sizes():
        raw = np.zeros((1, grid, grid, 3, 5), np.float32)
        raw[..., 4] = -12.0
        raws.append(raw)
    raws[1][0, 2, 1, 0, 4] = logit
    return raws


def conf_loss(ignore_xywh: np.ndarray | None, ignore_iou: float = 0.5) -> float:
    from clusterhpc.keras_compat import import_keras
    from clusterhpc.models.yolo_loss import LossSettings, yolo_loss

    tf, _ = import_keras()
    labels = encode_targets(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 0)), ANCHORS, 64)
    ignore = None if ignore_xywh is None else tf.constant(np.reshape(ignore_xywh, (1, -1, 4)))
    terms = yolo_loss(
        [tf.constant(r) for r in raw_maps()],
        [tf.constant(lab[None]) for lab in labels],
        tf.zeros((1, 2, 4)),  # no labels in this image (padding rows only)
        ANCHORS,
        SPEC,
        LossSettings(ignore_iou=ignore_iou),
        ignore_boxes=ignore,
    )
    return float(terms["conf"])


def _shifted(dx: float) -> np.ndarray:
    return PREDICTED + np.array([dx, 0.0, 0.0, 0.0])


def test_prediction_on_an_ignore_region_has_no_objectness_loss():
    penalised = conf_loss(None)
    # focal |0 - σ(4)|² × BCE(0, 4) on the one confident anchor; the rest is ~1e-10
    sigma = 1 / (1 + np.exp(-4.0))
    assert penalised == pytest.approx(sigma**2 * np.log1p(np.exp(4.0)), rel=1e-4)
    assert conf_loss(PREDICTED[None]) < 1e-6
    assert conf_loss(np.zeros((1, 4))) == pytest.approx(penalised)  # padding exempts nothing


def test_overlap_means_iou_at_least_ignore_iou():
    penalised = conf_loss(None)
    # same-size boxes shifted by dx along x: IoU = (12 - dx) / (12 + dx)
    assert conf_loss(_shifted(3.0)[None]) < 1e-6  # IoU 0.6
    assert conf_loss(_shifted(5.0)[None]) == pytest.approx(penalised)  # IoU 0.41
    assert conf_loss(_shifted(5.0)[None], ignore_iou=0.4) < 1e-6
    # a large region containing the prediction's centre does not exempt it (IoU 0.09)
    assert conf_loss(np.array([[24.0, 40.0, 40.0, 40.0]])) == pytest.approx(penalised)
    # any one of several regions is enough
    assert conf_loss(np.stack([_shifted(-20.0), _shifted(1.0)])) < 1e-6


def test_training_batches_carry_the_ignore_regions_to_the_loss(tmp_path):
    from clusterhpc.box_geometry import clip, xyxy_to_xywh
    from clusterhpc.models.anchors import write_anchors
    from clusterhpc.train.yolo_task import YoloTask
    from tests.data.fixtures import pack
    from tests.data.test_ignore_regions import IGNORE_BOX, entries_with_ignore
    from tests.train.fixtures import train_config

    survey = tmp_path / "survey"
    entries = entries_with_ignore(survey, n=8)  # 32 px images, letterboxed to 64
    pack({"train": entries[:4], "valid": entries[4:]}, survey, survey / "packed")
    write_anchors(survey / "prep" / "anchors.txt", ANCHORS / 64, 1.0, 9)
    task = YoloTask(train_config(survey, tmp_path / "run"))
    batch = next(iter(task.valid_batches(0, 1)))  # valid: no augmentation
    expected = np.zeros((4, 4))  # model.max_boxes = 4 rows, zero padding
    expected[0] = xyxy_to_xywh(clip(np.array([IGNORE_BOX]) * 2, 64, 64))[0]  # visible part
    for row in range(4):  # every valid image has the one ignore region
        np.testing.assert_allclose(batch["ignore_boxes"][row], expected, atol=1e-5)
