"""Small packed classifier sets: cluster cutouts (a clump of red dots) and empty fields."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from clusterhpc.config import Config, load_config
from clusterhpc.prep.pack import ImageEntry
from tests.data.fixtures import pack
from tests.train.fixtures import ROOT, config_overrides

SPLIT_SIZES = {"train": 96, "valid": 32, "test": 32}


def sky_image(
    rng: np.random.Generator, size: int, cluster: bool, index: int, margin: float = 1 / 3
) -> np.ndarray:
    """Noise with a few white stars; a cluster adds 12 red dots around a point at least
    `margin` x size from the edges."""
    image = rng.integers(0, 50, (size, size, 3)).astype(np.uint8)
    for x, y in rng.integers(0, size, (4, 2)):
        image[y, x] = 255
    if cluster:
        centre = rng.uniform(margin * size, (1 - margin) * size, 2)
        for x, y in np.clip(centre + rng.normal(0, size / 12, (12, 2)), 0, size - 2).astype(int):
            image[y : y + 2, x : x + 2] = (230, 60, 20)
    return image


def entry(path: Path, index: int, cluster: bool, size: int) -> ImageEntry:
    z = 0.1 + 0.5 * (index % 50) / 50
    boxes = np.array([[size / 3, size / 3, 2 * size / 3, 2 * size / 3]], np.float32)
    fields = {
        "weight": [1.0],
        "cls": [0],
        "z": [z],
        "lam": [20.0 + index % 40],
        "cluster_id": [index],
        "central": [True],
    }
    return ImageEntry(
        path=path.name,
        boxes=boxes if cluster else np.zeros((0, 4), np.float32),
        box_fields=fields if cluster else {k: [] for k in fields},
        meta={
            "id": index if cluster else -1,
            "ra": 150.0 + index * 0.1,
            "dec": 2.0,
            "z": z if cluster else np.nan,
            "lam": 20.0 + index % 40 if cluster else np.nan,
            "empty": not cluster,
            "pixscale": 6.0,
        },
    )


def make_classifier_survey(
    directory: Path,
    sizes: dict[str, int] | None = None,
    size: int = 32,
    positive_fraction: float = 0.5,
    seed: int = 0,
    draw: Callable[[np.random.Generator, int, bool, int], np.ndarray] = sky_image,
) -> Path:
    """Packed train/valid/test splits of cluster and empty cutouts (pixels by `draw(rng,
    size, is_cluster, index)`), images numbered in split order; returns the survey dir."""
    survey = directory / "survey"
    survey.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    by_split, index = {}, 0
    for split, n in (sizes or SPLIT_SIZES).items():
        entries = []
        for _ in range(n):
            cluster = bool(rng.random() < positive_fraction)
            path = survey / f"img{index:05d}.png"
            Image.fromarray(draw(rng, size, cluster, index)).save(path)
            entries.append(entry(path, index, cluster, size))
            index += 1
        by_split[split] = entries
    pack(by_split, survey, survey / "packed", shard_size=32)
    return survey


CNN_SETTINGS = (
    "model.width=0.125",
    "model.input_size=32",
    "train.epochs=2",
    "train.batch_size=8",
    "train.log_every=1",
    "train.max_valid_steps=0",
)


def cnn_config(survey: Path, run: Path, *overrides: str) -> Config:
    yaml = ROOT / "configs" / "cnn_classifier.yaml"
    return load_config(yaml, config_overrides(survey, run, CNN_SETTINGS, *overrides))
