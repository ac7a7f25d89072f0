"""A packed survey whose images show z and λ: the class and regression heads can learn them.

Each cutout holds one bright square: its side grows with z (the box branch learns sizes
anyway, so a few epochs suffice for z) and its brightness with ln λ (learnt more slowly).
Each cluster has members: N ≈ λ / 2 (log-normal scatter 0.15), each with a photo-z
ZRED = z + 0.03 (1 + z) noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from clusterhpc.models.anchors import kmeans_anchors, write_anchors
from clusterhpc.prep.pack import ImageEntry, pack_shard, plan_shards, write_index
from tests.evaluate.fixtures import PIXSCALE, SIZE, empty_entries

FEATURES = ("RA", "DEC", "P", "ZRED")
SETTINGS = {"image_size": 0, "compression": "none", "member_features": list(FEATURES)}
Z_RANGE = (0.1, 0.6)
LAMBDA_RANGE = (20.0, 120.0)


def _fraction(value: float, lo: float, hi: float) -> float:
    return (value - lo) / (hi - lo)


def cluster_image(rng: np.random.Generator, z: float, lam: float) -> tuple[np.ndarray, list]:
    """Noise with a square whose side grows with z (8 to 32 px: what the box branch learns
    anyway, and unchanged by flips) and brightness with ln λ; returns image and box."""
    side = round(8 + 24 * _fraction(z, *Z_RANGE))
    brightness = 0.4 + 0.6 * _fraction(np.log(lam), *np.log(LAMBDA_RANGE))
    x1, y1 = (int(v) for v in rng.integers(0, SIZE - side, 2))
    image = rng.integers(0, 40, (SIZE, SIZE, 3), dtype=np.uint8)
    image[y1 : y1 + side, x1 : x1 + side] = np.round(brightness * np.array([250, 150, 70]))
    return image, [x1, y1, x1 + side, y1 + side]


def head_entries(directory: Path, n: int, seed: int) -> tuple[list[ImageEntry], dict]:
    """`n` cluster cutouts (PNG) and their members by cluster ID."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    entries, members = [], {}
    for i in range(n):
        cid = 5000 + i
        z = float(rng.uniform(*Z_RANGE))
        lam = float(np.exp(rng.uniform(*np.log(LAMBDA_RANGE))))
        image, box = cluster_image(rng, z, lam)
        Image.fromarray(image).save(directory / f"{cid}.png")
        n_members = max(2, round(lam / 2 * np.exp(rng.normal(0, 0.15))))
        zred = z + 0.03 * (1 + z) * rng.normal(size=n_members)
        members[cid] = np.column_stack(
            [np.full(n_members, 30.0 + i), np.full(n_members, 2.0), np.ones(n_members), zred]
        )
        entries.append(
            ImageEntry(
                path=f"{cid}.png",
                boxes=np.array([box], np.float32),
                box_fields={
                    "weight": [1.0],
                    "cls": [0],
                    "z": [z],
                    "lam": [lam],
                    "cluster_id": [cid],
                    "central": [True],
                },
                meta={
                    "id": cid,
                    "ra": 30.0 + i,
                    "dec": 2.0,
                    "z": z,
                    "lam": lam,
                    "empty": False,
                    "pixscale": PIXSCALE,
                },
            )
        )
    return entries, members


def make_head_survey(
    directory: Path, n_train: int = 64, n_valid: int = 32, n_test: int = 48, n_empty: int = 4
) -> Path:
    """Packed train/valid/test splits (empty fields in valid and test) and anchors."""
    survey = directory / "survey"
    entries, members = head_entries(survey, n_train + n_valid + n_test, seed=11)
    empties = empty_entries(survey, 2 * n_empty)
    a, b = n_train, n_train + n_valid
    splits = {
        "train": entries[:a],
        "valid": entries[a:b] + empties[:n_empty],
        "test": entries[b:] + empties[n_empty:],
    }
    results = [
        pack_shard(plan, survey / "packed", survey, SETTINGS, members, FEATURES)
        for plan in plan_shards(splits, 16)
    ]
    write_index(survey / "packed", results)
    wh = np.concatenate([e.boxes[:, 2:] - e.boxes[:, :2] for e in entries]) / SIZE
    anchors = np.concatenate([kmeans_anchors(wh, k=3, seed=0)[0] * f for f in (0.5, 1.0, 2.0)])
    write_anchors(survey / "prep" / "anchors.txt", anchors, 1.0, len(wh))
    return survey
