"""YOLO building blocks on hand-made cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from clusterhpc.box_geometry import paired_giou, pairwise_giou, pairwise_iou, xyxy_to_xywh
from clusterhpc.models.anchors import kmeans_anchors
from clusterhpc.models.yolo import STRIDES, YoloSpec
from clusterhpc.models.yolo_postprocess import nms, postprocess
from clusterhpc.models.yolo_targets import encode_targets

ANCHORS = np.array(
    [(4, 4), (6, 6), (8, 8), (12, 12), (16, 16), (20, 20), (28, 28), (36, 36), (48, 48)], float
)


def test_iou_and_giou_known_values():
    a = np.array([[0, 0, 2, 2]])
    assert pairwise_iou(a, [[1, 1, 3, 3]])[0, 0] == pytest.approx(1 / 7)
    assert pairwise_giou(a, [[1, 1, 3, 3]])[0, 0] == pytest.approx(1 / 7 - 2 / 9)
    assert pairwise_giou([[0, 0, 1, 1]], [[2, 0, 3, 1]])[0, 0] == pytest.approx(-1 / 3)
    assert pairwise_giou(a, a)[0, 0] == pytest.approx(1.0)
    # element-wise pairs: the diagonal of the matrix, degenerate (zero-area) boxes included
    b = np.array([[0, 0, 2, 2], [1, 1, 3, 3], [2, 0, 3, 1], [5, 5, 5, 5]], float)
    c = np.array([[1, 1, 3, 3], [1, 1, 3, 3], [0, 0, 1, 1], [5, 5, 5, 5]], float)
    np.testing.assert_allclose(paired_giou(b, c), np.diag(pairwise_giou(b, c)))
    assert paired_giou(b, c)[:3] == pytest.approx([1 / 7 - 2 / 9, 1.0, -1 / 3])


def test_target_lands_in_expected_cells_and_anchors():
    labels = encode_targets(
        np.array([[20, 24, 36, 40]]), np.array([0.8]), np.zeros((1, 0)), ANCHORS, input_size=64
    )
    assert [lab.shape for lab in labels] == [(8, 8, 3, 6), (4, 4, 3, 6), (2, 2, 3, 6)]
    # wh 16x16: anchor IoUs at stride 8 are all < 0.3; at stride 16 all three are > 0.3;
    # at stride 32 only the 28x28 anchor (IoU 0.33).
    assert labels[0][..., 4].sum() == 0
    assert np.argwhere(labels[1][..., 4] == 1).tolist() == [[2, 1, 0], [2, 1, 1], [2, 1, 2]]
    assert np.argwhere(labels[2][..., 4] == 1).tolist() == [[1, 0, 0]]
    np.testing.assert_allclose(labels[1][2, 1, 0], [28, 32, 16, 16, 1, 0.8])


def test_best_anchor_fallback_and_clipping():
    labels = encode_targets(
        np.array([[4, 4, 6, 6], [-10, 50, 10, 70]]),
        np.ones(2),
        np.zeros((2, 0)),
        ANCHORS,
        input_size=64,
    )
    # 2x2 box: best anchor is 4x4 (IoU 0.25 < 0.3) at stride 8, cell (0, 0).
    assert labels[0][0, 0, 0, 4] == 1
    # The box sticking out of the image is clipped to x 0..10, y 50..64 before assignment.
    clipped = [lab[..., :4][lab[..., 4] == 1] for lab in labels]
    assert any(np.allclose(c, [5, 57, 10, 14]) for group in clipped for c in group)


def test_boxes_entirely_outside_the_image_give_empty_targets():
    labels = encode_targets(
        np.array([[-30, 5, -10, 20], [70, 70, 90, 90]]),
        np.ones(2),
        np.zeros((2, 1)),
        ANCHORS,
        input_size=64,
    )
    assert [lab.shape[-1] for lab in labels] == [7, 7, 7]
    assert all(not lab.any() for lab in labels)


def test_nms_and_soft_nms_on_known_set():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], float)
    scores = np.array([0.9, 0.8, 0.7])
    kept, kept_scores = nms(boxes, scores, iou_threshold=0.45)
    assert kept.tolist() == [0, 2]
    iou = pairwise_iou(boxes[:1], boxes[1:2])[0, 0]
    kept, kept_scores = nms(boxes, scores, method="soft-nms", sigma=0.3, score_threshold=0.1)
    assert kept.tolist() == [0, 2, 1]
    assert kept_scores[2] == pytest.approx(0.8 * np.exp(-(iou**2) / 0.3))
    kept, _ = nms(boxes, scores, method="soft-nms", sigma=0.3, score_threshold=0.2)
    assert kept.tolist() == [0, 2]


def test_kmeans_recovers_true_anchor_shapes():
    rng = np.random.default_rng(1)
    truth = np.array([[10, 10], [30, 15], [60, 60]], float)
    wh = np.concatenate([t * rng.normal(1, 0.03, (200, 2)) for t in truth])
    anchors, mean_iou = kmeans_anchors(wh, k=3, seed=4)
    np.testing.assert_allclose(anchors, truth, rtol=0.05)
    assert mean_iou > 0.9
    again, _ = kmeans_anchors(wh, k=3, seed=4)
    np.testing.assert_array_equal(anchors, again)
    with pytest.raises(ValueError, match="at least 9 boxes"):
        kmeans_anchors(wh[:5], k=9)


def _logit(p):
    return np.log(p / (1 - p))


def raw_from_labels(labels, anchors, exact=True):
    """Raw maps that decode exactly to the label boxes, confident where responsible."""
    raws = []
    for label, anchor, stride in zip(labels, anchors.reshape(3, 3, 2), STRIDES, strict=True):
        grid = label.shape[0]
        gy, gx = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
        cells = np.stack([gx, gy], -1)[:, :, None, :]
        raw = np.zeros((*label.shape[:3], 5), np.float32)
        obj = label[..., 4] == 1
        frac = np.clip(label[..., 0:2] / stride - cells, 1e-4, 1 - 1e-4)
        raw[..., 0:2] = np.where(obj[..., None], _logit(frac), 0)
        wh = np.where(obj[..., None], label[..., 2:4] / anchor, 1.0)
        raw[..., 2:4] = np.log(wh * (1.0 if exact else 1.5))
        raw[..., 4] = np.where(obj, 12.0, -12.0)
        raws.append(raw[None])
    return raws


def test_loss_is_zero_for_perfect_prediction_and_grows_otherwise():
    from clusterhpc.keras_compat import import_keras
    from clusterhpc.models.yolo_loss import iou_and_giou, yolo_loss

    tf, _ = import_keras()
    a = xyxy_to_xywh(np.array([[0, 0, 2, 2], [0, 0, 1, 1]], float))
    b = xyxy_to_xywh(np.array([[1, 1, 3, 3], [2, 0, 3, 1]], float))
    _, giou = iou_and_giou(tf.constant(a), tf.constant(b))
    np.testing.assert_allclose(giou.numpy(), [1 / 7 - 2 / 9, -1 / 3], rtol=1e-6)

    spec = YoloSpec(64, head="no_class")
    boxes = np.array([[20, 24, 36, 40], [2, 40, 14, 60]], float)
    labels = encode_targets(boxes, np.ones(2), np.zeros((2, 0)), ANCHORS, 64)
    true_boxes = tf.constant(xyxy_to_xywh(boxes)[None], tf.float32)
    tf_labels = [tf.constant(lab[None]) for lab in labels]
    perfect = yolo_loss(
        [tf.constant(r) for r in raw_from_labels(labels, ANCHORS)],
        tf_labels,
        true_boxes,
        ANCHORS,
        spec,
    )
    assert float(perfect["box"]) < 1e-2  # centre fractions clipped to 1e-4 from cell edges
    assert float(perfect["total"]) < 1e-2
    wrong = yolo_loss(
        [tf.constant(r) for r in raw_from_labels(labels, ANCHORS, exact=False)],
        tf_labels,
        true_boxes,
        ANCHORS,
        spec,
    )
    assert float(wrong["box"]) > 0.5


def test_postprocess_recovers_boxes_in_image_pixels():
    spec = YoloSpec(64, head="no_class")
    boxes = np.array([[20, 24, 36, 40]], float)
    labels = encode_targets(boxes, np.ones(1), np.zeros((1, 0)), ANCHORS, 64)
    raws = [r[0] for r in raw_from_labels(labels, ANCHORS)]
    det = postprocess(raws, ANCHORS, spec, image_shape=(128, 128), score_threshold=0.5)
    assert len(det.boxes) == 1  # 4 responsible anchors, merged by NMS
    np.testing.assert_allclose(det.boxes[0], boxes[0] * 2, atol=0.05)
    assert det.scores[0] > 0.99


def test_layer_names_do_not_depend_on_earlier_models(tmp_path):
    from clusterhpc.models.yolo import build_yolo

    spec = YoloSpec(64, backbone="tiny", width=0.25)
    first = build_yolo(spec)
    build_yolo(YoloSpec(64, backbone="tiny", width=0.5))
    second = build_yolo(spec)
    assert [layer.name for layer in first.layers] == [layer.name for layer in second.layers]
    first.save_weights(str(tmp_path / "w.weights.h5"))
    second.load_weights(str(tmp_path / "w.weights.h5"))
    for a, b in zip(first.weights, second.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_upsampling_equals_nearest_upsampling2d():
    """The neck's broadcast-and-reshape upsampling computes what UpSampling2D (nearest) does;
    its gradient is checked in tests/models/test_determinism.py."""
    from clusterhpc.keras_compat import import_keras
    from clusterhpc.models.yolo import upsample_nearest_2x

    tf, keras = import_keras()
    x = tf.constant(np.random.default_rng(0).normal(size=(2, 5, 7, 3)), tf.float32)
    expected = keras.layers.UpSampling2D(2)(x)
    np.testing.assert_array_equal(upsample_nearest_2x(x).numpy(), expected.numpy())
