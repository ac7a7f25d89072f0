"""galaxies/galaxies.fits of `simulate.galaxies.write`: prep query's layout, the members and
field galaxies inside each aperture and cut, and nothing else of the survey changed."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from clusterhpc.cli import main as cli_main
from clusterhpc.config import QueryConfig
from clusterhpc.simulate import tables
from clusterhpc.simulate.clusters import SIMULATED, SimulatedClusters, richness_r
from clusterhpc.simulate.cosmology import Cosmology
from clusterhpc.simulate.field import CELL_NSIDE, sky_objects
from clusterhpc.simulate.galaxies import FIELD_OBJID_BASE, Photometry, aperture_galaxies
from clusterhpc.simulate.members import make_members
from clusterhpc.simulate.stage import RECIPE
from clusterhpc.simulate.stage import main as simulate
from clusterhpc.simulate.streams import CATALOGUE, stream
from clusterhpc.sky.geometry import separation
from tests.conftest import run_mpi
from tests.prep.skyserver_stub import SkyServerStub
from tests.simulate.conftest import TINY, tiny_config
from tests.simulate.test_outputs import digests

GALAXIES = "galaxies/galaxies.fits"


@pytest.fixture(scope="module")
def galaxy_survey(tmp_path_factory: pytest.TempPathFactory):
    """The tiny survey again, with galaxies.fits (images too, to compare them)."""
    root = tmp_path_factory.mktemp("galaxies") / "survey"
    assert simulate(tiny_config(root, "simulate.galaxies.write=true")) == 0
    return root


def test_nothing_else_changes_with_galaxies(galaxy_survey, tiny_survey):
    assert not (tiny_survey / GALAXIES).exists()  # off by default
    assert digests(galaxy_survey) == digests(tiny_survey)  # catalogues, truth and JPEGs
    assert (galaxy_survey / RECIPE).read_text() == (tiny_survey / RECIPE).read_text()


def test_layout_is_prep_querys(galaxy_survey, tmp_path):
    ours = Table.read(galaxy_survey / GALAXIES)
    assert ours.colnames == ["CLUSTER_ID", *QueryConfig().columns, "zred", "zred_e"]
    served = ours[ours["CLUSTER_ID"] <= 2]
    served.remove_columns(["CLUSTER_ID", "zred", "zred_e"])
    out = tmp_path / "queried"
    with SkyServerStub([], galaxies=served) as stub:
        code = cli_main(
            [
                "prep",
                "query",
                str(TINY),
                f"data.root={galaxy_survey}",
                f"query.url={stub.sql_url}",
                f"query.out={out}",
                "query.batch=500",
                "query.rate=0",
            ]
        )
    assert code == 0
    queried = fits.getdata(out / "galaxies.fits", 1)
    mine = fits.getdata(galaxy_survey / GALAXIES, 1)
    assert len(queried) > 0
    assert [(n, queried.dtype[n].str) for n in queried.dtype.names] == [
        (n, mine.dtype[n].str) for n in mine.dtype.names[:-2]
    ]


def _truth(root):
    return fits.getdata(root / "truth.fits", "CLUSTERS")


def _cuts(truth, cfg) -> tuple[np.ndarray, np.ndarray]:
    radius = cfg.simulate.galaxies.radius_r_lambda * truth["R_LAMBDA_ARCMIN"] / 60.0
    cut = tables.mstar_i(truth["Z"]) + tables.FAINT_LIMIT + cfg.simulate.galaxies.mag_margin
    return radius, cut


def test_rows_inside_radius_and_brighter_than_the_cut(galaxy_survey):
    gal = fits.getdata(galaxy_survey / GALAXIES, 1)
    truth = _truth(galaxy_survey)
    radius, cut = _cuts(truth, tiny_config(galaxy_survey))
    row = gal["CLUSTER_ID"] - 1
    sep = np.degrees(separation(truth["RA"][row], truth["DEC"][row], gal["ra"], gal["dec"]))
    assert np.all(sep <= radius[row] + 1e-9)
    assert np.all(gal["modelMag_i"] < cut[row])
    assert np.all(gal["type"] == 3)
    assert np.all(np.diff(gal["CLUSTER_ID"]) >= 0)
    same = np.diff(gal["CLUSTER_ID"]) == 0
    assert np.all(np.diff(gal["objID"])[same] > 0)  # by cluster, then objID, no duplicate
    assert set(gal["CLUSTER_ID"]) == set(truth["ID"])  # every BCG at least


def test_every_member_inside_is_there_as_in_members_fits(galaxy_survey):
    gal = fits.getdata(galaxy_survey / GALAXIES, 1)
    mem = fits.getdata(galaxy_survey / "members.fits", 1)
    truth = _truth(galaxy_survey)
    radius, cut = _cuts(truth, tiny_config(galaxy_survey))
    sep = np.degrees(
        separation(truth["RA"][:, None], truth["DEC"][:, None], mem["RA"][None], mem["DEC"][None])
    )
    inside = (sep <= radius[:, None]) & (mem["IMAG"][None] < cut[:, None])
    cluster, member = np.nonzero(inside)
    expected = set(zip(truth["ID"][cluster].tolist(), mem["OBJID"][member].tolist(), strict=True))
    is_member = gal["objID"] < FIELD_OBJID_BASE
    found = set(
        zip(gal["CLUSTER_ID"][is_member].tolist(), gal["objID"][is_member].tolist(), strict=True)
    )
    assert found == expected
    owner = mem["ID"][np.array([o for _, o in expected]) - mem["OBJID"][0]]
    assert (owner != np.array([c for c, _ in expected])).any()  # neighbours' members too
    rows = gal["objID"][is_member] - mem["OBJID"][0]
    same = [("ra", "RA"), ("dec", "DEC"), ("zred", "ZRED"), ("zred_e", "ZRED_E")]
    same += [(f"modelMag_{b}", f"MODEL_MAG_{b.upper()}") for b in "ugriz"]
    same += [(f"modelMagErr_{b}", f"MODEL_MAGERR_{b.upper()}") for b in "ugriz"]
    for ours, theirs in same:
        np.testing.assert_array_equal(gal[ours][is_member], mem[theirs][rows], err_msg=ours)


def _clusters(ra, dec, z, lam, cfg) -> SimulatedClusters:
    """Hand-placed clusters (RA, Dec, z, lambda arrays) in the simulator's form."""
    ra, dec, z, lam = (np.asarray(v, float) for v in (ra, dec, z, lam))
    r_lambda = richness_r(lam)
    arcmin = Cosmology(cfg.simulate.h0, cfg.simulate.om0).arcmin(r_lambda, z)
    n = len(ra)
    return SimulatedClusters(path=SIMULATED, id=np.arange(1, n + 1), ra=ra, dec=dec, z=z,
                             lam=lam, r_lambda=r_lambda, r_lambda_arcmin=arcmin,
                             parent_id=np.full(n, -1), ln_mass=np.zeros(n))  # fmt: skip


def _galaxies(cl: SimulatedClusters, cfg) -> tuple[np.ndarray, Photometry]:
    """(cluster ID, entry) of every row for hand-placed clusters and their members."""
    cosmo = Cosmology(cfg.simulate.h0, cfg.simulate.om0)
    mem = make_members(cl, cfg.simulate.clusters, cosmo, stream(cfg.seed, CATALOGUE))
    return aperture_galaxies(cl, mem, cfg.simulate, cfg.seed).rows(slice(None))


def test_field_counts_match_the_field_density():
    """All field galaxies to r = 19 (the cut far fainter): Poisson counts in 200 apertures."""
    cfg = tiny_config("unused", "simulate.sky.mag_limit=19", "simulate.galaxies.mag_margin=10")
    ra, dec = np.meshgrid(np.arange(100.0, 140.0, 2.0), np.arange(-8.0, 12.0, 2.0))
    cl = _clusters(ra.ravel(), dec.ravel(), np.full(ra.size, 0.1), np.full(ra.size, 40.0), cfg)
    ids, gal = _galaxies(cl, cfg)
    field = gal.objid >= FIELD_OBJID_BASE
    sky = cfg.simulate.sky
    density = sky.galaxy_density * (
        10 ** (sky.galaxy_slope * (sky.mag_limit - 21)) - 10 ** (sky.galaxy_slope * (14 - 21))
    )
    radius = np.radians(cfg.simulate.galaxies.radius_r_lambda * cl.r_lambda_arcmin / 60.0)
    area = 2 * np.pi * (1 - np.cos(radius)) * np.degrees(1.0) ** 2
    expected = density * area.sum()
    assert abs(field.sum() - expected) < 4 * np.sqrt(expected)
    per_cluster = np.bincount(ids[field], minlength=len(cl) + 1)[1:]
    assert per_cluster.var() == pytest.approx(per_cluster.mean(), rel=0.35)  # Poisson


@pytest.mark.parametrize("centre", [(0.02, 10.0), (359.97, -5.0), (200.0, 30.0)])
def test_field_rows_are_the_galaxies_the_images_show(centre):
    """Every field galaxy (no star) of the image population inside the aperture, at its
    position and in its sky cell's objID range, across RA 0/360 too."""
    cfg = tiny_config("unused", "simulate.galaxies.mag_margin=10")
    cl = _clusters([centre[0]], [centre[1]], [0.15], [60.0], cfg)
    _, gal = _galaxies(cl, cfg)
    field = gal.objid >= FIELD_OBJID_BASE
    radius = cfg.simulate.galaxies.radius_r_lambda * cl.r_lambda_arcmin[0] / 60.0
    objs = sky_objects(*centre, radius, cfg.simulate.sky, cfg.seed)
    sep = np.degrees(separation(centre[0], centre[1], objs.ra, objs.dec))
    shown = ~objs.point & (sep <= radius)
    assert sorted(zip(gal.ra[field], gal.dec[field], strict=True)) == sorted(
        zip(objs.ra[shown], objs.dec[shown], strict=True)
    )
    if centre[0] < 1 or centre[0] > 359:
        assert (gal.ra[field] < 1).any() and (gal.ra[field] > 359).any()
    cells = (gal.objid[field] - FIELD_OBJID_BASE) >> 24
    assert np.all(cells < 12 * CELL_NSIDE**2)


def test_field_photometry_is_plausible(galaxy_survey):
    gal = fits.getdata(galaxy_survey / GALAXIES, 1)
    field = gal[gal["objID"] >= FIELD_OBJID_BASE]
    assert len(field) > len(gal) / 2
    ug = field["modelMag_u"] - field["modelMag_g"]
    iz = field["modelMag_i"] - field["modelMag_z"]
    bright = field["modelMag_i"] < 19
    assert 0.9 < np.median(ug[bright]) < 2.3 and 0.1 < np.median(iz[bright]) < 0.5
    assert np.all((field["zred"] > -0.2) & (field["zred"] < 1.0) & (field["zred_e"] > 0))
    assert np.all(field["modelMagErr_i"] >= 0.01)


def test_a_field_galaxy_has_one_entry_in_every_aperture_and_setting():
    """Overlapping apertures, and other radii and cuts, give a galaxy the same entry."""
    cfg = tiny_config("unused")
    cl = _clusters([150.0, 150.05], [2.0, 2.0], [0.3, 0.35], [80.0, 30.0], cfg)
    ids, gal = _galaxies(cl, cfg)
    _, other = _galaxies(
        cl,
        tiny_config(
            "unused", "simulate.galaxies.radius_r_lambda=1", "simulate.galaxies.mag_margin=0"
        ),
    )
    entries = {}
    for source in (gal, other):
        for k in np.flatnonzero(source.objid >= FIELD_OBJID_BASE):
            entry = (source.ra[k], *source.mag[k], *source.mag_err[k], source.zred[k])
            assert entries.setdefault(int(source.objid[k]), entry) == entry
    assert len(set(gal.objid[ids == 1]) & set(gal.objid[ids == 2])) > 0
    assert set(other.objid) < set(gal.objid)


@pytest.mark.mpi
def test_two_ranks_write_the_same_galaxies(galaxy_survey, tmp_path):
    root = tmp_path / "mpi"
    run_mpi(2, "-m", "clusterhpc", "simulate", str(TINY), f"data.root={root}",
            "simulate.images=false", "simulate.galaxies.write=true", timeout=240)  # fmt: skip
    for name in (GALAXIES, "catalog.fits", "members.fits", "truth.fits"):
        assert (root / name).read_bytes() == (galaxy_survey / name).read_bytes()
