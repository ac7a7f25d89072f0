"""Truth boxes written by hand for the evaluation tests."""

from __future__ import annotations

import numpy as np

from clusterhpc.evaluate.records import Truth

SIZE, SCALE = 100, 6.0  # px, arcsec/px: a 10' cutout


def truth_of(
    boxes: list[list[list[float]]],
    ids: list[list[int]] | None = None,
    centres: list[tuple[float, float]] | None = None,
    empty: list[bool] | None = None,
    *,
    central: list[list[bool]] | None = None,
    z: float = 0.3,
) -> Truth:
    """Images of SIZE px at SCALE ″/px with the given xyxy boxes (λ 30, redshift `z`); cluster
    ids, image centres, empty flags and central flags per image (default: distinct ids, (0, 0),
    not empty, no central cluster)."""
    flat = np.array([b for image in boxes for b in image], float).reshape(-1, 4)
    m, n = len(flat), len(boxes)
    centres = centres or [(0.0, 0.0)] * n
    return Truth(
        offsets=np.concatenate([[0], np.cumsum([len(b) for b in boxes])]),
        boxes=flat,
        weight=np.ones(m),
        z=np.full(m, z),
        lam=np.full(m, 30.0),
        central=np.array([c for image in central for c in image], bool)
        if central
        else np.zeros(m, bool),
        cluster_id=np.array([i for image in ids for i in image], np.int64)
        if ids
        else np.arange(m, dtype=np.int64),
        meta={
            "ra": np.array([c[0] for c in centres]),
            "dec": np.array([c[1] for c in centres]),
            "pixscale": np.full(n, SCALE),
            "empty": np.array(empty if empty is not None else [False] * n),
        },
        image_shape=(SIZE, SIZE),
    )
