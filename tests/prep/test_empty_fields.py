"""Empty fields: brute-force check of footprint and distances, whole-cutout rule, determinism."""

from __future__ import annotations

import healpy as hp
import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord

from clusterhpc.hpc.mpi import Comm
from clusterhpc.prep.empty_fields import EmptyRules, choose_empty_fields
from clusterhpc.sky.footprint import Footprint
from clusterhpc.sky.projection import from_tan_pixels
from tests.prep.survey import write_footprint

NSIDE = 64


def setup(tmp_path):
    mask = write_footprint(tmp_path / "fp.fits", NSIDE, (100, 115), (0, 12), nest=True)
    rng = np.random.default_rng(4)
    ra, dec = rng.uniform(98, 117, 80), rng.uniform(-2, 14, 80)
    return Footprint.read(tmp_path / "fp.fits"), mask, ra, dec


def test_every_field_in_footprint_and_at_distance_by_brute_force(tmp_path):
    footprint, mask, cra, cdec = setup(tmp_path)
    rules = EmptyRules(min_sep_arcmin=40.0, max_sep_arcmin=90.0)
    f = choose_empty_fields(300, 7, footprint, cra, cdec, rules, Comm(None), chunk=128)
    assert len(f) == 300
    assert mask[hp.ang2pix(NSIDE, f.ra, f.dec, lonlat=True)].all()
    sep = SkyCoord(f.ra[:, None] * u.deg, f.dec[:, None] * u.deg).separation(
        SkyCoord(cra[None, :] * u.deg, cdec[None, :] * u.deg)
    )
    nearest = sep.arcmin.min(axis=1)
    assert np.all((nearest >= 40.0) & (nearest <= 90.0))
    np.testing.assert_allclose(f.sep_arcmin, nearest, rtol=1e-9)
    assert np.array_equal(f.nearest, sep.arcmin.argmin(axis=1))
    again = choose_empty_fields(300, 7, footprint, cra, cdec, rules, Comm(None), chunk=128)
    assert np.array_equal(again.ra, f.ra) and np.array_equal(again.dec, f.dec)
    other = choose_empty_fields(300, 8, footprint, cra, cdec, rules, Comm(None), chunk=128)
    assert not np.array_equal(other.ra, f.ra)


def test_whole_cutout_inside_footprint(tmp_path):
    footprint, mask, cra, cdec = setup(tmp_path)
    rules = EmptyRules(0.0, 600.0, whole_cutout=True, size=2048, scale=1.584508)  # 0.9° cutouts
    f = choose_empty_fields(100, 1, footprint, cra, cdec, rules, Comm(None), chunk=256)
    grid = np.linspace(0, 2048, 9)
    x, y = np.meshgrid(grid, grid)
    for ra, dec in zip(f.ra, f.dec, strict=True):
        pra, pdec = from_tan_pixels(ra, dec, x.ravel(), y.ravel(), 1.584508, 2048)
        assert mask[hp.ang2pix(NSIDE, pra, pdec, lonlat=True)].all()
    loose = choose_empty_fields(
        100, 1, footprint, cra, cdec, EmptyRules(0.0, 600.0), Comm(None), chunk=256
    )
    assert np.abs(loose.dec - 6).max() > np.abs(f.dec - 6).max()  # edges reachable without it
