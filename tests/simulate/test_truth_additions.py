"""True masses and BCG spectra of the mock survey: their statistics, and that adding them
changed no other draw."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from clusterhpc.simulate.clusters import make_clusters
from clusterhpc.simulate.cosmology import Cosmology
from clusterhpc.simulate.members import make_members
from clusterhpc.simulate.mock_footprint import build_footprint
from clusterhpc.simulate.streams import CATALOGUE, CLUSTER_MASS, stream
from tests.simulate.conftest import tiny_config

# What members.py documents: the share of clusters with Z_SPEC > 0 (measured on the
# quickstart catalogue, 21,000 clusters over the DR8 footprint).
CLUSTER_SPEC_FRACTION = 0.755


def _mean_ln_mass(lam: np.ndarray, cfg) -> np.ndarray:
    return cfg.mass_pivot_log10 * np.log(10.0) + cfg.mass_slope * np.log(lam / 40.0)


def test_mass_scatter_at_fixed_richness_and_mean_relation(big_catalogue):
    cfg, _, clusters, _ = big_catalogue
    c = cfg.simulate.clusters
    residual = clusters.ln_mass - _mean_ln_mass(clusters.lam, c)
    n = len(residual)
    assert abs(residual.mean()) < 4 * c.mass_scatter / np.sqrt(n)
    assert residual.std() == pytest.approx(c.mass_scatter, abs=4 * c.mass_scatter / np.sqrt(2 * n))
    for rows in (clusters.lam < 30, clusters.lam >= 30):  # the same scatter at every richness
        sigma = c.mass_scatter / np.sqrt(2 * rows.sum())
        assert residual[rows].std() == pytest.approx(c.mass_scatter, abs=4 * sigma)
    slope = np.polyfit(np.log(clusters.lam / 40.0), clusters.ln_mass, 1)[0]
    assert slope == pytest.approx(c.mass_slope, abs=0.06)
    assert np.exp(clusters.ln_mass).min() > 1e13  # h^-1 Msun, lambda >= 20


def _tiny_universe(*overrides: str):
    cfg = tiny_config("unused", *overrides)
    sim = cfg.simulate
    cosmo = Cosmology(sim.h0, sim.om0)
    rng = stream(cfg.seed, CATALOGUE)
    footprint = build_footprint(sim.footprint)
    clusters = make_clusters(sim.clusters, footprint, cosmo, rng, stream(cfg.seed, CLUSTER_MASS))
    return cfg, clusters, make_members(clusters, sim.clusters, cosmo, rng)


def _arrays(obj) -> dict[str, np.ndarray]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.name != "path"}


def test_mass_settings_change_only_the_masses():
    _, base_cl, base_mem = _tiny_universe()
    _, cl, mem = _tiny_universe(
        "simulate.clusters.mass_scatter=0.5", "simulate.clusters.mass_slope=1.0"
    )
    assert not np.array_equal(cl.ln_mass, base_cl.ln_mass)
    for name, values in _arrays(cl).items():
        if name != "ln_mass":
            np.testing.assert_array_equal(values, _arrays(base_cl)[name], err_msg=name)
    for name, values in _arrays(mem).items():
        np.testing.assert_array_equal(values, _arrays(base_mem)[name], err_msg=name)


def test_bcg_spectra_follow_their_settings(big_catalogue):
    cfg, _, _, mem = big_catalogue
    c = cfg.simulate.clusters
    bcg = mem.start
    has = mem.z_spec[bcg] > 0
    bright = mem.mag[bcg, 3] < c.bcg_spec_mag
    assert not has[~bright].any()
    frac = c.bcg_spec_fraction
    assert has[bright].mean() == pytest.approx(
        frac, abs=4 * np.sqrt(frac * (1 - frac) / bright.sum())
    )
    assert has.mean() == pytest.approx(CLUSTER_SPEC_FRACTION, abs=0.03)


def test_bcg_spectra_settings_keep_every_other_draw():
    _, cl, base = _tiny_universe()
    _, _, mem = _tiny_universe(
        "simulate.clusters.bcg_spec_mag=30", "simulate.clusters.bcg_spec_fraction=1.0"
    )
    np.testing.assert_array_equal(mem.z_spec[mem.start], cl.z)  # every BCG, at its true z
    satellites = np.ones(len(mem), bool)
    satellites[mem.start] = False
    np.testing.assert_array_equal(mem.z_spec[satellites], base.z_spec[satellites])
    for name, values in _arrays(mem).items():
        if name != "z_spec":
            np.testing.assert_array_equal(values, _arrays(base)[name], err_msg=name)
