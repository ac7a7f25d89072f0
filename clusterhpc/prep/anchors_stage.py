"""`clusterhpc prep anchors CONFIG`: YOLO anchors by k-means on the training boxes.

Reads the packed training split (boxes after packing, clipped to the image, as the network
sees them) and writes `model.anchors` (default `<prep.out>/anchors.txt`): 9 anchors as
fractions of the image side, 3 per detection scale.
"""

from __future__ import annotations

import numpy as np

from clusterhpc.box_geometry import clip
from clusterhpc.config import Config
from clusterhpc.data.packed import PackedSplit
from clusterhpc.errors import DataError
from clusterhpc.hpc.env import rank_info
from clusterhpc.log import get_logger
from clusterhpc.models.anchors import kmeans_anchors, write_anchors
from clusterhpc.models.yolo import ANCHORS_PER_SCALE, STRIDES
from clusterhpc.paths import anchors_path, packed_dir

log = get_logger("prep.anchors")


def training_box_shapes(split: PackedSplit) -> np.ndarray:
    """(n, 2) width and height of every training box inside its image, as image fractions."""
    height, width = split.image_shape[:2]
    boxes = np.concatenate([clip(s.boxes, width, height) for s in split.shards])
    wh = (boxes[:, 2:] - boxes[:, :2]) / np.array([width, height])
    return wh[(wh > 0).all(axis=1)]


def main(cfg: Config) -> int:
    if not rank_info().is_root:
        return 0
    split = PackedSplit(packed_dir(cfg), "train")
    wh = training_box_shapes(split)
    k = len(STRIDES) * ANCHORS_PER_SCALE
    if len(wh) < k:
        raise DataError(f"{packed_dir(cfg)}: {len(wh)} training boxes, need at least {k}")
    anchors, mean_iou = kmeans_anchors(wh, k=k, seed=cfg.seed)
    path = anchors_path(cfg)
    write_anchors(path, anchors, mean_iou, len(wh))
    log.info("%d anchors from %d boxes (mean IoU %.3f) -> %s", k, len(wh), mean_iou, path)
    return 0
