"""Files of `clusterhpc simulate`: layout, redMaPPer columns, JPEGs, determinism, resume, MPI."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import healpy as hp
import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from clusterhpc.config import ConfigError, load_config
from clusterhpc.simulate.stage import main as simulate
from clusterhpc.sky.footprint import Footprint
from clusterhpc.sky.mangle import dr8_polygon_file, rasterise, read_ply
from tests.conftest import ROOT, run_mpi
from tests.simulate.conftest import TINY, tiny_config

CATALOG = {
    "ID": ">i4",
    "NAME": "S20",
    "RA": ">f8",
    "DEC": ">f8",
    "Z_LAMBDA": ">f4",
    "Z_LAMBDA_ERR": ">f4",
    "LAMBDA": ">f4",
    "LAMBDA_ERR": ">f4",
    "Z_SPEC": ">f4",
}
MEMBERS = {
    "ID": ">i4",
    "RA": ">f8",
    "DEC": ">f8",
    "R": ">f4",
    "P": ">f4",
    "P_FREE": ">f4",
    "THETA_I": ">f4",
    "THETA_R": ">f4",
    "IMAG": ">f4",
    "IMAG_ERR": ">f4",
    **{f"MODEL_MAG_{b}": ">f4" for b in "UGRIZ"},
    **{f"MODEL_MAGERR_{b}": ">f4" for b in "UGRIZ"},
    "Z_SPEC": ">f4",
    "OBJID": ">i8",
    "ZRED": ">f4",
    "ZRED_E": ">f4",
}
OUTPUTS = ("catalog.fits", "members.fits", "truth.fits", "cutouts.fits", "footprint.fits")


def digests(root: Path) -> dict[str, str]:
    files = [*OUTPUTS, *(str(p.relative_to(root)) for p in root.glob("*/*.jpeg"))]
    return {f: hashlib.sha256((root / f).read_bytes()).hexdigest() for f in sorted(files)}


def test_redmapper_columns_and_dtypes(tiny_survey):
    cat = fits.getdata(tiny_survey / "catalog.fits", 1)
    mem = fits.getdata(tiny_survey / "members.fits", 1)
    assert {n: cat.dtype[n].str for n in cat.dtype.names} == {
        n: t.replace("S", "|S") for n, t in CATALOG.items()
    }
    assert {n: mem.dtype[n].str for n in mem.dtype.names} == MEMBERS
    assert list(cat["ID"]) == list(range(1, len(cat) + 1))
    assert all(name.startswith("RMJ") and len(name) == 20 for name in cat["NAME"])
    # Members contiguous per ID, and lambda is their summed P * P_FREE.
    starts = np.flatnonzero(np.diff(mem["ID"], prepend=0))
    assert list(mem["ID"][starts]) == list(cat["ID"])
    lam = np.add.reduceat(mem["P"].astype(float) * mem["P_FREE"], starts)
    np.testing.assert_allclose(lam, cat["LAMBDA"], rtol=1e-5)
    assert len(np.unique(mem["OBJID"])) == len(mem)
    assert np.all((cat["Z_SPEC"] == -1) | (np.abs(cat["Z_SPEC"] - cat["Z_LAMBDA"]) < 0.2))


def test_truth_and_cutout_tables(tiny_survey):
    truth = fits.getdata(tiny_survey / "truth.fits", "CLUSTERS")
    cat = fits.getdata(tiny_survey / "catalog.fits", 1)
    assert np.all(truth["ID"] == cat["ID"])
    assert np.std(cat["Z_LAMBDA"] - truth["Z"]) < 0.05
    assert len(fits.getdata(tiny_survey / "truth.fits", "MEMBERS")) == truth["N_MEMBERS"].sum()
    cut = fits.getdata(tiny_survey / "cutouts.fits", 1)
    assert len(cut) == 32 and cut["EMPTY"].sum() == 8
    sim = load_config(TINY).simulate.cutouts
    assert set(cut["SIZE"]) == {sim.size} and np.allclose(cut["SCALE"], sim.scale)
    for row in cut:
        assert row["FILE"] == (
            f"empty/{row['NAME']}.jpeg" if row["EMPTY"] else f"cutouts/{row['ID']}.jpeg"
        )
    empty = cut[cut["EMPTY"]]
    assert np.all((empty["NEAREST_ARCMIN"] >= 20) & (empty["NEAREST_ARCMIN"] <= 300))
    assert np.all(empty["ID"] == -1) and np.all(empty["N_CLUSTERS"] == 0)
    assert np.all(cut["N_CLUSTERS"][~cut["EMPTY"]] >= 1)


def test_jpegs_decode_as_rgb_of_the_right_size(tiny_survey):
    cut = fits.getdata(tiny_survey / "cutouts.fits", 1)
    for name in cut["FILE"]:
        with Image.open(tiny_survey / name) as img:
            size = load_config(TINY).simulate.cutouts.size
            assert img.format == "JPEG" and img.mode == "RGB" and img.size == (size, size)
            pixels = np.asarray(img)
        assert 2 < pixels.mean() < 120  # dark sky with sources, not blank or saturated
    assert (tiny_survey / "config.yaml").exists()
    png = list((tiny_survey / "gallery").glob("*.png"))
    assert len(png) == 1 and Image.open(png[0]).format == "PNG"


def test_footprint_file_is_a_healpix_map(tiny_survey):
    footprint = Footprint.read(tiny_survey / "footprint.fits")  # what `prep empty` reads too
    values, header = hp.read_map(tiny_survey / "footprint.fits", h=True, nest=True, dtype=None)
    assert dict(header)["ORDERING"] == "NESTED" and values.dtype == np.uint8
    assert footprint.nside == 256 and (values > 0).sum() == len(footprint.inside_pixels)
    ra, dec = (158.0, 162.0), (2.5, 2.5)  # inside / outside the tiny rectangle 150-160, 0-5
    assert list(footprint.contains(np.array(ra), np.array(dec))) == [True, False]
    cat = fits.getdata(tiny_survey / "catalog.fits", 1)
    mem = fits.getdata(tiny_survey / "members.fits", 1)
    assert footprint.contains(cat["RA"], cat["DEC"]).all()
    assert footprint.contains(mem["RA"], mem["DEC"]).mean() > 0.95  # members may spill over


def test_dr8_rasterisation_matches_pymangle():
    import pymangle

    ply = str(dr8_polygon_file())
    pixels = rasterise(read_ply(ply), 64)
    assert hp.nside2pixarea(64, degrees=True) * len(pixels) == pytest.approx(8080, rel=0.02)
    rng = np.random.default_rng(3)
    probe = rng.integers(0, hp.nside2npix(64), 3000)
    ra, dec = hp.pix2ang(64, probe, nest=True, lonlat=True)
    truth = pymangle.Mangle(ply).polyid(ra, dec) >= 0
    np.testing.assert_array_equal(np.isin(probe, pixels), truth)


def test_same_seed_same_bytes_other_seed_differs(tiny_survey, tmp_path):
    again = tmp_path / "again"
    assert simulate(tiny_config(again)) == 0
    assert digests(again) == digests(tiny_survey)
    other = tmp_path / "other"
    assert simulate(tiny_config(other, "seed=7", "simulate.images=false")) == 0
    assert (other / "catalog.fits").read_bytes() != (tiny_survey / "catalog.fits").read_bytes()
    assert not (other / "cutouts").exists()  # catalogue-only mode


def test_resume_renders_only_missing_cutouts(tmp_path):
    root = tmp_path / "s"
    cfg = tiny_config(root, "simulate.cutouts.clusters=4", "simulate.cutouts.empty=1")
    simulate(cfg)
    files = sorted(root.glob("*/*.jpeg"))
    stamp = {p: p.stat().st_mtime_ns for p in files}
    files[0].unlink()
    simulate(cfg)
    assert files[0].exists()
    assert all(p.stat().st_mtime_ns == stamp[p] for p in files[1:])
    # A changed recipe renders everything again.
    simulate(
        tiny_config(
            root,
            "simulate.cutouts.clusters=4",
            "simulate.cutouts.empty=1",
            "simulate.imaging.rgb_q=4",
        )
    )
    assert all(p.stat().st_mtime_ns != stamp[p] for p in files[1:])


def test_cli_reports_bad_footprint(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "clusterhpc",
            "simulate",
            str(TINY),
            f"data.root={tmp_path}",
            "simulate.footprint.ra=[160, 150]",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert "simulate.footprint" in proc.stderr and "[min, max]" in proc.stderr


@pytest.mark.mpi
def test_two_ranks_write_the_same_bytes(tiny_survey, tmp_path):
    root = tmp_path / "mpi"
    run_mpi(2, "-m", "clusterhpc", "simulate", str(TINY), f"data.root={root}", timeout=240)
    assert digests(root) == digests(tiny_survey)


@pytest.mark.slow
def test_full_scale_catalogue_only_is_fast(tmp_path):
    """26,000 clusters with members over the DR8 footprint, no images, well under 2 minutes."""
    start = time.perf_counter()
    cfg = tiny_config(
        tmp_path,
        "simulate.images=false",
        "simulate.footprint.kind=dr8",
        "simulate.footprint.nside=1024",
        "simulate.clusters.n=26000",
    )
    assert simulate(cfg) == 0
    assert time.perf_counter() - start < 120
    cat = fits.getdata(tmp_path / "catalog.fits", 1)
    assert len(cat) == 26000
    assert Footprint.read(tmp_path / "footprint.fits").contains(cat["RA"], cat["DEC"]).all()
    assert 1.0e6 < len(fits.getdata(tmp_path / "members.fits", 1)) < 1.5e6


def test_simulate_refuses_to_write_over_real_survey_files(tmp_path):
    real = tmp_path / "sdss"
    real.mkdir()
    (real / "catalog.fits").write_bytes(b"the real redMaPPer catalogue")
    with pytest.raises(ConfigError, match=r"data\.simulated is false"):
        simulate(tiny_config(real, "data.simulated=false"))
    assert (real / "catalog.fits").read_bytes() == b"the real redMaPPer catalogue"
