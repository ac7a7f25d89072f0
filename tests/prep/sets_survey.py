"""A hand-made survey for the member-set tests: real FITS files with known members and
aperture galaxies, clusters near RA 0/360 and at Dec 85 among them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

from clusterhpc.prep.member_sets import r_lambda_arcmin
from clusterhpc.sky.geometry import offset_positions

BANDS = "ugriz"


def _photometry(n: int, rng: np.random.Generator, bright: float) -> dict[str, np.ndarray]:
    mags = bright + rng.uniform(0.0, 2.0, (n, 5)) + np.arange(5)[None, :] * 0.3
    return {
        **{f"MODEL_MAG_{b.upper()}": mags[:, k] for k, b in enumerate(BANDS)},
        **{f"MODEL_MAGERR_{b.upper()}": np.full(n, 0.05) for b in BANDS},
    }


def write_sets_survey(
    root: Path,
    ra: np.ndarray,
    dec: np.ndarray,
    n_members: np.ndarray,
    n_field: np.ndarray,
    seed: int = 0,
) -> dict[str, Table]:
    """catalog.fits, members.fits and galaxies/galaxies.fits (prep query layout): cluster i
    has n_members[i] members within R_lambda/2 and n_field[i] field galaxies inside its
    aperture plus as many outside it (which prep sets must drop), all at z = 0.3."""
    rng = np.random.default_rng(seed)
    n = len(ra)
    ids = np.arange(1, n + 1)
    lam = np.maximum(n_members * 0.9, 1.0)
    z = np.full(n, 0.3)
    catalog = Table(
        {"ID": ids.astype(np.int32), "RA": ra, "DEC": dec, "Z_LAMBDA": z, "LAMBDA": lam}
    )
    catalog["Z_SPEC"] = np.where(np.arange(n) % 2 == 0, 0.31, -1.0)
    radius = r_lambda_arcmin(lam, z)

    owner = np.repeat(np.arange(n), n_members)
    sep = rng.uniform(0.0, 0.5, owner.size) * radius[owner] / 60.0
    m_ra, m_dec = offset_positions(ra[owner], dec[owner], sep, rng.uniform(0, 360, owner.size))
    members = Table(
        {
            "ID": ids[owner].astype(np.int32),
            "RA": m_ra,
            "DEC": m_dec,
            "P": np.full(owner.size, 0.9),
            "P_FREE": np.ones(owner.size),
            **_photometry(owner.size, rng, 17.0),
            "ZRED": z[owner] + rng.normal(0, 0.01, owner.size),
            "OBJID": 1_000_000 + np.arange(owner.size, dtype=np.int64),
        }
    )

    f_owner = np.repeat(np.arange(n), 2 * n_field)
    inside = np.concatenate([np.arange(2 * k) < k for k in n_field]).astype(bool)
    frac = np.where(
        inside, rng.uniform(0.1, 0.9, f_owner.size), rng.uniform(1.2, 2.0, f_owner.size)
    )
    f_ra, f_dec = offset_positions(
        ra[f_owner], dec[f_owner], frac * radius[f_owner] / 60.0, rng.uniform(0, 360, f_owner.size)
    )
    field = _photometry(f_owner.size, rng, 17.2)
    galaxies = Table(
        {
            "CLUSTER_ID": ids[f_owner].astype(np.int64),
            "objID": 2_000_000 + np.arange(f_owner.size, dtype=np.int64),
            "ra": f_ra,
            "dec": f_dec,
            "type": np.full(f_owner.size, 3, np.int16),
            **{f"modelMag_{b}": field[f"MODEL_MAG_{b.upper()}"] for b in BANDS},
            **{f"modelMagErr_{b}": field[f"MODEL_MAGERR_{b.upper()}"] for b in BANDS},
            "zred": rng.uniform(0.05, 0.6, f_owner.size),
        }
    )
    # the members themselves are in the query's reply too, and must not count as non-members
    own = Table(
        {
            "CLUSTER_ID": members["ID"].astype(np.int64),
            "objID": members["OBJID"],
            "ra": members["RA"],
            "dec": members["DEC"],
            "type": np.full(len(members), 3, np.int16),
            **{f"modelMag_{b}": members[f"MODEL_MAG_{b.upper()}"] for b in BANDS},
            **{f"modelMagErr_{b}": members[f"MODEL_MAGERR_{b.upper()}"] for b in BANDS},
            "zred": members["ZRED"],
        }
    )
    from astropy.table import vstack

    galaxies = vstack([galaxies, own])
    root.mkdir(parents=True, exist_ok=True)
    (root / "galaxies").mkdir(exist_ok=True)
    catalog.write(root / "catalog.fits", overwrite=True)
    members.write(root / "members.fits", overwrite=True)
    galaxies.write(root / "galaxies" / "galaxies.fits", overwrite=True)
    return {"catalog": catalog, "members": members, "galaxies": galaxies}
