"""FITS outputs of the mock survey, with redMaPPer DR8 column names and dtypes.

- `catalog.fits`: ID, NAME, RA, DEC, Z_LAMBDA, Z_LAMBDA_ERR, LAMBDA, LAMBDA_ERR, Z_SPEC
  (LAMBDA = sum(P * P_FREE) of the members; Z_LAMBDA scattered like redMaPPer's photo-z);
- `members.fits`: ID, RA, DEC, R, P, P_FREE, THETA_I, THETA_R, IMAG, IMAG_ERR, MODEL_MAG_[UGRIZ],
  MODEL_MAGERR_[UGRIZ], Z_SPEC, OBJID, plus ZRED, ZRED_E (members photo-z), contiguous per ID;
- `truth.fits`: CLUSTERS (true z, lambda, R_lambda in h^-1 Mpc and arcmin, member count, parent,
  LN_MASS = ln of the true mass in h^-1 Msun) and MEMBERS (row-aligned with members.fits: true
  magnitudes and shapes);
- `cutouts.fits`: FILE, RA, DEC, ID, SCALE, SIZE, EMPTY, NAME, NEAREST_ARCMIN, N_CLUSTERS;
- `galaxies/galaxies.fits` (with `simulate.galaxies.write`): the `prep query` layout, CLUSTER_ID
  and the default `query.columns` (int64 and float64, as prep query's CSV parsing gives them),
  plus zred and zred_e (`galaxies.py`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

from clusterhpc.config import QueryConfig, SimulateConfig
from clusterhpc.io.atomic import atomic_path
from clusterhpc.simulate.clusters import SimulatedClusters
from clusterhpc.simulate.cutout_plan import CutoutPlan
from clusterhpc.simulate.galaxies import TYPE_GALAXY, ApertureGalaxies, Photometry
from clusterhpc.simulate.members import BANDS, MemberGalaxies, member_objid

GALAXY_CHUNK = 1 << 16  # rows of galaxies.fits gathered and written at a time


def cluster_names(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """redMaPPer-style names RMJhhmmss.s+ddmmss.s."""
    ra_s = np.round(np.asarray(ra) / 15.0 * 3600.0, 1) % 86400.0
    dec_s = np.round(np.abs(np.asarray(dec)) * 3600.0, 1)
    sign = np.where(np.asarray(dec) < 0, "-", "+")
    return np.array(
        [
            f"RMJ{int(r // 3600):02d}{int(r % 3600 // 60):02d}{r % 60:04.1f}"
            f"{s}{int(d // 3600):02d}{int(d % 3600 // 60):02d}{d % 60:04.1f}"
            for r, d, s in zip(ra_s, dec_s, sign, strict=True)
        ]
    )


def zlambda_sigma(z: np.ndarray) -> np.ndarray:
    """redMaPPer-like cluster photo-z error: 0.006 (1+z) at low z rising to 0.02 (1+z)."""
    return (1 + z) * np.interp(z, [0.1, 0.3, 0.5, 0.6], [0.006, 0.008, 0.015, 0.02])


def catalog_table(
    cl: SimulatedClusters, mem: MemberGalaxies, rng: np.random.Generator
) -> fits.BinTableHDU:
    weight = mem.p * mem.p_free
    lam = np.add.reduceat(weight, mem.start)
    lam_err = np.sqrt(np.add.reduceat(weight * (1 - weight), mem.start))
    sigma = zlambda_sigma(cl.z)
    cols = [
        fits.Column("ID", "J", array=cl.id.astype(np.int32)),
        fits.Column("NAME", "20A", array=cluster_names(cl.ra, cl.dec)),
        fits.Column("RA", "D", array=cl.ra),
        fits.Column("DEC", "D", array=cl.dec),
        fits.Column("Z_LAMBDA", "E", array=cl.z + rng.normal(0.0, 1.0, len(cl)) * sigma),
        fits.Column("Z_LAMBDA_ERR", "E", array=sigma * rng.uniform(0.8, 1.2, len(cl))),
        fits.Column("LAMBDA", "E", array=lam),
        fits.Column("LAMBDA_ERR", "E", array=lam_err),
        fits.Column("Z_SPEC", "E", array=mem.z_spec[mem.start]),
    ]
    return fits.BinTableHDU.from_columns(cols, name="CLUSTERS")


def members_table(mem: MemberGalaxies) -> fits.BinTableHDU:
    cols = [
        fits.Column("ID", "J", array=mem.id.astype(np.int32)),
        fits.Column("RA", "D", array=mem.ra),
        fits.Column("DEC", "D", array=mem.dec),
        fits.Column("R", "E", array=mem.r),
        fits.Column("P", "E", array=mem.p),
        fits.Column("P_FREE", "E", array=mem.p_free),
        fits.Column("THETA_I", "E", array=mem.theta_i),
        fits.Column("THETA_R", "E", array=mem.theta_r),
        fits.Column("IMAG", "E", array=mem.mag[:, 3]),
        fits.Column("IMAG_ERR", "E", array=mem.mag_err[:, 3]),
        *[
            fits.Column(f"MODEL_MAG_{b.upper()}", "E", array=mem.mag[:, k])
            for k, b in enumerate(BANDS)
        ],
        *[
            fits.Column(f"MODEL_MAGERR_{b.upper()}", "E", array=mem.mag_err[:, k])
            for k, b in enumerate(BANDS)
        ],
        fits.Column("Z_SPEC", "E", array=mem.z_spec),
        fits.Column("OBJID", "K", array=member_objid(len(mem))),
        fits.Column("ZRED", "E", array=mem.zred),
        fits.Column("ZRED_E", "E", array=mem.zred_err),
    ]
    return fits.BinTableHDU.from_columns(cols, name="MEMBERS")


def truth_hdus(cl: SimulatedClusters, mem: MemberGalaxies) -> list[fits.BinTableHDU]:
    clusters = fits.BinTableHDU.from_columns(
        [
            fits.Column("ID", "J", array=cl.id.astype(np.int32)),
            fits.Column("RA", "D", array=cl.ra),
            fits.Column("DEC", "D", array=cl.dec),
            fits.Column("Z", "E", array=cl.z),
            fits.Column("LAMBDA", "E", array=cl.lam),
            fits.Column("R_LAMBDA", "E", array=cl.r_lambda),
            fits.Column("R_LAMBDA_ARCMIN", "E", array=cl.r_lambda_arcmin),
            fits.Column("N_MEMBERS", "J", array=mem.count.astype(np.int32)),
            fits.Column("FIRST_MEMBER", "K", array=mem.start.astype(np.int64)),
            fits.Column("PARENT_ID", "J", array=cl.parent_id.astype(np.int32)),
            fits.Column("LN_MASS", "E", array=cl.ln_mass),
        ],
        name="CLUSTERS",
    )
    members = fits.BinTableHDU.from_columns(
        [
            fits.Column("ID", "J", array=mem.id.astype(np.int32)),
            *[
                fits.Column(f"MAG_{b.upper()}", "E", array=mem.mag_true[:, k])
                for k, b in enumerate(BANDS)
            ],
            fits.Column("R_E_ARCSEC", "E", array=mem.r_e_arcsec),
            fits.Column("AXIS_RATIO", "E", array=mem.axis_ratio),
            fits.Column("PA", "E", array=mem.pa_deg),
        ],
        name="MEMBERS",
    )
    return [clusters, members]


def write_fits(path: Path, hdus: list[fits.BinTableHDU]) -> None:
    """Write table HDUs atomically (never a half-written file under the final name)."""
    with atomic_path(path) as tmp:
        fits.HDUList([fits.PrimaryHDU(), *hdus]).writeto(tmp)


def cutouts_table(plan: CutoutPlan, sim: SimulateConfig) -> fits.BinTableHDU:
    n = len(plan)
    return fits.BinTableHDU.from_columns(
        [
            fits.Column("FILE", "40A", array=plan.file),
            fits.Column("NAME", "20A", array=plan.name),
            fits.Column("RA", "D", array=plan.ra),
            fits.Column("DEC", "D", array=plan.dec),
            fits.Column("ID", "J", array=plan.id.astype(np.int32)),
            fits.Column("EMPTY", "L", array=plan.empty),
            fits.Column("SCALE", "E", array=np.full(n, sim.cutouts.scale)),
            fits.Column("SIZE", "J", array=np.full(n, sim.cutouts.size, np.int32)),
            fits.Column("NEAREST_ARCMIN", "E", array=plan.nearest_arcmin),
            fits.Column("N_CLUSTERS", "J", array=plan.n_clusters.astype(np.int32)),
        ],
        name="CUTOUTS",
    )


def galaxies_layout() -> list[tuple[str, str]]:
    """(name, FITS format) of the galaxies.fits columns: CLUSTER_ID, the default
    `query.columns` (int64 objID and type, float64 others, as prep query reads its CSV) and
    zred, zred_e."""
    query = [(n, "K" if n in ("objID", "type") else "D") for n in QueryConfig().columns]
    return [("CLUSTER_ID", "K"), *query, ("zred", "D"), ("zred_e", "D")]


def _galaxy_values(cluster_id: np.ndarray, gal: Photometry) -> dict[str, np.ndarray]:
    return {
        "CLUSTER_ID": cluster_id,
        "objID": gal.objid,
        "ra": gal.ra,
        "dec": gal.dec,
        "type": np.full(len(gal.objid), TYPE_GALAXY, np.int64),
        **{f"modelMag_{b}": gal.mag[:, k] for k, b in enumerate(BANDS)},
        **{f"modelMagErr_{b}": gal.mag_err[:, k] for k, b in enumerate(BANDS)},
        "zred": gal.zred,
        "zred_e": gal.zred_err,
    }


def write_galaxies(path: Path, rows: ApertureGalaxies) -> None:
    """galaxies.fits, atomically, streamed GALAXY_CHUNK rows at a time: the table is large
    (1.3 GB for the quickstart survey) and its rows are gathered in order chunk by chunk."""
    layout = galaxies_layout()
    empty = {"K": np.zeros(0, np.int64), "D": np.zeros(0)}
    header = fits.BinTableHDU.from_columns(
        [fits.Column(name, form, array=empty[form]) for name, form in layout]
    ).header
    header["NAXIS2"] = len(rows)
    dtype = np.dtype([(name, ">i8" if form == "K" else ">f8") for name, form in layout])
    with atomic_path(path) as tmp:
        out = fits.StreamingHDU(tmp, header)
        for start in range(0, len(rows), GALAXY_CHUNK):
            values = _galaxy_values(*rows.rows(slice(start, start + GALAXY_CHUNK)))
            chunk = np.empty(len(values["CLUSTER_ID"]), dtype)
            for name, column in values.items():
                chunk[name] = column
            out.write(chunk.view(np.uint8))
        out.close()
