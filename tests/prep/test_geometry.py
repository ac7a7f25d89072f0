"""Projections against astropy, footprint reading (RING/NESTED) and sampling, overlaps, split."""

from __future__ import annotations

import healpy as hp
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from clusterhpc.prep.overlaps import covered_fractions, union_area
from clusterhpc.prep.split import assign_groups
from clusterhpc.sky.footprint import Footprint
from clusterhpc.sky.projection import from_tan_pixels, sky_offsets, tan_wcs, to_pixels
from tests.prep.survey import write_footprint

RNG = np.random.default_rng(0)
RA0, DEC0 = 210.0, 62.0
RA = RA0 + RNG.normal(0, 0.3, 200) / np.cos(np.radians(DEC0))
DEC = DEC0 + RNG.normal(0, 0.3, 200)


def test_tan_matches_astropy_wcs_and_inverts():
    x, y = to_pixels(RA0, DEC0, RA, DEC, 0.396127, 2048, "tan")
    px, py = tan_wcs(RA0, DEC0, 0.396127, 2048).all_world2pix(RA, DEC, 0)
    np.testing.assert_allclose(x, px + 0.5, atol=1e-7)
    np.testing.assert_allclose(y, py + 0.5, atol=1e-7)
    ra, dec = from_tan_pixels(RA0, DEC0, x, y, 0.396127, 2048)
    np.testing.assert_allclose(ra, RA % 360, atol=1e-10)
    np.testing.assert_allclose(dec, DEC, atol=1e-10)


def test_seed_offsets_are_astropy_spherical_offsets():
    dlon, dlat = SkyCoord(RA0 * u.deg, DEC0 * u.deg).spherical_offsets_to(
        SkyCoord(RA * u.deg, DEC * u.deg)
    )
    east, north = sky_offsets(RA0, DEC0, RA, DEC, "seed")
    np.testing.assert_allclose(east, dlon.rad, atol=1e-14)
    np.testing.assert_allclose(north, dlat.rad, atol=1e-14)
    x, y = to_pixels(RA0, DEC0, RA, DEC, 0.5, 2048, "seed")
    np.testing.assert_allclose(x, 1024 - dlon.arcsec / 0.5, atol=1e-8)
    np.testing.assert_allclose(y, 1024 - dlat.arcsec / 0.5, atol=1e-8)


@pytest.mark.parametrize("nest", [False, True])
def test_footprint_reads_ring_and_nested(tmp_path, nest):
    mask = write_footprint(tmp_path / "fp.fits", 32, (100, 160), (0, 40), nest=nest)
    fp = Footprint.read(tmp_path / "fp.fits")
    assert np.array_equal(fp.mask, mask)
    ra, dec = fp.random_points(5000, np.random.default_rng(1))
    assert ra.size == 5000 and fp.contains(ra, dec).all()
    assert np.array_equal(fp.contains(ra, dec), mask[hp.ang2pix(32, ra, dec, lonlat=True)])


def test_random_points_are_uniform_on_the_sphere(tmp_path):
    write_footprint(tmp_path / "fp.fits", 16, (0, 360), (-90, 90))  # the whole sky
    ra, dec = Footprint.read(tmp_path / "fp.fits").random_points(40000, np.random.default_rng(2))
    z = np.sin(np.radians(dec))
    counts = np.histogram(z, bins=8, range=(-1, 1))[0]  # uniform in sin(dec)
    assert np.all(np.abs(counts - 5000) < 5 * np.sqrt(5000))
    counts = np.histogram(ra, bins=8, range=(0, 360))[0]
    assert np.all(np.abs(counts - 5000) < 5 * np.sqrt(5000))


def raster_union(rects):
    grid = np.zeros((60, 60), bool)
    for x1, y1, x2, y2 in rects:
        grid[x1 + 10 : x2 + 10, y1 + 10 : y2 + 10] = True
    return grid.sum()


def test_union_area_is_exact():
    rng = np.random.default_rng(5)
    for _ in range(50):
        lo = rng.integers(-10, 30, (6, 2))
        rects = np.column_stack([lo, lo + rng.integers(0, 20, (6, 2))])
        assert union_area(rects) == raster_union(rects)
    # three boxes over the same corner: truncated inclusion-exclusion would get 1 - 3 + 3 = 1
    box = [0, 0, 10, 10]
    others = [[5, 5, 20, 20], [5, 5, 20, 20], [5, 5, 20, 20]]
    assert covered_fractions(np.array([box, *others]))[0] == 0.25


def assign_singletons(n: int, fractions, seed: int) -> np.ndarray:
    """Items that share no sky: each one its own group."""
    return assign_groups(np.arange(n), fractions, seed)


def test_split_is_deterministic_with_exact_counts():
    a = assign_singletons(1001, [0.8, 0.1, 0.1], seed=42)
    assert np.array_equal(a, assign_singletons(1001, [0.8, 0.1, 0.1], seed=42))
    assert not np.array_equal(a, assign_singletons(1001, [0.8, 0.1, 0.1], seed=43))
    assert np.bincount(a, minlength=3).tolist() == [801, 100, 100]
    assert np.bincount(assign_singletons(7, [0.5, 0.5, 0.0], 1), minlength=3).tolist() == [4, 3, 0]
    with pytest.raises(ValueError, match="sum to"):
        assign_singletons(10, [0.5, 0.2, 0.1], 0)
