"""YOLO settings from the config: the network spec and each head's per-box targets."""

from __future__ import annotations

import numpy as np

from clusterhpc.config import Config
from clusterhpc.errors import DataError
from clusterhpc.models.yolo import YoloSpec


def yolo_spec(cfg: Config) -> YoloSpec:
    m = cfg.model
    if m.head == "class" and len(m.class_edges) < 2:
        raise DataError("model.class_edges: the class head needs at least 2 bin edges")
    return YoloSpec(
        input_size=m.input_size,
        head=m.head,
        n_classes=max(len(m.class_edges) - 1, 1),
        n_regression=len(m.regression),
        backbone=m.backbone,
        width=m.width,
        weight_decay=m.weight_decay,
        sync_batchnorm=m.sync_batchnorm,
        bn_momentum=m.bn_momentum,
    )


def z_class(z: np.ndarray, edges) -> np.ndarray:
    """The class head's class of each redshift: its bin of `edges`, the end bins open-ended."""
    edges = np.asarray(edges, np.float64)
    return np.clip(np.digitize(z, edges) - 1, 0, len(edges) - 2)


def box_extra_targets(cfg: Config, z: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Per-box extra targets of the head: one-hot z bin, regression values, or nothing."""
    m = cfg.model
    if m.head == "class":
        return np.eye(len(m.class_edges) - 1, dtype=np.float32)[z_class(z, m.class_edges)]
    if m.head == "regression":
        columns = {"z": z, "lam": np.log(np.maximum(lam, 1e-3))}
        return np.stack([columns[name] for name in m.regression], 1).astype(np.float32)
    return np.zeros((len(z), 0), np.float32)
