"""Small packed datasets made from synthetic images with known boxes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from clusterhpc.prep.pack import ImageEntry, pack_shard, plan_shards, write_index

FEATURES = ("RA", "DEC", "P")
SETTINGS = {"image_size": 0, "compression": "none"}


def box_image(size: int, box: tuple[int, int, int, int], seed: int) -> np.ndarray:
    """Noise image with one bright filled rectangle at `box` (x1, y1, x2, y2)."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
    x1, y1, x2, y2 = box
    image[y1:y2, x1:x2] = (250, 40, 10)
    return image


def make_entries(directory: Path, n: int, size: int = 32, seed: int = 0) -> list[ImageEntry]:
    """`n` PNG files (lossless) with one box each, plus their entries."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    entries = []
    for i in range(n):
        x1, y1 = rng.integers(0, size // 2, 2)
        w, h = rng.integers(4, size // 2, 2)
        box = (int(x1), int(y1), int(x1 + w), int(y1 + h))
        path = directory / f"{1000 + i}.png"
        Image.fromarray(box_image(size, box, seed + i)).save(path)
        entries.append(
            ImageEntry(
                path=path.name,
                boxes=np.array([box], np.float32),
                box_fields={
                    "weight": [1.0],
                    "cls": [0],
                    "z": [0.1 + i / 100],
                    "lam": [20.0 + i],
                    "cluster_id": [1000 + i],
                    "central": [True],
                },
                meta={
                    "id": 1000 + i,
                    "ra": 10.0 + i,
                    "dec": -1.0,
                    "z": 0.1 + i / 100,
                    "lam": 20.0 + i,
                    "empty": False,
                    "pixscale": 1.5,
                },
            )
        )
    return entries


def members_for(entries: list[ImageEntry]) -> dict[int, np.ndarray]:
    return {
        int(e.meta["id"]): np.full((3 + k % 4, len(FEATURES)), float(k))
        for k, e in enumerate(entries)
    }


def pack(
    entries_by_split: dict[str, list[ImageEntry]], root: Path, out: Path, shard_size: int = 4
) -> dict:
    """Pack serially into `out`; returns the index."""
    members = members_for([e for es in entries_by_split.values() for e in es])
    results = [
        pack_shard(plan, out, root, SETTINGS, members, FEATURES)
        for plan in plan_shards(entries_by_split, shard_size)
    ]
    return write_index(out, results)
