"""Named, reproducible random streams: one per purpose and item, never per rank.

A cutout's noise, a sky cell's field objects and the catalogue each draw from their own
stream derived from (seed, purpose, index), so results do not depend on how work is split.
A new quantity gets a new purpose rather than extra draws from an existing stream, so adding
it leaves every earlier draw, catalogue column and image unchanged.
"""

from __future__ import annotations

import numpy as np

CATALOGUE, SKY_GALAXIES, SKY_STARS, CUTOUT_PLAN, CUTOUT_NOISE = range(1, 6)
# Added later, so the streams above (and every file drawn from them) stay as they were.
CLUSTER_MASS = 6  # ln M of the clusters
SKY_GALAXY_EXTRAS = 7  # per sky cell: u, z, photometric errors and zred of field galaxies


def stream(seed: int, purpose: int, index: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, purpose, index]))
