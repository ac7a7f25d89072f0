"""The class and regression heads at inference: the same log-σ clip as training, classes."""

from __future__ import annotations

import numpy as np
import pytest

from clusterhpc.box_geometry import xyxy_to_xywh
from clusterhpc.models.yolo import LOG_SIGMA_RANGE, YoloSpec, clip_log_sigma
from clusterhpc.models.yolo_postprocess import postprocess
from clusterhpc.models.yolo_targets import encode_targets
from tests.models.test_yolo_parts import ANCHORS, raw_from_labels

BOX = np.array([[20, 24, 36, 40]], float)


def _with_extra(labels: list[np.ndarray], extra: np.ndarray) -> list[np.ndarray]:
    """Raw maps that find BOX exactly, with `extra` channels on every anchor."""
    raws = raw_from_labels(labels, ANCHORS)
    return [
        np.concatenate([r, np.broadcast_to(extra, (*r.shape[:-1], len(extra)))], -1) for r in raws
    ]


@pytest.mark.parametrize("log_sigma", [-40.0, -7.5, -1.0, 0.0, 2.5, 3.5, 40.0])
def test_inference_clips_log_sigma_exactly_as_the_loss(log_sigma: float) -> None:
    from clusterhpc.keras_compat import import_keras
    from clusterhpc.models.yolo_loss import yolo_loss

    tf, _ = import_keras()
    spec = YoloSpec(64, head="regression", n_regression=1)
    target, offset = 0.3, 0.02
    labels = encode_targets(BOX, np.ones(1), np.array([[target]]), ANCHORS, 64)
    raws = _with_extra(labels, np.array([target + offset, log_sigma], np.float32))

    det = postprocess([r[0] for r in raws], ANCHORS, spec, (64, 64), score_threshold=0.5)
    sigma = det.sigmas[0, 0]
    assert sigma == pytest.approx(np.exp(np.clip(log_sigma, *LOG_SIGMA_RANGE)), rel=1e-12)
    assert det.values[0, 0] == pytest.approx(target + offset, rel=1e-6)

    loss = yolo_loss(
        [tf.constant(r, tf.float32) for r in raws],
        [tf.constant(lab[None]) for lab in labels],
        tf.constant(xyxy_to_xywh(BOX)[None], tf.float32),
        ANCHORS,
        spec,
    )
    responsible = sum(float(lab[..., 4].sum()) for lab in labels)
    expected = responsible * (0.5 * (offset / sigma) ** 2 + np.log(sigma))
    assert float(loss["reg"]) == pytest.approx(expected, rel=1e-4)


def test_clip_log_sigma_bounds() -> None:
    lo, hi = LOG_SIGMA_RANGE
    values = np.array([-100.0, lo, 0.0, hi, 100.0])
    np.testing.assert_array_equal(clip_log_sigma(values), [lo, lo, 0.0, hi, hi])


def test_class_head_predicts_the_class_and_its_probability() -> None:
    spec = YoloSpec(64, head="class", n_classes=3)
    labels = encode_targets(BOX, np.ones(1), np.eye(3)[[2]], ANCHORS, 64)
    logits = np.array([-2.0, 0.5, 1.5], np.float32)
    raws = _with_extra(labels, logits)
    det = postprocess([r[0] for r in raws], ANCHORS, spec, (64, 64), score_threshold=0.5)
    assert len(det.scores) == 1
    assert det.classes[0] == 2
    prob = 1 / (1 + np.exp(-1.5))
    assert det.class_prob[0] == pytest.approx(prob)
    assert det.scores[0] == pytest.approx(prob / (1 + np.exp(-12.0)))
