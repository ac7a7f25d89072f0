"""Trainer tasks by `model.kind`."""

from __future__ import annotations

from clusterhpc.config import Config
from clusterhpc.train.task import Task


def make_task(cfg: Config) -> Task:
    if cfg.model.kind == "yolo":
        from clusterhpc.train.yolo_task import YoloTask

        return YoloTask(cfg)
    if cfg.model.kind == "cnn":
        from clusterhpc.train.cnn_task import CnnTask

        return CnnTask(cfg)
    if cfg.model.kind in ("sets", "mlp"):
        from clusterhpc.train.sets_task import SetsTask

        return SetsTask(cfg)
    raise ValueError(f"model.kind={cfg.model.kind!r} has no trainer task")
