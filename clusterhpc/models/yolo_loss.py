"""YOLOv3 loss (TensorFlow): GIoU box loss, focal-style objectness, class or regression term.

Per scale, following YOLOv3 as used by YOLO-CL:

- box: responsible × (2 − wh/S²) × (1 − GIoU(pred, true)), small boxes weighted up;
- objectness: |obj − σ(conf)|² × BCE, on responsible anchors and on background anchors
  whose prediction overlaps no true box and no ignore region by IoU ≥ `ignore_iou` (0.5):
  a prediction on a cluster that is visible but not a label (an ignore region, see
  `io.shards`) is neither rewarded nor penalised;
- `no_class` head: box and positive-objectness terms × weight² (the in-image area fraction);
- `class` head: BCE on (optionally smoothed) one-hot classes;
- `regression` head: Gaussian negative log-likelihood with a predicted σ per target.

Terms are summed over cells, anchors and channels, averaged over the batch, summed over scales.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clusterhpc.keras_compat import import_keras
from clusterhpc.models.yolo import ANCHORS_PER_SCALE, STRIDES, YoloSpec, clip_log_sigma


@dataclass(frozen=True)
class LossSettings:
    ignore_iou: float = 0.5
    label_smoothing: float = 0.0


def decode(raw, anchors_px, stride: int):
    """Raw map (B, G, G, 3, C) -> (xywh in input pixels, objectness logit, extra channels)."""
    tf, _ = import_keras()
    grid = tf.shape(raw)[1]
    cells = tf.cast(tf.stack(tf.meshgrid(tf.range(grid), tf.range(grid)), axis=-1), raw.dtype)
    xy = (tf.sigmoid(raw[..., 0:2]) + cells[None, :, :, None, :]) * stride
    wh = tf.exp(tf.clip_by_value(raw[..., 2:4], -10.0, 10.0)) * tf.cast(anchors_px, raw.dtype)
    return tf.concat([xy, wh], -1), raw[..., 4:5], raw[..., 5:]


def _xywh_to_xyxy(b):
    tf, _ = import_keras()
    return tf.concat([b[..., :2] - b[..., 2:] / 2, b[..., :2] + b[..., 2:] / 2], -1)


def iou_and_giou(a, b):
    """IoU and GIoU of broadcastable xywh boxes (TensorFlow)."""
    tf, _ = import_keras()
    a, b = _xywh_to_xyxy(a), _xywh_to_xyxy(b)
    area_a = tf.reduce_prod(a[..., 2:] - a[..., :2], -1)
    area_b = tf.reduce_prod(b[..., 2:] - b[..., :2], -1)
    inter = tf.reduce_prod(
        tf.maximum(tf.minimum(a[..., 2:], b[..., 2:]) - tf.maximum(a[..., :2], b[..., :2]), 0.0), -1
    )
    union = area_a + area_b - inter
    iou = tf.math.divide_no_nan(inter, union)
    hull = tf.reduce_prod(
        tf.maximum(a[..., 2:], b[..., 2:]) - tf.minimum(a[..., :2], b[..., :2]), -1
    )
    return iou, iou - tf.math.divide_no_nan(hull - union, hull)


def scale_loss(
    raw, label, true_boxes, anchors_px, stride: int, spec: YoloSpec, settings: LossSettings
) -> dict:
    """Loss terms of one scale. `true_boxes` (B, M, 4) xywh, zero rows for padding: the boxes
    (labels and ignore regions) that exempt an overlapping background prediction."""
    tf, _ = import_keras()
    pred_xywh, conf_logit, pred_extra = decode(raw, anchors_px, stride)
    respond = label[..., 4:5]
    weight = label[..., 5:6]
    pos_weight = weight**2 if spec.head == "no_class" else tf.ones_like(weight)
    size = float(spec.input_size)

    _, giou = iou_and_giou(pred_xywh, label[..., 0:4])
    box_scale = 2.0 - label[..., 2:3] * label[..., 3:4] / size**2
    box = respond * pos_weight * box_scale * (1.0 - giou[..., None])

    iou_any, _ = iou_and_giou(pred_xywh[:, :, :, :, None, :], true_boxes[:, None, None, None, :, :])
    valid = tf.cast(true_boxes[..., 2] * true_boxes[..., 3] > 0, iou_any.dtype)
    max_iou = tf.reduce_max(iou_any * valid[:, None, None, None, :], axis=-1, keepdims=True)
    background = (1.0 - respond) * tf.cast(max_iou < settings.ignore_iou, raw.dtype)
    bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=respond, logits=conf_logit)
    focal = tf.square(respond - tf.sigmoid(conf_logit))
    conf = focal * (respond * pos_weight * bce + background * bce)

    terms = {"box": box, "conf": conf}
    if spec.head == "class":
        targets = label[..., 6:]
        if settings.label_smoothing:
            targets = (
                targets * (1 - settings.label_smoothing) + settings.label_smoothing / spec.n_classes
            )
        terms["cls"] = respond * tf.nn.sigmoid_cross_entropy_with_logits(
            labels=targets, logits=pred_extra
        )
    elif spec.head == "regression":
        n = spec.n_regression
        mean = pred_extra[..., :n]
        log_sigma = clip_log_sigma(pred_extra[..., n:], tf.clip_by_value)
        z = (label[..., 6 : 6 + n] - mean) * tf.exp(-log_sigma)
        terms["reg"] = respond * (0.5 * tf.square(z) + log_sigma)
    batch = tf.cast(tf.shape(raw)[0], raw.dtype)
    return {k: tf.reduce_sum(v) / batch for k, v in terms.items()}


def yolo_loss(
    outputs,
    labels,
    true_boxes,
    anchors: np.ndarray,
    spec: YoloSpec,
    settings: LossSettings = LossSettings(),
    ignore_boxes=None,
) -> dict:
    """All terms summed over the 3 scales, plus 'total'. `anchors` (9, 2) input pixels;
    `true_boxes` and `ignore_boxes` (B, M, 4) and (B, L, 4) xywh input pixels, zero rows for
    padding: no objectness loss on a background prediction with IoU ≥ `ignore_iou` to either."""
    tf, _ = import_keras()
    anchors = np.asarray(anchors, np.float32).reshape(len(STRIDES), ANCHORS_PER_SCALE, 2)
    exempt = tf.cast(true_boxes, tf.float32)
    if ignore_boxes is not None:
        exempt = tf.concat([exempt, tf.cast(ignore_boxes, tf.float32)], axis=1)
    totals: dict = {}
    for raw, label, anchor, stride in zip(outputs, labels, anchors, STRIDES, strict=True):
        for name, value in scale_loss(
            tf.cast(raw, tf.float32), label, exempt, anchor, stride, spec, settings
        ).items():
            totals[name] = totals.get(name, 0.0) + value
    totals["total"] = tf.add_n(list(totals.values()))
    return totals
