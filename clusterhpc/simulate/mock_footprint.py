"""Build the mock survey's footprint and cache it as `footprint.fits`.

`footprint.fits` is a standard full-sky HEALPix map (uint8, 1 = observed, NESTED ordering),
read back with `clusterhpc.sky.footprint.Footprint.read` (or `healpy.read_map`). Its header
keeps the recipe (`FPSPEC`) that made it, so a cached file is reused only when the config still
asks for the same footprint.
"""

from __future__ import annotations

from pathlib import Path

import healpy as hp
import numpy as np
from astropy.io import fits

from clusterhpc.config import FootprintConfig
from clusterhpc.errors import DataError
from clusterhpc.sky import mangle
from clusterhpc.sky.footprint import Footprint, write_footprint


def footprint_spec(cfg: FootprintConfig) -> str:
    if cfg.kind == "rect":
        ra, dec = ",".join(f"{v:g}" for v in cfg.ra), ",".join(f"{v:g}" for v in cfg.dec)
        return f"rect nside={cfg.nside} ra={ra} dec={dec}"
    return f"dr8 nside={cfg.nside}"


def _rect_pixels(cfg: FootprintConfig) -> np.ndarray:
    if len(cfg.ra) != 2 or len(cfg.dec) != 2 or cfg.ra[0] >= cfg.ra[1] or cfg.dec[0] >= cfg.dec[1]:
        raise DataError(
            f"simulate.footprint: ra = {cfg.ra}, dec = {cfg.dec}: expected [min, max] pairs"
        )
    theta = np.radians(90.0 - np.array([cfg.dec[1], cfg.dec[0]]))
    pix = hp.query_strip(cfg.nside, theta[0], theta[1], nest=True)
    ra, _ = hp.pix2ang(cfg.nside, pix, nest=True, lonlat=True)
    return pix[(ra >= cfg.ra[0]) & (ra <= cfg.ra[1])]


def _dr8_pixels(nside: int) -> np.ndarray:
    return mangle.rasterise(mangle.read_ply(str(mangle.dr8_polygon_file())), nside)


def footprint_map(cfg: FootprintConfig) -> np.ndarray:
    """Full-sky NESTED uint8 map of the configured footprint (1 = observed)."""
    if cfg.nside & (cfg.nside - 1):
        raise DataError(f"simulate.footprint.nside = {cfg.nside}: expected a power of two")
    pixels = _rect_pixels(cfg) if cfg.kind == "rect" else _dr8_pixels(cfg.nside)
    if len(pixels) == 0:
        raise DataError(f"simulate.footprint ({footprint_spec(cfg)}) covers no HEALPix pixel")
    nested = np.zeros(hp.nside2npix(cfg.nside), np.uint8)
    nested[pixels] = 1
    return nested


def build_footprint(cfg: FootprintConfig) -> Footprint:
    ring = hp.reorder(footprint_map(cfg), n2r=True)
    return Footprint(ring.astype(bool), source=footprint_spec(cfg))


def load_or_build(cfg: FootprintConfig, path: Path) -> Footprint:
    """Reuse `path` when it was built from the same recipe, else build and write it."""
    spec = footprint_spec(cfg)
    if path.exists():
        try:
            cached = fits.getheader(path, 1).get("FPSPEC")
        except (OSError, IndexError):
            cached = None
        if cached == spec:
            return Footprint.read(path)
    nested = footprint_map(cfg)
    write_footprint(path, nested, spec)
    return Footprint(hp.reorder(nested, n2r=True).astype(bool), source=str(path))
