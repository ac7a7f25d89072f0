"""External catalogues in their published layouts, and the cross-match to redMaPPer on
hand-made catalogues with known pairs (RA 0/360, high declination, a redshift veto, an
unknown redshift, two external clusters on one redMaPPer cluster)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from clusterhpc.cli import main as cli_main
from clusterhpc.errors import DataError
from clusterhpc.io.external import read_external
from clusterhpc.io.redmapper import Clusters
from clusterhpc.prep.cross_match import cross_match
from tests.conftest import ROOT

RM = {  # row: (ID, RA, DEC, Z_LAMBDA, LAMBDA)
    0: (101, 359.99, 0.0, 0.20, 30.0),
    1: (102, 10.0, 80.0, 0.30, 40.0),
    2: (103, 50.0, -20.0, 0.40, 50.0),
    3: (104, 50.02, -20.0, 0.10, 60.0),
    4: (105, 120.0, 5.0, 0.25, 70.0),
}
EXT = {  # name: (RA, DEC, z (-1 unknown), MSZ, the redMaPPer row it must match or None)
    "A": (0.01, 0.0, 0.21, 3.0, 0),  # across RA 0/360, 1.2'
    "B": (10.2, 80.0, 0.30, 4.0, 1),  # 0.2 deg of RA at dec 80 is 2.1'
    "C": (50.01, -20.0, 0.10, 5.0, 3),  # as near rm row 2, whose z is 0.3/(1.1) away
    "D": (50.0, -20.03, -1.0, 6.0, 2),  # z unknown: the nearest, row 2
    "E": (120.0, 5.01, 0.25, 7.0, 4),
    "F": (120.0, 5.03, 0.25, 8.0, None),  # row 4 keeps the nearer E
    "G": (200.0, 0.0, 0.20, 9.0, None),
}


def redmapper() -> Clusters:
    rows = np.array(list(RM.values()))
    return Clusters("rm", rows[:, 0].astype(int), rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4])


def write_psz2(path, names=EXT, drop: str = "", ra_as_text: bool = False):
    """A PSZ2-union-like FITS table with the published column names and types."""
    ra = np.array([v[0] for v in names.values()])
    cols = [
        fits.Column("INDEX", "J", array=np.arange(1, len(names) + 1)),
        fits.Column("NAME", "18A", array=[f"PSZ2 G{k}" for k in names]),
        fits.Column("RA", "20A" if ra_as_text else "D", array=ra.astype(str) if ra_as_text else ra),
        fits.Column("DEC", "D", array=[v[1] for v in names.values()]),
        fits.Column("SNR", "D", array=np.full(len(names), 6.0)),
        fits.Column("REDSHIFT", "D", array=[v[2] for v in names.values()]),
        fits.Column("MSZ", "D", array=[v[3] for v in names.values()]),
        fits.Column("MSZ_ERR_UP", "D", array=np.full(len(names), 0.5)),
        fits.Column("MSZ_ERR_LOW", "D", array=np.full(len(names), 0.4)),
        fits.Column("REDMAPPER", "20A", array=["" for _ in names]),
    ]
    cols = [c for c in cols if c.name != drop]
    fits.BinTableHDU.from_columns(cols).writeto(path)
    return path


def test_matches_are_the_known_pairs(tmp_path):
    ext = read_external(write_psz2(tmp_path / "psz2.fits"), "psz2")
    found = cross_match(ext, redmapper(), radius_arcmin=3.0, dz=0.1)
    expected = {f"PSZ2 G{k}": v[4] for k, v in EXT.items() if v[4] is not None}
    assert dict(zip(ext.ident[found.external], found.redmapper.tolist(), strict=True)) == expected
    a = list(ext.ident[found.external]).index("PSZ2 GA")
    assert found.sep_arcmin[a] == pytest.approx(0.02 * 60, rel=1e-3)
    assert np.isnan(found.dz[list(ext.ident[found.external]).index("PSZ2 GD")])
    assert ext.mass[0] == 3.0 and ext.mass_err_low[0] == 0.4 and ext.mass_err_up[0] == 0.5


def test_a_tight_radius_or_redshift_window_matches_less(tmp_path):
    ext = read_external(write_psz2(tmp_path / "psz2.fits"), "psz2")
    near = cross_match(ext, redmapper(), radius_arcmin=1.0, dz=0.1)  # A is 1.2' away
    assert set(ext.ident[near.external]) == {"PSZ2 GC", "PSZ2 GE"}
    strict = cross_match(ext, redmapper(), radius_arcmin=3.0, dz=0.001)
    assert set(ext.ident[strict.external]) == {"PSZ2 GB", "PSZ2 GC", "PSZ2 GD", "PSZ2 GE"}  # not A


def test_empty_catalogues_match_nothing(tmp_path):
    ext = read_external(write_psz2(tmp_path / "psz2.fits"), "psz2")
    none = Clusters("rm", *(np.zeros(0),) * 5)
    assert len(cross_match(ext, none, 3.0, 0.1)) == 0


def test_mcxc_and_comprass_layouts(tmp_path):
    Table({"MCXC": ["J0000.1+0000"], "RAdeg": [0.01], "DEdeg": [0.0], "z": [0.21],
           "M500": [2.5]}).write(tmp_path / "mcxc.fits")  # fmt: skip
    mcxc = read_external(tmp_path / "mcxc.fits", "mcxc")
    assert (mcxc.ident[0], mcxc.ra[0], mcxc.mass[0]) == ("J0000.1+0000", 0.01, 2.5)
    assert np.isnan(mcxc.mass_err_low[0])
    Table({"NAME": ["X"], "RAJ2000": [10.2], "DEJ2000": [80.0], "REDMAPPER": ["RM J"],
           "M500": [4.0], "M500_ERR_LOW": [0.3],
           "M500_ERR_UPP": [0.6]}).write(tmp_path / "c.fits")  # fmt: skip
    comprass = read_external(tmp_path / "c.fits", "comprass")
    assert np.isnan(comprass.z[0]) and comprass.mass_err_up[0] == 0.6
    assert cross_match(comprass, redmapper(), 3.0, 0.1).redmapper.tolist() == [1]


def test_blank_values_in_a_text_table_are_unknown(tmp_path):
    path = tmp_path / "psz2.csv"
    path.write_text("NAME,RA,DEC,REDSHIFT,MSZ\nA,0.01,0.0,,3.0\nB,10.2,80.0,0.30,\n")
    ext = read_external(path, "psz2")
    assert np.isnan(ext.z[0]) and np.isnan(ext.mass[1]) and ext.z[1] == 0.30
    assert cross_match(ext, redmapper(), 3.0, 0.001).redmapper.tolist() == [0, 1]


def test_missing_column_and_wrong_dtype_name_the_file_and_column(tmp_path):
    path = write_psz2(tmp_path / "nodec.fits", drop="DEC")
    with pytest.raises(DataError, match=r"nodec\.fits: no column DEC"):
        read_external(path, "psz2")
    path = write_psz2(tmp_path / "textra.fits", ra_as_text=True)
    with pytest.raises(DataError, match=r"textra\.fits: column RA has dtype .*expected numbers"):
        read_external(path, "psz2")


def test_prep_match_writes_the_matched_table(tmp_path):
    root = tmp_path / "survey"
    root.mkdir()
    rm = redmapper()
    Table({"ID": rm.id, "RA": rm.ra, "DEC": rm.dec, "Z_LAMBDA": rm.z, "LAMBDA": rm.lam}).write(
        root / "catalog.fits"
    )
    write_psz2(root / "psz2.fits")
    args = [
        str(ROOT / "configs" / "tiny.yaml"),
        f"data.root={root}",
        "prep.match.catalogue=psz2.fits",
    ]
    assert cli_main(["prep", "match", *args]) == 0
    with fits.open(root / "prep" / "matched_psz2.fits") as hdul:
        assert hdul[0].header["N_MATCH"] == 5 and hdul[0].header["N_EXT"] == len(EXT)
        table = Table(hdul["MATCHED"].data)
    assert list(table["ID"]) == [101, 102, 104, 103, 105]
    assert list(table["M500"]) == [3.0, 4.0, 5.0, 6.0, 7.0]
