"""The readers on FITS files in the public redMaPPer DR8 layouts (v6.3; v5.10 has the same
names for the columns read): every column with its FITS type, vector columns included."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from clusterhpc.errors import DataError
from clusterhpc.io.redmapper import group_members, read_clusters, read_members

BANDS = "UGRIZ"


def catalog_columns(n: int, ra_format: str = "D") -> list[fits.Column]:
    """redmapper_dr8_public_v6.3_catalog.fits, HDU 1."""
    rng = np.random.default_rng(0)
    ra = rng.uniform(0, 360, n)
    return [
        fits.Column("ID", "J", array=np.arange(1, n + 1)),
        fits.Column("NAME", "20A", array=[f"RMJ{i:06d}" for i in range(n)]),
        fits.Column("RA", ra_format, array=ra.astype(str) if ra_format.endswith("A") else ra),
        fits.Column("DEC", "D", array=rng.uniform(-10, 70, n)),
        fits.Column("Z_LAMBDA", "E", array=rng.uniform(0.08, 0.6, n)),
        fits.Column("Z_LAMBDA_ERR", "E", array=np.full(n, 0.01)),
        fits.Column("LAMBDA", "E", array=rng.uniform(20, 200, n)),
        fits.Column("LAMBDA_ERR", "E", array=np.full(n, 3.0)),
        fits.Column("S", "E", array=np.ones(n)),
        fits.Column("Z_SPEC", "E", array=np.full(n, -1.0)),
        fits.Column("OBJID", "K", array=np.arange(n) + 1237645000000000000),
        fits.Column("IMAG", "E", array=np.full(n, 17.0)),
        fits.Column("IMAG_ERR", "E", array=np.full(n, 0.01)),
        *[fits.Column(f"MODEL_MAG_{b}", "E", array=np.full(n, 18.0)) for b in BANDS],
        *[fits.Column(f"MODEL_MAGERR_{b}", "E", array=np.full(n, 0.02)) for b in BANDS],
        fits.Column("ILUM", "E", array=np.full(n, 20.0)),
        fits.Column("P_CEN", "5E", array=np.tile([0.9, 0.05, 0.03, 0.01, 0.01], (n, 1))),
        fits.Column("RA_CEN", "5D", array=np.tile(ra[:, None], 5)),
        fits.Column("DEC_CEN", "5D", array=np.zeros((n, 5))),
        fits.Column("ID_CEN", "5K", array=np.zeros((n, 5), np.int64)),
        fits.Column("PZBINS", "21E", array=np.zeros((n, 21))),
        fits.Column("PZ", "21E", array=np.zeros((n, 21))),
    ]


def member_columns(ids: np.ndarray) -> list[fits.Column]:
    """redmapper_dr8_public_v6.3_members.fits, HDU 1."""
    n = ids.size
    return [
        fits.Column("ID", "J", array=ids),
        fits.Column("RA", "D", array=np.linspace(10, 11, n)),
        fits.Column("DEC", "D", array=np.linspace(-1, 1, n)),
        fits.Column("R", "E", array=np.full(n, 0.3)),
        fits.Column("P", "E", array=np.linspace(0.2, 1.0, n)),
        fits.Column("P_FREE", "E", array=np.ones(n)),
        fits.Column("THETA_I", "E", array=np.ones(n)),
        fits.Column("THETA_R", "E", array=np.ones(n)),
        fits.Column("IMAG", "E", array=np.full(n, 19.0)),
        fits.Column("IMAG_ERR", "E", array=np.full(n, 0.03)),
        fits.Column("ZRED", "E", array=np.full(n, 0.2)),
        fits.Column("ZRED_E", "E", array=np.full(n, 0.02)),
        fits.Column("ZRED_CHI2", "E", array=np.ones(n)),
        fits.Column("BCG_SPEC_Z", "E", array=np.full(n, -1.0)),
        fits.Column("Z_SPEC", "E", array=np.full(n, -1.0)),
        fits.Column("OBJID", "K", array=np.arange(n, dtype=np.int64)),
        *[fits.Column(f"MODEL_MAG_{b}", "E", array=np.full(n, 19.5)) for b in BANDS],
        *[fits.Column(f"MODEL_MAGERR_{b}", "E", array=np.full(n, 0.05)) for b in BANDS],
    ]


def write(path, columns) -> None:
    fits.BinTableHDU.from_columns(columns).writeto(path)


def test_public_layouts_read_with_their_values(tmp_path):
    write(tmp_path / "catalog.fits", catalog_columns(50))
    ids = np.repeat(np.arange(1, 51), 3)[::-1].astype(np.int32)
    write(tmp_path / "members.fits", member_columns(ids))
    clusters = read_clusters(tmp_path / "catalog.fits")
    with fits.open(tmp_path / "catalog.fits") as hdul:
        data = hdul[1].data
        assert np.array_equal(clusters.id, data["ID"]) and np.allclose(clusters.ra, data["RA"])
        assert np.allclose(clusters.z, data["Z_LAMBDA"]) and np.allclose(
            clusters.lam, data["LAMBDA"]
        )
    assert clusters.id.dtype == np.int64 and clusters.ra.dtype.isnative
    members = read_members(tmp_path / "members.fits", with_p=True)
    assert members.p is not None and members.p.min() == pytest.approx(0.2)
    groups = group_members(clusters, members)
    assert groups.n_orphans == 0 and all(len(groups.rows(i)) == 3 for i in range(50))


def test_a_missing_column_of_the_public_layout_is_named(tmp_path):
    columns = [c for c in catalog_columns(5) if c.name != "Z_LAMBDA"]
    write(tmp_path / "catalog.fits", columns)
    with pytest.raises(DataError, match=r"catalog\.fits: HDU 1 has no column 'Z_LAMBDA'"):
        read_clusters(tmp_path / "catalog.fits")


def test_a_wrong_dtype_is_named(tmp_path):
    write(tmp_path / "catalog.fits", catalog_columns(5, ra_format="20A"))
    with pytest.raises(DataError, match=r"catalog\.fits: column 'RA' has dtype .*numeric"):
        read_clusters(tmp_path / "catalog.fits")
