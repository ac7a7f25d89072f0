"""`clusterhpc prep empty CONFIG`: empty-field positions in the footprint (MPI-parallel).

Reads `<data.root>/catalog.fits` and the footprint map (`prep.empty.footprint`, default
`<data.root>/footprint.fits`); ranks draw candidate chunks, rank 0 writes into `prep.out`
(default `<data.root>/prep/`), each file atomically replaced:

- `empty_fields.fits`: NAME, RA, DEC, NEAREST_ID, SEP_ARCMIN of the chosen positions. This
  is a download list, for a real survey: the centres of the negative (empty-field) cutouts
  to fetch into `<data.root>/<prep.empty.image_dir>/` with their RA/Dec sidecars. No later
  stage reads it: `prep pack` packs the images already in that folder that `valid_empty.txt`
  lists (a simulated survey renders its own empty fields there);
- `valid_empty.txt`: when `<data.root>/<prep.empty.image_dir>/` holds images, the paths of
  those whose position (seed sidecar `<name>.txt`: RA and Dec on two lines) passes the same
  rules, one per line without boxes (the seed's empty-field evaluation list);
- `footprint.png` (mollweide: footprint, clusters, chosen fields), `empty_report.json`,
  `empty_config.yaml`.
The chosen positions do not depend on the number of ranks.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from astropy.table import Table
from scipy.spatial import cKDTree

from clusterhpc.config import Config, write_resolved
from clusterhpc.errors import DataError
from clusterhpc.hpc.mpi import get_comm
from clusterhpc.io.labels import LabelLine, write_labels
from clusterhpc.io.redmapper import read_clusters
from clusterhpc.io.sidecars import existing_images
from clusterhpc.log import get_logger
from clusterhpc.paths import prep_dir, survey_path
from clusterhpc.prep.empty_fields import EmptyRules, accept, choose_empty_fields
from clusterhpc.prep.outputs import write_fits_tables, write_json
from clusterhpc.prep.plots import plot_footprint
from clusterhpc.sky.footprint import Footprint
from clusterhpc.sky.geometry import unit_vectors
from clusterhpc.typed_dict import ConfigError

log = get_logger("prep.empty")


def main(cfg: Config) -> int:
    comm = get_comm()
    opts = cfg.prep.empty
    if opts.min_sep_arcmin > opts.max_sep_arcmin:
        raise ConfigError(
            f"prep.empty.min_sep_arcmin = {opts.min_sep_arcmin} is above "
            f"prep.empty.max_sep_arcmin = {opts.max_sep_arcmin}"
        )
    t0 = time.perf_counter()
    clusters = read_clusters(Path(cfg.data.root) / "catalog.fits")
    fp_path = survey_path(cfg, opts.footprint or "footprint.fits")
    if not fp_path.exists():
        raise DataError(
            f"{fp_path}: no footprint map (run `clusterhpc simulate` or set "
            f"prep.empty.footprint to a HEALPix map FITS file)"
        )
    footprint = Footprint.read(fp_path)
    rules = EmptyRules(
        opts.min_sep_arcmin, opts.max_sep_arcmin, opts.whole_cutout, cfg.prep.size, cfg.prep.scale
    )
    chosen = choose_empty_fields(
        opts.n, cfg.seed, footprint, clusters.ra, clusters.dec, rules, comm, opts.chunk
    )
    if chosen is None:
        return 0
    seconds = time.perf_counter() - t0
    out = prep_dir(cfg)
    table = Table(
        {
            "NAME": np.array([f"E{i:06d}" for i in range(len(chosen))]),
            "RA": chosen.ra,
            "DEC": chosen.dec,
            "NEAREST_ID": clusters.id[chosen.nearest],
            "SEP_ARCMIN": chosen.sep_arcmin,
        }
    )
    header = {
        "SEED": cfg.seed,
        "CHUNK": opts.chunk,
        "MINSEP": opts.min_sep_arcmin,
        "MAXSEP": opts.max_sep_arcmin,
        "WHOLECUT": opts.whole_cutout,
    }
    write_fits_tables(out / "empty_fields.fits", {"EMPTY": table}, header)
    report = {
        "fields": len(chosen),
        "footprint": str(fp_path),
        "footprint_nside": footprint.nside,
        "footprint_area_deg2": round(footprint.area_deg2, 3),
        "seconds": round(seconds, 3),
        "ranks": comm.size,
    }
    folder = survey_path(cfg, opts.image_dir)
    paths, ra, dec, missing = existing_images(folder)
    if paths or missing:
        tree = cKDTree(unit_vectors(clusters.ra, clusters.dec))
        ok = accept(np.asarray(ra), np.asarray(dec), footprint, tree, rules)[0]
        write_labels(
            out / "valid_empty.txt", [LabelLine(p) for p, g in zip(paths, ok, strict=True) if g]
        )
        report |= {
            "images": len(paths) + missing,
            "images_listed": int(ok.sum()),
            "images_rejected": int((~ok).sum()),
            "images_without_position": missing,
        }
        if missing:
            log.warning(
                "%s: %d images have no position sidecar (.txt): not listed", folder, missing
            )
    plot_footprint(
        footprint, (clusters.ra, clusters.dec), (chosen.ra, chosen.dec), out / "footprint.png"
    )
    write_json(out / "empty_report.json", report)
    write_resolved(cfg, out, "empty_config.yaml")
    log.info(
        "%d empty-field positions in %.1f s -> %s (a download list of negative cutouts; "
        "packing uses the images in %s that valid_empty.txt lists)",
        len(chosen),
        seconds,
        out / "empty_fields.fits",
        folder,
    )
    return 0
