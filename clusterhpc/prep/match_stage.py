"""`clusterhpc prep match CONFIG`: cross-match an external catalogue to the survey's redMaPPer.

Reads `prep.match.catalogue` (layout `prep.match.kind`) and `<data.root>/catalog.fits`, and
writes `<prep.out>/matched_<kind>.fits` (atomically): one row per matched pair with the
redMaPPer ID, RA, DEC, Z_LAMBDA, LAMBDA, the external EXT_ID, EXT_RA, EXT_DEC, EXT_Z, the mass
M500 with M500_ERR_LOW/M500_ERR_UP (1e14 M☉; MSZ for PSZ2), SEP_ARCMIN and DZ. The header
keeps the rules (radius, dz) and the counts. The catalogue models' mass target reads it.
"""

from __future__ import annotations

from astropy.table import Table

from clusterhpc.config import Config
from clusterhpc.errors import DataError
from clusterhpc.io.external import read_external
from clusterhpc.io.redmapper import read_clusters
from clusterhpc.log import get_logger
from clusterhpc.paths import prep_dir, survey_dir, survey_path
from clusterhpc.prep.cross_match import cross_match
from clusterhpc.prep.outputs import write_fits_tables

log = get_logger("prep.match")


def main(cfg: Config) -> int:
    opts = cfg.prep.match
    if not opts.catalogue:
        raise DataError("prep.match.catalogue is not set: the external catalogue to match")
    ext = read_external(survey_path(cfg, opts.catalogue), opts.kind)
    clusters = read_clusters(survey_dir(cfg) / "catalog.fits")
    found = cross_match(ext, clusters, opts.radius_arcmin, opts.dz)
    e, r = found.external, found.redmapper
    table = Table(
        {
            "ID": clusters.id[r],
            "RA": clusters.ra[r],
            "DEC": clusters.dec[r],
            "Z_LAMBDA": clusters.z[r],
            "LAMBDA": clusters.lam[r],
            "EXT_ID": ext.ident[e],
            "EXT_RA": ext.ra[e],
            "EXT_DEC": ext.dec[e],
            "EXT_Z": ext.z[e],
            "M500": ext.mass[e],
            "M500_ERR_LOW": ext.mass_err_low[e],
            "M500_ERR_UP": ext.mass_err_up[e],
            "SEP_ARCMIN": found.sep_arcmin,
            "DZ": found.dz,
        }
    )
    header = {
        "EXTKIND": opts.kind,
        "RADIUS": opts.radius_arcmin,
        "MAXDZ": opts.dz,
        "N_EXT": len(ext),
        "N_RM": len(clusters),
        "N_MATCH": len(found),
    }
    out = prep_dir(cfg) / f"matched_{opts.kind}.fits"
    write_fits_tables(out, {"MATCHED": table}, header)
    log.info(
        "%d of %d %s clusters matched to redMaPPer (within %.1f', |dz|/(1+z) <= %.2f) -> %s",
        len(found),
        len(ext),
        opts.kind,
        opts.radius_arcmin,
        opts.dz,
        out,
    )
    return 0
