"""One cutout: gather the cluster members and field objects inside it, render, colour, save."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.visualization import make_lupton_rgb
from PIL import Image
from scipy.spatial import cKDTree

from clusterhpc.config import SimulateConfig
from clusterhpc.io.atomic import atomic_path
from clusterhpc.simulate.clusters import SimulatedClusters
from clusterhpc.simulate.field import sky_objects
from clusterhpc.simulate.members import MemberGalaxies
from clusterhpc.simulate.photometry import to_flux
from clusterhpc.simulate.render import DEV, EXP, POINT, LightProfiles, render, sky_sigma
from clusterhpc.simulate.streams import CUTOUT_NOISE, stream
from clusterhpc.sky.geometry import degrees_to_chord, unit_vectors
from clusterhpc.sky.projection import tan_wcs, wcs_pixels

_MARGIN_PX = 24  # objects this far outside still spill light into the cutout


@dataclass(frozen=True)
class Survey:
    clusters: SimulatedClusters
    members: MemberGalaxies
    tree: cKDTree  # over cluster unit vectors

    @classmethod
    def of(cls, clusters: SimulatedClusters, members: MemberGalaxies) -> Survey:
        return cls(clusters, members, cKDTree(unit_vectors(clusters.ra, clusters.dec)))

    def member_rows(self, ra: float, dec: float, radius_deg: float) -> np.ndarray:
        """Rows of members of every cluster whose R_lambda reaches within `radius_deg`."""
        reach = radius_deg + self.clusters.r_lambda_arcmin.max() / 60.0
        rows = np.sort(
            np.array(
                self.tree.query_ball_point(unit_vectors(ra, dec), degrees_to_chord(reach)),
                dtype=int,
            )
        )
        start, count = self.members.start[rows], self.members.count[rows]
        return np.repeat(start - np.cumsum(count) + count, count) + np.arange(count.sum())


def cutout_sources(
    survey: Survey, ra: float, dec: float, sim: SimulateConfig, seed: int
) -> LightProfiles:
    """Everything visible in the cutout centred on (ra, dec), in JPEG pixel coordinates."""
    size, scale = sim.cutouts.size, sim.cutouts.scale
    wcs = tan_wcs(ra, dec, scale, size)
    radius = (size / 2 + _MARGIN_PX) * scale / 3600.0 * np.sqrt(2)
    mem = survey.members
    rows = survey.member_rows(ra, dec, radius)
    field = sky_objects(ra, dec, radius, sim.sky, seed)
    mx, my = wcs_pixels(wcs, mem.ra[rows], mem.dec[rows])
    fx, fy = wcs_pixels(wcs, field.ra, field.dec)
    src = LightProfiles(
        x=np.concatenate([mx, fx]),
        y=np.concatenate([my, fy]),
        flux=to_flux(np.concatenate([mem.mag_true[rows, 1:4], field.mag_gri])),
        kind=np.concatenate([np.full(len(rows), DEV), np.where(field.point, POINT, EXP)]),
        r_e_px=np.concatenate([mem.r_e_arcsec[rows], field.r_e_arcsec]) / scale,
        axis_ratio=np.concatenate([mem.axis_ratio[rows], field.axis_ratio]),
        pa_deg=np.concatenate([mem.pa_deg[rows], field.pa_deg]),
    )
    lo, hi = -_MARGIN_PX, size - 1 + _MARGIN_PX
    keep = (src.x >= lo) & (src.x <= hi) & (src.y >= lo) & (src.y <= hi)
    return LightProfiles(*[getattr(src, f)[keep] for f in LightProfiles.__dataclass_fields__])


def psf_sigma_px(sim: SimulateConfig) -> float:
    return sim.imaging.psf_fwhm / 2.3548 / sim.cutouts.scale


def render_rgb(
    survey: Survey, index: int, ra: float, dec: float, sim: SimulateConfig, seed: int
) -> np.ndarray:
    """The colour cutout (size, size, 3) uint8: gri images, sky noise, Lupton asinh RGB."""
    psf = psf_sigma_px(sim)
    images = render(cutout_sources(survey, ra, dec, sim, seed), sim.cutouts.size, psf)
    sigma = sky_sigma(np.array(sim.imaging.depth), psf)
    noise = stream(seed, CUTOUT_NOISE, index).standard_normal(images.shape)
    g, r, i = images + noise * sigma[:, None, None]
    s_i, s_r, s_g = sim.imaging.rgb_scales
    return make_lupton_rgb(
        i * s_i,
        r * s_r,
        g * s_g,
        minimum=0.0,
        stretch=sim.imaging.rgb_stretch * sigma[1],
        Q=sim.imaging.rgb_q,
    )


def write_jpeg(rgb: np.ndarray, path: Path, quality: int) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(rgb).save(tmp, format="JPEG", quality=quality)
