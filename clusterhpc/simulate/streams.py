"""Named, reproducible random streams: one per purpose and item, never per rank.

A cutout's noise, a sky cell's field objects and the catalogue each draw from their own
stream derived from (seed, purpose, index), so results do not depend on how work is split.
"""

from __future__ import annotations

import numpy as np

CATALOGUE, SKY_GALAXIES, SKY_STARS, CUTOUT_PLAN, CUTOUT_NOISE = range(1, 6)


def stream(seed: int, purpose: int, index: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, purpose, index]))
