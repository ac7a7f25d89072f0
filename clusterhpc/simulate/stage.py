"""`clusterhpc simulate CONFIG`: write a mock survey into `data.root`.

Every rank builds the same catalogue from the seed (cheap, and no large broadcast); rank 0
writes footprint.fits, catalog.fits, members.fits, truth.fits, cutouts.fits and config.yaml,
and with `simulate.galaxies.write` galaxies/galaxies.fits (`galaxies.py`; only rank 0 builds
it, the others wait). The cutouts are split between ranks and rendered with per-cutout random
streams, so the files are byte-identical whatever the number of ranks. A rerun with the same
recipe skips cutouts whose JPEG exists (they are written atomically); a changed recipe renders
them again.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from clusterhpc.config import Config, ConfigError, SimulateConfig, write_resolved
from clusterhpc.hpc.mpi import get_comm, split_evenly
from clusterhpc.io.atomic import atomic_write_text
from clusterhpc.io.sidecars import write_position
from clusterhpc.log import get_logger, progress
from clusterhpc.simulate import catalogs, gallery
from clusterhpc.simulate.clusters import make_clusters
from clusterhpc.simulate.cosmology import Cosmology
from clusterhpc.simulate.cutout_plan import CutoutPlan, plan_cutouts
from clusterhpc.simulate.galaxies import aperture_galaxies
from clusterhpc.simulate.members import make_members
from clusterhpc.simulate.mock_footprint import load_or_build
from clusterhpc.simulate.scene import Survey, render_rgb, write_jpeg
from clusterhpc.simulate.streams import CATALOGUE, CLUSTER_MASS, CUTOUT_PLAN, stream
from clusterhpc.sky.footprint import Footprint

log = get_logger(__name__)
RECIPE = "images.json"
# Settings no image depends on, left out of the render recipe (and added after the first
# recipes were written, so those stay valid).
NOT_RENDERED = ("images", "gallery", "galaxies")
CATALOGUE_ONLY = (
    "bcg_spec_mag",
    "bcg_spec_fraction",
    "mass_pivot_log10",
    "mass_slope",
    "mass_scatter",
)


def _write_tables(cfg: Config, survey: Survey, plan: CutoutPlan, root: Path) -> None:
    cl, mem = survey.clusters, survey.members
    obs_rng = stream(cfg.seed, CATALOGUE, 1)
    catalogs.write_fits(root / "catalog.fits", [catalogs.catalog_table(cl, mem, obs_rng)])
    catalogs.write_fits(root / "members.fits", [catalogs.members_table(mem)])
    catalogs.write_fits(root / "truth.fits", catalogs.truth_hdus(cl, mem))
    catalogs.write_fits(root / "cutouts.fits", [catalogs.cutouts_table(plan, cfg.simulate)])
    _write_position_sidecars(plan, root)
    if cfg.simulate.galaxies.write:
        _write_galaxies(cfg, survey, root)
    write_resolved(cfg, root)


def _write_galaxies(cfg: Config, survey: Survey, root: Path) -> None:
    start = time.perf_counter()
    rows = aperture_galaxies(survey.clusters, survey.members, cfg.simulate, cfg.seed)
    catalogs.write_galaxies(root / "galaxies" / "galaxies.fits", rows)
    log.info(
        "simulate: %d (cluster, galaxy) rows in galaxies/galaxies.fits (%.1f s)",
        len(rows),
        time.perf_counter() - start,
    )


def _write_position_sidecars(plan: CutoutPlan, root: Path) -> None:
    """`empty/<name>.txt` next to each empty-field image: RA and Dec (degrees) on two lines,
    as the seed's SDSS downloads have them (what `prep empty` reads)."""
    for index in np.flatnonzero(plan.empty):
        write_position(root / plan.file[index], plan.ra[index], plan.dec[index])


def _recipe(cfg: Config) -> str:
    sim = dataclasses.asdict(cfg.simulate)
    for key in NOT_RENDERED:
        sim.pop(key)
    for key in CATALOGUE_ONLY:
        sim["clusters"].pop(key)
    return json.dumps({"seed": cfg.seed, "simulate": sim}, sort_keys=True)


def _prepare_resume(cfg: Config, plan: CutoutPlan, root: Path) -> None:
    """Keep existing JPEGs only when they were made by the same recipe (rank 0)."""
    stamp = root / RECIPE
    recipe = _recipe(cfg)
    if stamp.exists() and stamp.read_text() == recipe:
        return
    stale = [root / f for f in plan.file if (root / f).exists()]
    if stale:
        log.warning("simulate: recipe changed, rendering %d existing cutouts again", len(stale))
        for path in stale:
            path.unlink()
    atomic_write_text(stamp, recipe)


def check_settings(sim: SimulateConfig) -> None:
    """ConfigError unless the ranges are ordered and the imaging lists have 3 values."""
    ranges = {
        "simulate.clusters.z_min/z_max": (sim.clusters.z_min, sim.clusters.z_max),
        "simulate.clusters.lambda_min/lambda_max": (
            sim.clusters.lambda_min,
            sim.clusters.lambda_max,
        ),
        "simulate.cutouts.empty_min_arcmin/empty_max_arcmin": (
            sim.cutouts.empty_min_arcmin,
            sim.cutouts.empty_max_arcmin,
        ),
    }
    for key, (lo, hi) in ranges.items():
        if lo >= hi:
            raise ConfigError(f"{key} = {lo}, {hi}: expected the first below the second")
    if len(sim.imaging.depth) != 3 or len(sim.imaging.rgb_scales) != 3:
        raise ConfigError(
            "simulate.imaging: expected 3 depths (g, r, i) and 3 rgb_scales (i, r, g)"
        )


def mock_sky(cfg: Config, footprint: Footprint) -> Survey:
    """The mock universe of `cfg` over `footprint`: its clusters and their members (no files;
    what `simulate` writes, and what a stand-in SkyServer renders cutouts of)."""
    sim = cfg.simulate
    cosmo = Cosmology(sim.h0, sim.om0)
    rng = stream(cfg.seed, CATALOGUE)
    clusters = make_clusters(sim.clusters, footprint, cosmo, rng, stream(cfg.seed, CLUSTER_MASS))
    return Survey.of(clusters, make_members(clusters, sim.clusters, cosmo, rng))


def main(cfg: Config) -> int:
    comm = get_comm()
    if not cfg.data.simulated:
        raise ConfigError(
            f"data.simulated is false: {cfg.data.root} holds real survey files, which simulate "
            "would overwrite; point data.root at another directory and set data.simulated=true"
        )
    sim = cfg.simulate
    check_settings(sim)
    root = Path(cfg.data.root)
    start = time.perf_counter()
    if comm.is_root:
        root.mkdir(parents=True, exist_ok=True)
        footprint = load_or_build(sim.footprint, root / "footprint.fits")
    comm.barrier()
    if not comm.is_root:
        footprint = Footprint.read(root / "footprint.fits")
    survey = mock_sky(cfg, footprint)
    clusters = survey.clusters
    plan = plan_cutouts(sim.cutouts, clusters, footprint, stream(cfg.seed, CUTOUT_PLAN))
    log.info(
        "simulate: %d clusters, %d members over %.0f deg^2, %d cutouts (%.1f s)",
        len(clusters),
        len(survey.members),
        footprint.area_deg2,
        len(plan),
        time.perf_counter() - start,
    )
    if comm.is_root:
        _write_tables(cfg, survey, plan, root)
        log.info("simulate: catalogues written to %s (%.1f s)", root, time.perf_counter() - start)
        if sim.images:
            _prepare_resume(cfg, plan, root)
    if not sim.images:
        return 0
    comm.barrier()
    mine = range(len(plan))[split_evenly(len(plan), comm.rank, comm.size)]
    rendered = 0
    for index in progress(mine, total=len(mine), desc="simulate", unit="cutout"):
        path = root / plan.file[index]
        if path.exists():
            continue
        rgb = render_rgb(survey, index, plan.ra[index], plan.dec[index], sim, cfg.seed)
        write_jpeg(rgb, path, sim.imaging.jpeg_quality)
        rendered += 1
    total = comm.allreduce_sum(rendered)
    log.info(
        "simulate: rendered %d cutouts (%d already there) in %.1f s",
        total,
        len(plan) - total,
        time.perf_counter() - start,
    )
    if comm.is_root and sim.gallery:
        paths = [
            gallery.draw(plan, i, survey, sim, root)
            for i in gallery.pick(plan, survey, sim.gallery)
        ]
        log.info("simulate: gallery of %d cutouts in %s", len(paths), root / "gallery")
    comm.barrier()
    return 0
