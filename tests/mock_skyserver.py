"""A stand-in SkyServer over the mock universe: the ImgCutout JPEG of any position, rendered
on demand by the simulator, and SQL box queries answered from the members catalogue."""

from __future__ import annotations

import hashlib
import io

from astropy.table import Table
from PIL import Image

from clusterhpc.config import Config
from clusterhpc.simulate.scene import render_rgb
from clusterhpc.simulate.stage import mock_sky
from clusterhpc.sky.footprint import Footprint
from tests.prep.skyserver_stub import SkyServerStub


def mock_skyserver(cfg: Config, sky: Footprint, members: Table) -> SkyServerStub:
    """A server that renders cutouts of `cfg`'s mock universe at its simulate.cutouts size and
    scale (others are bad requests) and answers queries from `members` (RA, DEC, ...)."""
    survey, sim = mock_sky(cfg, sky), cfg.simulate

    def render(ra: float, dec: float, scale: float, size: int) -> bytes | None:
        if size != sim.cutouts.size or abs(scale - sim.cutouts.scale) > 1e-9:
            return None
        index = int.from_bytes(hashlib.sha256(f"{ra!r},{dec!r}".encode()).digest()[:4], "big")
        out = io.BytesIO()
        rgb = render_rgb(survey, index, ra, dec, sim, cfg.seed)
        Image.fromarray(rgb).save(out, format="JPEG", quality=sim.imaging.jpeg_quality)
        return out.getvalue()

    galaxies = Table({"objID": members["OBJID"], "ra": members["RA"], "dec": members["DEC"],
                      "type": [3] * len(members), "modelMag_i": members["IMAG"]})  # fmt: skip
    return SkyServerStub([], galaxies=galaxies, render=render)
