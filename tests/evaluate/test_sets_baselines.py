"""Baselines of the catalogue models on hand-made member sets with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from clusterhpc import ragged
from clusterhpc.evaluate.sets_baselines import (
    brightest_member_centre,
    colour_redshift,
    colour_redshift_fit,
    mass_richness_fit,
    member_count_fit,
    member_mean_centre,
    member_photoz,
    segment_argmin,
    segment_median,
    set_baselines,
)
from clusterhpc.evaluate.sets_metrics import set_truth
from clusterhpc.io.set_shards import GALAXY_COLUMNS, META_FIELDS, MemberSets


def make_sets(
    sizes,
    ra=None,
    dec=None,
    columns: dict | None = None,
    member=None,
    **meta,
) -> MemberSets:
    """Member sets of these sizes: galaxies at (ra, dec) (default 0, 0) with the given galaxy
    columns (others NaN), all members of member sets at z 0.3, λ 30, unknown mass, unless
    `meta` says otherwise."""
    sizes = np.asarray(sizes, np.int64)
    n, k = len(sizes), int(sizes.sum())
    galaxies = np.full((k, len(GALAXY_COLUMNS)), np.nan)
    for name, values in (columns or {}).items():
        galaxies[:, GALAXY_COLUMNS.index(name)] = values
    defaults = {name: np.zeros(n, dtype) for name, dtype in META_FIELDS.items()}
    defaults |= {
        "is_cluster": np.ones(n, bool),
        "z": np.full(n, 0.3),
        "lam": np.full(n, 30.0),
        "ln_mass": np.full(n, np.nan),
    }
    defaults |= {name: np.asarray(values) for name, values in meta.items()}
    positions = np.column_stack(
        [np.zeros(k) if ra is None else ra, np.zeros(k) if dec is None else dec]
    )
    member = np.ones(k, bool) if member is None else np.asarray(member, bool)
    return MemberSets(ragged.offsets_from_counts(sizes), positions, galaxies, member, defaults)


def test_segment_median_and_argmin_skip_nan_and_empty_sets():
    values = np.array([3.0, np.nan, 1.0, 2.0, 5.0, 4.0, np.nan, 7.0, 6.0])
    offsets = np.array([0, 4, 6, 7, 7, 9])  # sizes 4, 2, 1 (NaN only), 0, 2
    np.testing.assert_allclose(segment_median(values, offsets), [2.0, 4.5, np.nan, np.nan, 6.5])
    np.testing.assert_array_equal(segment_argmin(values, offsets), [2, 5, -1, -1, 8])


def test_member_photoz_is_the_median_zred_and_unavailable_without_any():
    zred = np.array([0.2, 0.3, np.nan, 0.5, 0.1, 0.4])
    sets = make_sets([3, 3], columns={"ZRED": zred})
    np.testing.assert_allclose(member_photoz(sets), [0.25, 0.4])
    bare = make_sets([3, 3])
    assert "ZRED" in set_baselines(bare, bare)["z"]["baseline_member_photoz"].unavailable


def test_member_count_fit_recovers_a_and_b():
    sizes = np.array([5, 8, 12, 20, 33, 40, 7])
    a, b = 0.7, 0.9
    lam = np.exp(a + b * np.log(sizes))
    lam[-1] = 1e4  # a non-member set: left out of the fit
    train = make_sets(sizes, lam=lam, is_cluster=np.r_[np.ones(6, bool), False])
    fit = member_count_fit(train)
    assert fit["a"] == pytest.approx(a) and fit["b"] == pytest.approx(b)
    assert fit["n_fit"] == 6
    report = make_sets([10, 30])
    prediction = set_baselines(train, report)["lnlam"]["baseline_member_count"].prediction
    np.testing.assert_allclose(prediction, a + b * np.log([10, 30]))


def test_mass_richness_fit_uses_only_known_masses():
    lam = np.array([20.0, 30, 45, 60, 90, 150, 25])
    ln_mass = 32.5 + 1.3 * np.log(lam)
    ln_mass[-1] = np.nan
    fit = mass_richness_fit(make_sets(np.full(7, 3), lam=lam, ln_mass=ln_mass))
    assert fit["a"] == pytest.approx(32.5) and fit["b"] == pytest.approx(1.3)
    assert fit["n_fit"] == 6


def test_too_few_training_sets_make_the_line_baselines_unavailable():
    train = make_sets([4, 4])
    baselines = set_baselines(train, train)
    assert baselines["lnlam"]["baseline_member_count"].prediction is None
    assert "too few" in baselines["lnmass"]["baseline_mass_richness"].unavailable


def _colour_sets(rng, z, per_set, intercept, slope_gr, slope_ri, contaminants=0):
    """Sets whose member colours obey z = intercept + slope_gr (g-r) + slope_ri (r-i) exactly,
    plus `contaminants` non-members with random colours per set."""
    size = per_set + contaminants
    gr = rng.uniform(0.6, 1.8, (len(z), size))
    ri = (z[:, None] - intercept - slope_gr * gr) / slope_ri
    ri[:, per_set:] = rng.uniform(0.2, 0.8, (len(z), contaminants))
    i_mag = rng.uniform(17, 20, (len(z), size))
    columns = {
        "MODEL_MAG_I": i_mag.ravel(),
        "MODEL_MAG_R": (i_mag + ri).ravel(),
        "MODEL_MAG_G": (i_mag + ri + gr).ravel(),
    }
    member = np.tile(np.arange(size) < per_set, len(z))
    return make_sets(np.full(len(z), size), columns=columns, member=member, z=z)


def test_colour_fit_recovers_a_linear_relation_from_the_members_only():
    rng = np.random.default_rng(1)
    z = rng.uniform(0.1, 0.6, 40)
    train = _colour_sets(rng, z, 6, 0.05, 0.2, 0.5, contaminants=2)
    fit = colour_redshift_fit(train)
    # terms (g-r)^a (r-i)^b in the order 1, ri, ri², gr, gr ri, gr²
    np.testing.assert_allclose(fit["coefficients"], [0.05, 0.5, 0, 0.2, 0, 0], atol=1e-8)
    assert fit["n_fit"] == 40 * 6
    report_z = np.array([0.15, 0.42])
    report = _colour_sets(rng, report_z, 5, 0.05, 0.2, 0.5, contaminants=2)
    np.testing.assert_allclose(colour_redshift(report, fit), report_z, atol=1e-8)


def _expected_offsets(ra: np.ndarray, dec: np.ndarray, ra1: float, dec1: float) -> np.ndarray:
    """Gnomonic offsets (arcmin, east and north) of (ra1, dec1) from the mean unit vector of
    (ra, dec), by astropy's offset frame: (y / x, z / x) of the point there."""
    mean = SkyCoord(ra * u.deg, dec * u.deg).cartesian.xyz.mean(axis=1)
    ref = SkyCoord(*mean, representation_type="cartesian").spherical
    frame = SkyCoord(ref.lon, ref.lat).skyoffset_frame()
    x, y, z = SkyCoord(ra1 * u.deg, dec1 * u.deg).transform_to(frame).cartesian.xyz.value
    return np.degrees([y / x, z / x]) * 60


def test_brightest_member_and_member_mean_across_ra_zero_and_near_the_pole():
    ra = np.array([359.99, 0.01, 0.0, 10.0, 12.0, 14.0, 11.0])
    dec = np.array([0.0, 0.0, 0.01, 85.0, 85.01, 84.99, 85.02])
    mag_i = np.array([18.0, 17.0, 19.0, 18.5, np.nan, 18.0, 19.5])  # brightest: rows 1, 5
    true_ra, true_dec = np.array([0.005, 12.5]), np.array([0.002, 85.005])
    sets = make_sets(
        [3, 4],
        ra=ra,
        dec=dec,
        columns={"MODEL_MAG_I": mag_i},
        true_ra=true_ra,
        true_dec=true_dec,
    )
    got = brightest_member_centre(sets)
    np.testing.assert_allclose(got[0], _expected_offsets(ra[:3], dec[:3], 0.01, 0.0), atol=1e-5)
    np.testing.assert_allclose(got[1], _expected_offsets(ra[3:], dec[3:], 14.0, 84.99), atol=1e-5)
    assert np.all(np.abs(got[0]) < 1.0)  # arcmin: not the 360° wrap
    np.testing.assert_array_equal(member_mean_centre(sets), np.zeros((2, 2)))
    truth = set_truth(sets)["centre"]
    for k, rows in enumerate((slice(0, 3), slice(3, 7))):
        expected = _expected_offsets(ra[rows], dec[rows], true_ra[k], true_dec[k])
        np.testing.assert_allclose(truth[k], expected, atol=1e-5)


def test_set_baselines_have_the_shape_of_the_predictions():
    rng = np.random.default_rng(2)
    train = _colour_sets(rng, rng.uniform(0.1, 0.6, 20), 5, 0.0, 0.3, 0.2)
    report = _colour_sets(rng, np.array([0.2, 0.3, 0.5]), 5, 0.0, 0.3, 0.2)
    baselines = set_baselines(train, report)
    assert baselines["z"]["baseline_colour_fit"].prediction.shape == (3,)
    assert baselines["centre"]["baseline_brightest"].prediction.shape == (3, 2)
    assert baselines["centre"]["baseline_member_mean"].prediction.shape == (3, 2)
