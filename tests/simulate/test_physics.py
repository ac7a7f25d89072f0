"""The mock survey follows the physics it documents (known truth, in-memory catalogue)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from clusterhpc.config import SkyObjectsConfig
from clusterhpc.simulate import tables
from clusterhpc.simulate.cosmology import Cosmology
from clusterhpc.simulate.cutout_plan import plan_cutouts
from clusterhpc.simulate.field import sky_objects
from clusterhpc.simulate.members import nfw_projected_cdf
from clusterhpc.simulate.render import (
    DEV,
    EXP,
    POINT,
    LightProfiles,
    render,
    sersic_mixture,
    sky_sigma,
)
from clusterhpc.simulate.streams import CUTOUT_PLAN, stream
from clusterhpc.sky.geometry import separation


def test_abundance_redshift_and_size(big_catalogue):
    cfg, footprint, cl, _ = big_catalogue
    sim = cfg.simulate.clusters
    assert len(cl) == round(sim.density * footprint.area_deg2)
    assert cl.z.min() >= sim.z_min and cl.z.max() <= sim.z_max
    assert cl.lam.min() >= sim.lambda_min and cl.lam.max() <= sim.lambda_max
    # Power-law slope from the mean log: for dN/dlam ~ lam^-3 above 20, <ln(lam/20)> = 1/2.
    assert np.mean(np.log(cl.lam / sim.lambda_min)) == pytest.approx(0.5, abs=0.04)
    # Comoving volume: many more clusters at high z than at low z.
    assert (cl.z > 0.5).sum() > 5 * (cl.z < 0.2).sum()
    np.testing.assert_allclose(cl.r_lambda, (cl.lam / 100) ** 0.2)
    expected = Cosmology().arcmin(1.0, np.array([0.1]))[0]  # 1 h^-1 Mpc = 1.43 Mpc at z = 0.1
    assert expected == pytest.approx(1.0 / 0.7 * 1000 / 1.844 / 60, rel=0.01)
    assert list(cl.id) == list(range(1, len(cl) + 1))
    assert np.all(np.diff(cl.lam) <= 0)  # IDs ranked by richness as in redMaPPer


def test_member_count_and_lambda(big_catalogue):
    cfg, _, cl, mem = big_catalogue
    np.testing.assert_array_equal(mem.count, np.ceil(cl.lam / cfg.simulate.clusters.mean_p))
    lam = np.add.reduceat(mem.p * mem.p_free, mem.start)
    free = np.add.reduceat(mem.p_free, mem.start) >= cl.lam  # not shared with a richer cluster
    np.testing.assert_allclose(lam[free], cl.lam[free], rtol=1e-6)
    assert free.mean() > 0.9
    assert mem.p.mean() == pytest.approx(cfg.simulate.clusters.mean_p, abs=0.03)
    assert np.all((mem.p > 0) & (mem.p <= 1))
    assert np.all(mem.cluster[mem.start] == np.arange(len(cl)))  # contiguous, BCG first


def test_radial_profile_is_truncated_nfw(big_catalogue):
    cfg, _, cl, mem = big_catalogue
    sat = np.ones(len(mem), bool)
    sat[mem.start] = False
    x = mem.r[sat] / cl.r_lambda[mem.cluster[sat]]
    assert x.max() <= 1.0 + 1e-9
    c = cfg.simulate.clusters.concentration
    edges = np.array([0.05, 0.1, 0.2, 0.4, 0.7, 1.0])
    model = nfw_projected_cdf(edges * c) - nfw_projected_cdf(np.array([1e-5]))
    np.testing.assert_allclose(np.mean(x[:, None] <= edges, axis=0), model / model[-1], atol=0.01)
    # Surface density falls with radius with an NFW-like log slope (-1 inside, ~-2 outside).
    counts, _ = np.histogram(x, bins=edges)
    density = counts / np.diff(np.pi * edges**2)
    mid = np.sqrt(edges[1:] * edges[:-1])
    slope = np.polyfit(np.log(mid[1:]), np.log(density[1:]), 1)[0]
    assert -2.2 < slope < -1.0


@pytest.mark.parametrize("z", [0.15, 0.3, 0.45])
def test_red_sequence_colours(big_catalogue, z):
    _, _, cl, mem = big_catalogue
    near = np.abs(cl.z[mem.cluster] - z) < 0.01
    _, g, r, i, _ = mem.mag_true[near].T
    want = tables.red_sequence(np.array([z]))
    assert np.median(g - r) == pytest.approx(want["gr"][0], abs=0.05)
    assert np.median(r - i) == pytest.approx(want["ri"][0], abs=0.05)
    assert np.std(g - r) == pytest.approx(0.05, abs=0.015)  # scatter + z spread in the bin
    bright = near & (mem.mag[:, 3] < tables.mstar_i(cl.z[mem.cluster]))
    obs = mem.mag[bright, 1] - mem.mag[bright, 2]
    assert np.median(obs) == pytest.approx(want["gr"][0], abs=0.05)


def test_bcg_magnitude_and_member_limit(big_catalogue):
    _, _, cl, mem = big_catalogue
    mstar = tables.mstar_i(cl.z)
    gap = mem.mag_true[mem.start, 3] - mstar
    assert np.median(gap) == pytest.approx(-1.5, abs=0.03)
    assert np.std(gap) == pytest.approx(0.15, abs=0.03)
    assert np.all(mem.r[mem.start] == 0)
    assert np.max(mem.mag_true[:, 3] - mstar[mem.cluster]) <= tables.FAINT_LIMIT + 1e-9
    assert tables.mstar_i(np.array([0.1, 0.35, 0.6])) == pytest.approx([16.5, 19.15, 20.5])


def test_photo_z_scatter(big_catalogue):
    _, _, cl, mem = big_catalogue
    z = cl.z[mem.cluster]
    assert np.std((mem.zred - z) / (1 + z)) == pytest.approx(0.02, rel=0.05)
    spec = mem.z_spec > 0
    assert 0.05 < spec.mean() < 0.15
    assert np.all(np.abs(mem.z_spec[spec] - z[spec]) < 0.05)


def test_neighbours_in_cutouts(big_catalogue):
    """About 30 % of 13.5' cutouts around a cluster hold another cluster, ~5 % two or more."""
    cfg, footprint, cl, _ = big_catalogue
    sim = dataclasses.replace(cfg.simulate.cutouts, clusters=0, empty=0)
    plan = plan_cutouts(sim, cl, footprint, stream(cfg.seed, CUTOUT_PLAN))
    assert sim.size * sim.scale / 60 == pytest.approx(13.5, abs=0.1)
    others = plan.n_clusters - 1
    assert np.all(others >= 0)
    assert 0.22 < np.mean(others >= 1) < 0.38
    assert 0.025 < np.mean(others >= 2) < 0.09


def test_clusters_inside_footprint(big_catalogue):
    _, footprint, cl, _ = big_catalogue
    assert footprint.contains(cl.ra, cl.dec).all()
    assert footprint.area_deg2 == pytest.approx(40 * np.degrees(np.sin(np.radians(25))), rel=0.02)


def test_sersic_mixtures_have_unit_half_light_radius():
    for n in (1, 4):
        amp, var = sersic_mixture(n)
        assert amp.sum() == pytest.approx(1.0)
        assert np.sum(amp * (1 - np.exp(-0.5 / var))) == pytest.approx(0.5, abs=0.03)


def test_render_conserves_flux_and_depth():
    size = 64
    src = LightProfiles(
        x=np.array([20.3, 40.0, 31.5]),
        y=np.array([30.6, 12.2, 33.0]),
        flux=np.array([[10.0, 20.0, 30.0], [5.0, 5.0, 5.0], [1.0, 2.0, 3.0]]),
        kind=np.array([POINT, EXP, DEV]),
        r_e_px=np.array([0.0, 2.0, 1.5]),
        axis_ratio=np.array([1.0, 0.5, 0.8]),
        pa_deg=np.array([0.0, 30.0, 100.0]),
    )
    image = render(src, size, psf_sigma_px=0.6)
    np.testing.assert_allclose(image.sum(axis=(1, 2)), src.flux.sum(axis=0), rtol=1e-6)
    assert np.unravel_index(image[1].argmax(), (size, size)) == (31, 20)  # (row, column)
    # 5-sigma depth: a point source of the depth magnitude has S/N 5 in an optimal aperture.
    psf, depth = 1.2, 22.2
    sigma = sky_sigma(np.array([depth]), psf)[0]
    star = render(
        LightProfiles(
            np.array([32.0]),
            np.array([32.0]),
            np.array([[1.0]]),
            np.array([POINT]),
            np.zeros(1),
            np.ones(1),
            np.zeros(1),
        ),
        size,
        psf,
    )[0]
    snr = 10 ** (-0.4 * (depth - 22.5)) * np.sqrt((star**2).sum()) / sigma
    assert snr == pytest.approx(5.0, rel=0.05)


def test_field_counts_and_stellar_locus():
    cfg = SkyObjectsConfig()
    objs = sky_objects(150.0, 20.0, 1.2, cfg, seed=5)
    sep = np.degrees(separation(150.0, 20.0, objs.ra, objs.dec))
    area = 2 * np.pi * (1 - np.cos(np.radians(1.0))) * np.degrees(1) ** 2
    inner = sep < 1.0
    r = objs.mag_gri[:, 1]
    galaxies = np.sum(inner & ~objs.point & (r < 21)) / area
    stars = np.sum(inner & objs.point & (r < 21)) / area
    assert galaxies == pytest.approx(cfg.galaxy_density, rel=0.05)
    assert stars == pytest.approx(cfg.star_density, rel=0.1)
    faint = np.sum(inner & ~objs.point & (r < 22)) / area
    assert np.log10(faint / galaxies) == pytest.approx(cfg.galaxy_slope, abs=0.03)
    g, _, i = objs.mag_gri[objs.point].T
    gr, ri = g - objs.mag_gri[objs.point, 1], objs.mag_gri[objs.point, 1] - i
    blue = gr < 1.0
    assert np.median(ri[blue] - (0.38 * gr[blue] - 0.06)) == pytest.approx(0.0, abs=0.02)
    # The same sky in every cutout: a second query returns the same objects.
    again = sky_objects(150.0, 20.0, 1.2, cfg, seed=5)
    np.testing.assert_array_equal(again.ra, objs.ra)
