"""`prep footprint`: footprint.fits from Mangle polygons (a hand-made cap, the DR8 window) or a
HEALPix map, checked by area and by points; `prep empty` then draws fields inside it."""

from __future__ import annotations

import healpy as hp
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from clusterhpc.cli import main as cli_main
from clusterhpc.config import FootprintConfig
from clusterhpc.simulate.mock_footprint import footprint_map
from clusterhpc.sky.footprint import Footprint
from clusterhpc.sky.geometry import unit_vectors
from tests.conftest import ROOT

TINY = str(ROOT / "configs" / "tiny.yaml")


def write_cap_ply(path, ra: float, dec: float, radius_deg: float) -> float:
    """A Mangle file with one polygon, the cap of `radius_deg` around (ra, dec); its area."""
    x, y, z = unit_vectors(np.array([ra]), np.array([dec]))[0]
    cm = 1.0 - np.cos(np.radians(radius_deg))
    path.write_text(
        "1 polygons\npixelization 0s\nsnapped\n"
        f"polygon 0 ( 1 caps, 1 weight, 0 pixel, {2 * np.pi * cm:.6f} str):\n"
        f" {x:.15f} {y:.15f} {z:.15f} {cm:.15f}\n"
    )
    return 2 * np.pi * cm * (180 / np.pi) ** 2


def run(root, *args: str) -> int:
    return cli_main(["prep", "footprint", TINY, f"data.root={root}", *args])


def test_a_polygon_file_becomes_a_map_of_its_area_and_prep_empty_draws_inside(tmp_path):
    root = tmp_path / "survey"
    root.mkdir()
    area = write_cap_ply(root / "window.ply", 150.0, 30.0, 5.0)
    assert run(root, "prep.footprint.source=window.ply", "prep.footprint.nside=256") == 0
    footprint = Footprint.read(root / "footprint.fits")
    assert footprint.nside == 256
    assert footprint.area_deg2 == pytest.approx(area, rel=0.03)
    assert footprint.contains(np.array([150.0, 150.0]), np.array([30.0, 36.0])).tolist() == [
        True,
        False,
    ]
    assert fits.getheader(root / "footprint.fits", 1)["FPSPEC"] == "window.ply nside=256"
    Table({"ID": [1, 2], "RA": [149.0, 151.5], "DEC": [29.0, 31.0], "Z_LAMBDA": [0.2, 0.3],
           "LAMBDA": [30.0, 40.0]}).write(root / "catalog.fits")  # fmt: skip
    args = ["prep", "empty", TINY, f"data.root={root}", "prep.empty.n=30", "prep.empty.chunk=64"]
    assert cli_main(args) == 0
    fields = Table.read(root / "prep" / "empty_fields.fits")
    assert len(fields) == 30 and footprint.contains(fields["RA"], fields["DEC"]).all()


def test_a_healpix_map_is_regraded_coarser_and_finer(tmp_path):
    root = tmp_path / "survey"
    root.mkdir()
    ring = np.zeros(hp.nside2npix(64))
    ra, dec = hp.pix2ang(64, np.arange(ring.size), lonlat=True)
    ring[(ra > 100) & (ra < 120) & (dec > 0) & (dec < 10)] = 1.0
    ring[0] = hp.UNSEEN
    hp.write_map(str(root / "mask.fits"), ring, nest=False, dtype=np.float64)
    original = Footprint.read(root / "mask.fits").area_deg2
    for nside in (32, 128):
        assert run(root, "prep.footprint.source=mask.fits", f"prep.footprint.nside={nside}") == 0
        footprint = Footprint.read(root / "footprint.fits")
        assert footprint.nside == nside
        assert footprint.area_deg2 == pytest.approx(original, rel=0.1)
        assert footprint.contains(np.array([110.0, 10.0]), np.array([5.0, 5.0])).tolist() == [
            True,
            False,
        ]


def test_dr8_window_is_the_simulators_and_has_its_published_area(tmp_path):
    root = tmp_path / "survey"
    root.mkdir()
    assert run(root, "prep.footprint.nside=64") == 0
    with fits.open(root / "footprint.fits") as hdul:
        assert hdul[1].header["ORDERING"] == "NESTED"
    nested = hp.read_map(str(root / "footprint.fits"), nest=True, dtype=None)
    assert np.array_equal(nested > 0, footprint_map(FootprintConfig(kind="dr8", nside=64)) > 0)
    area = (nested > 0).sum() * hp.nside2pixarea(64, degrees=True)
    assert area == pytest.approx(8080, rel=0.02)  # the DR8 window of randomsdss


def test_bad_sources_are_errors_naming_them(tmp_path, capfd):
    root = tmp_path / "survey"
    root.mkdir()
    assert run(root, "prep.footprint.source=nothere.ply") == 2
    assert "nothere.ply" in capfd.readouterr().err
    assert run(root, "prep.footprint.nside=100") == 2
    assert "power of two" in capfd.readouterr().err
