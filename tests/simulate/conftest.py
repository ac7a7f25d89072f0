"""Fixtures: one tiny simulated survey per test session, and an in-memory larger catalogue."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clusterhpc.config import Config, load_config
from clusterhpc.simulate.clusters import SimulatedClusters, make_clusters
from clusterhpc.simulate.cosmology import Cosmology
from clusterhpc.simulate.members import MemberGalaxies, make_members
from clusterhpc.simulate.mock_footprint import build_footprint
from clusterhpc.simulate.stage import main as simulate
from clusterhpc.simulate.streams import CATALOGUE, CLUSTER_MASS, stream
from clusterhpc.sky.footprint import Footprint
from tests.conftest import ROOT

TINY = ROOT / "configs" / "tiny.yaml"


def tiny_config(root: Path, *overrides: str) -> Config:
    return load_config(TINY, [f"data.root={root}", *overrides])


@pytest.fixture(scope="session")
def tiny_survey(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny config simulated once (catalogues, 24 cluster + 8 empty cutouts, 1 gallery PNG)."""
    root = tmp_path_factory.mktemp("tiny") / "survey"
    assert simulate(tiny_config(root, "simulate.gallery=1")) == 0
    return root


@pytest.fixture(scope="session")
def big_catalogue() -> tuple[Config, Footprint, SimulatedClusters, MemberGalaxies]:
    """~2,600 clusters over a 1,000 deg^2 rectangle, in memory (statistics need numbers)."""
    cfg = load_config(TINY, ["simulate.footprint.ra=[120, 160]", "simulate.footprint.dec=[0, 25]"])
    footprint = build_footprint(cfg.simulate.footprint)
    cosmo = Cosmology(cfg.simulate.h0, cfg.simulate.om0)
    rng = stream(cfg.seed, CATALOGUE)
    mass_rng = stream(cfg.seed, CLUSTER_MASS)
    clusters = make_clusters(cfg.simulate.clusters, footprint, cosmo, rng, mass_rng)
    return cfg, footprint, clusters, make_members(clusters, cfg.simulate.clusters, cosmo, rng)


def segment_ids(members: MemberGalaxies) -> np.ndarray:
    return np.repeat(np.arange(len(members.start)), members.count)
