"""A packed survey with train/valid/test splits and empty fields, and a trained tiny run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from clusterhpc.config import Config
from clusterhpc.models.anchors import kmeans_anchors, write_anchors
from clusterhpc.prep.pack import ImageEntry
from tests.data.fixtures import make_entries, pack
from tests.train.fixtures import train_config

SIZE = 64
PIXSCALE = 1.5  # arcsec/px of tests.data.fixtures images


def empty_entries(directory: Path, n: int, seed: int = 100) -> list[ImageEntry]:
    """Noise-only images (no cluster) with sky positions, as `prep empty` packs them."""
    rng = np.random.default_rng(seed)
    entries = []
    for i in range(n):
        path = directory / f"empty{i}.png"
        Image.fromarray(rng.integers(0, 60, (SIZE, SIZE, 3), dtype=np.uint8)).save(path)
        entries.append(
            ImageEntry(
                path=path.name,
                boxes=np.zeros((0, 4), np.float32),
                box_fields={k: [] for k in ("weight", "cls", "z", "lam", "cluster_id", "central")},
                meta={
                    "id": -1,
                    "ra": 200.0 + i,
                    "dec": 5.0,
                    "z": np.nan,
                    "lam": np.nan,
                    "empty": True,
                    "pixscale": PIXSCALE,
                },
            )
        )
    return entries


def make_eval_survey(
    directory: Path, n_train: int = 48, n_valid: int = 16, n_test: int = 16, n_empty: int = 6
) -> Path:
    survey = directory / "survey"
    entries = make_entries(survey, n_train + n_valid + n_test, size=SIZE)
    rng = np.random.default_rng(7)
    for entry in entries:  # spread z and λ over the headline selection
        z, lam = rng.uniform(0.12, 0.58), rng.uniform(20, 120)
        entry.box_fields.update(z=[z], lam=[lam])
        entry.meta.update(z=z, lam=lam)
    empties = empty_entries(survey, 2 * n_empty)
    a, b = n_train, n_train + n_valid
    pack(
        {
            "train": entries[:a],
            "valid": entries[a:b] + empties[:n_empty],
            "test": entries[b:] + empties[n_empty:],
        },
        survey,
        survey / "packed",
        shard_size=8,
    )
    wh = np.concatenate([e.boxes[:, 2:] - e.boxes[:, :2] for e in entries]) / SIZE
    anchors = np.concatenate([kmeans_anchors(wh, k=3, seed=0)[0] * f for f in (0.5, 1.0, 2.0)])
    write_anchors(survey / "prep" / "anchors.txt", anchors, 1.0, len(wh))
    return survey


def trained_run(directory: Path, epochs: int = 8) -> Config:
    # batch 2: ~200 steps, so that batch-norm moving statistics (momentum 0.99) settle
    """Train the tiny detector on the eval survey; returns its config (run.dir set)."""
    from clusterhpc.train.stage import main as train_main

    survey = make_eval_survey(directory)
    cfg = train_config(
        survey,
        directory / "run",
        f"train.epochs={epochs}",
        "train.batch_size=2",
        "train.augment_prob=0.5",
        "train.validate=false",
    )
    assert train_main(cfg) == 0
    return cfg
