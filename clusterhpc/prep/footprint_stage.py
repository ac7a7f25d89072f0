"""`clusterhpc prep footprint CONFIG`: the survey's `footprint.fits` from real survey masks.

`prep.footprint.source` is `dr8` (the SDSS DR8 imaging window as Mangle polygons, shipped by
`randomsdss`), a Mangle polygon file (`.ply`), or a HEALPix map FITS file (any nside and
ordering; a pixel is observed when its value is > 0). Polygons are rasterised at pixel
centres; a map is regraded to `prep.footprint.nside` (a coarser pixel is observed when at
least half of it is). The result is a NESTED uint8 map with its recipe in FPSPEC, written
atomically to `prep.footprint.out` (default `<data.root>/footprint.fits`, what `prep empty`
reads).
"""

from __future__ import annotations

from pathlib import Path

import healpy as hp
import numpy as np

from clusterhpc.config import Config
from clusterhpc.errors import DataError
from clusterhpc.log import get_logger
from clusterhpc.paths import survey_dir, survey_path
from clusterhpc.sky import mangle
from clusterhpc.sky.footprint import Footprint, write_footprint

log = get_logger("prep.footprint")


def polygon_map(path: Path, nside: int) -> np.ndarray:
    """NESTED uint8 map of the pixels whose centres lie in the polygons of `path`."""
    nested = np.zeros(hp.nside2npix(nside), np.uint8)
    nested[mangle.rasterise(mangle.read_ply(path), nside)] = 1
    return nested


def regraded_map(path: Path, nside: int) -> np.ndarray:
    """NESTED uint8 map of a HEALPix map regraded to `nside` (observed: value > 0)."""
    observed = Footprint.read(path).mask.astype(np.float64)  # RING
    fraction = hp.ud_grade(observed, nside, order_in="RING", order_out="NESTED")
    return (fraction >= 0.5).astype(np.uint8)


def main(cfg: Config) -> int:
    opts = cfg.prep.footprint
    if opts.nside & (opts.nside - 1):
        raise DataError(f"prep.footprint.nside = {opts.nside}: expected a power of two")
    if opts.source == "dr8":
        source = mangle.dr8_polygon_file()
        nested, spec = polygon_map(source, opts.nside), f"dr8 nside={opts.nside}"
    else:
        source = survey_path(cfg, opts.source)
        if not source.exists():
            raise DataError(f"prep.footprint.source = {opts.source}: no such file ({source})")
        build = polygon_map if source.suffix.lower() in (".ply", ".pol") else regraded_map
        nested, spec = build(source, opts.nside), f"{source.name} nside={opts.nside}"
    if not nested.any():
        raise DataError(f"{source}: the footprint covers no pixel at nside {opts.nside}")
    out = survey_path(cfg, opts.out) if opts.out else survey_dir(cfg) / "footprint.fits"
    write_footprint(out, nested, spec)
    area = int(nested.sum()) * hp.nside2pixarea(opts.nside, degrees=True)
    log.info("footprint from %s at nside %d: %.1f deg^2 -> %s", source, opts.nside, area, out)
    return 0
