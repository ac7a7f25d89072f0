"""`clusterhpc prep boxes CONFIG`: YOLO boxes and labels from redMaPPer members (MPI-parallel).

Reads `<data.root>/catalog.fits` and `members.fits` (every rank), splits the cutouts evenly
over the ranks, gathers the boxes on rank 0, which writes into `prep.out` (default
`<data.root>/prep/`), each file atomically replaced:

- `boxes.fits`: HDU IMAGES (one row per cutout: FILE, PATH, CENTRAL_ID, RA, DEC, SCALE, SIZE,
  N_BOXES, N_KEPT, N_OTHER, GROUP, SPLIT), HDU BOXES (one row per cluster with a member in a
  cutout: IMAGE row, ID, Z_LAMBDA, LAMBDA, X1, Y1, X2, Y2, FRAC, CENTRAL, N_INSIDE, KEEP,
  OVERLAP) and HDU EMPTY (the empty-field images: PATH, RA, DEC, GROUP, SPLIT); whole sky
  groups get one split (`prep.sky_split`), so no two splits share sky; `prep pack` packs an
  image's KEEP boxes as labels and its other boxes as ignore regions (visible clusters that
  are neither trained as background nor scored as false);
- `train.txt`, `valid.txt`, `test.txt`: the seed's label lines of the kept boxes;
- `overlaps.csv`, `overlaps.png`: images by number of other clusters, overlap histogram;
- `boxes_report.json` (counts, exclusions, timings) and `boxes_config.yaml`.
The outputs do not depend on the number of ranks.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from astropy.table import Table

from clusterhpc.config import Config, write_resolved
from clusterhpc.hpc.mpi import get_comm, split_evenly
from clusterhpc.io.atomic import atomic_write_text
from clusterhpc.io.cutouts import Cutouts, cluster_cutouts, read_cutout_table
from clusterhpc.io.labels import LabelLine, write_labels
from clusterhpc.io.redmapper import Clusters, group_members, read_clusters, read_members
from clusterhpc.log import get_logger
from clusterhpc.paths import prep_dir, survey_path
from clusterhpc.prep.boxes import BoxRules, BoxTable, MemberIndex, compute_boxes
from clusterhpc.prep.outputs import write_fits_tables, write_json
from clusterhpc.prep.plots import plot_overlaps
from clusterhpc.prep.sky_split import SkySplit, check_split_nside, split_by_sky
from clusterhpc.prep.split import SPLITS, fraction_problem
from clusterhpc.typed_dict import ConfigError

log = get_logger("prep.boxes")


def main(cfg: Config) -> int:
    comm = get_comm()
    prep, opts = cfg.prep, cfg.prep.boxes
    problem = fraction_problem(opts.split)
    if problem:
        raise ConfigError(f"prep.boxes.split = {opts.split}: {problem}")
    check_split_nside(cfg)
    t0 = time.perf_counter()
    root = Path(cfg.data.root)
    clusters = read_clusters(root / "catalog.fits")
    members = read_members(root / "members.fits", with_p=opts.p_min > 0)
    n_read = len(members)
    if opts.p_min > 0:
        members = members.select(members.p >= opts.p_min)
    groups = group_members(clusters, members)
    if opts.cutouts:
        cut = read_cutout_table(survey_path(cfg, opts.cutouts), prep.scale, prep.size)
    else:
        cut = cluster_cutouts(clusters, prep.scale, prep.size)
    index = MemberIndex(clusters, members, groups)
    t_read = time.perf_counter() - t0
    rules = BoxRules(opts.projection, opts.pad, opts.central_inside, opts.secondary)
    mine = np.arange(len(cut))[split_evenly(len(cut), comm.rank, comm.size)]
    parts = comm.gather(compute_boxes(index, cut, mine, rules))
    if parts is None:
        return 0
    table = BoxTable.concat(parts)
    t_boxes = time.perf_counter() - t0 - t_read
    report = {
        "clusters": len(clusters),
        "members_read": n_read,
        "members_below_p_min": n_read - len(members),
        "orphan_members_excluded": groups.n_orphans,
        "orphan_ids_first": groups.orphan_ids[:10].tolist(),
        "clusters_without_members": int(np.sum(groups.count == 0)),
    }
    if groups.n_orphans:
        log.warning(
            "%s: %d members (%d IDs, first %s) match no cluster in %s: excluded",
            members.path,
            groups.n_orphans,
            groups.orphan_ids.size,
            groups.orphan_ids[:5].tolist(),
            clusters.path,
        )
    if report["clusters_without_members"]:
        log.warning(
            "%d clusters have no members: they get no box", report["clusters_without_members"]
        )
    out = prep_dir(cfg)
    report |= write_outputs(cfg, out, clusters, cut, table)
    report["seconds"] = {"read": round(t_read, 3), "boxes": round(t_boxes, 3), "ranks": comm.size}
    write_json(out / "boxes_report.json", report)
    write_resolved(cfg, out, "boxes_config.yaml")
    log.info(
        "%d images, %d labelled, %d boxes kept of %d -> %s",
        len(cut),
        report["images_labelled"],
        report["boxes_kept"],
        len(table),
        out,
    )
    return 0


def image_table(cfg: Config, cut: Cutouts, table: BoxTable, sky: SkySplit) -> Table:
    """One row per cutout with box counts, sky group and split ('' = not labelled)."""
    n = len(cut)
    n_boxes = np.bincount(table.image, minlength=n)
    n_kept = np.bincount(table.image[table.keep], minlength=n)
    split = np.where(sky.split >= 0, np.asarray(SPLITS)[np.maximum(sky.split, 0)], "")
    # A cutout table's FILE is relative to data.root (it lives there); the default one-per-
    # cluster cutouts are `<prep.boxes.image_dir>/<ID>.jpeg`.
    folder = survey_path(cfg, "." if cfg.prep.boxes.cutouts else cfg.prep.boxes.image_dir)
    paths = [f if Path(f).is_absolute() else str(folder.resolve() / f) for f in cut.file]
    return Table(
        {
            "FILE": cut.file,
            "PATH": np.asarray(paths),
            "CENTRAL_ID": cut.central_id,
            "RA": cut.ra,
            "DEC": cut.dec,
            "SCALE": cut.scale,
            "SIZE": cut.size,
            "N_BOXES": n_boxes,
            "N_KEPT": n_kept,
            "N_OTHER": n_boxes - np.bincount(table.image[table.central], minlength=n),
            "GROUP": sky.group,
            "SPLIT": split.astype("<U5"),
        }
    )


def box_table(clusters: Clusters, table: BoxTable) -> Table:
    return Table(
        {
            "IMAGE": table.image,
            "ID": clusters.id[table.cluster],
            "Z_LAMBDA": clusters.z[table.cluster],
            "LAMBDA": clusters.lam[table.cluster],
            "X1": table.x1,
            "Y1": table.y1,
            "X2": table.x2,
            "Y2": table.y2,
            "FRAC": table.frac,
            "CENTRAL": table.central,
            "N_INSIDE": table.n_inside,
            "KEEP": table.keep,
            "OVERLAP": table.overlap,
        }
    )


def write_outputs(
    cfg: Config, out: Path, clusters: Clusters, cut: Cutouts, table: BoxTable
) -> dict:
    """Write every boxes output on rank 0; returns the counts for the report."""
    opts = cfg.prep.boxes
    labelled = np.flatnonzero(np.bincount(table.image[table.keep], minlength=len(cut)) > 0)
    sky = split_by_sky(cfg, cut, table, labelled)
    images, boxes = image_table(cfg, cut, table, sky), box_table(clusters, table)
    header = {
        "PROJ": opts.projection,
        "PAD": opts.pad,
        "P_MIN": opts.p_min,
        "SECONDRY": opts.secondary,
        "CENT_IN": opts.central_inside,
        "SEED": cfg.seed,
        "SPLIT_BY": opts.split_by,
    }
    tables = {"IMAGES": images, "BOXES": boxes, "EMPTY": sky.empty}
    write_fits_tables(out / "boxes.fits", tables, header)
    starts = np.searchsorted(table.image, np.arange(len(cut)))
    ends = np.searchsorted(table.image, np.arange(len(cut)), side="right")
    corners = table.corners()
    for name in SPLITS:
        lines = []
        for i in np.flatnonzero(images["SPLIT"] == name):
            rows = np.arange(starts[i], ends[i])
            rows = rows[table.keep[rows]]
            lines.append(LabelLine(images["PATH"][i], corners[rows], table.frac[rows, None]))
        write_labels(out / f"{name}.txt", lines)
    n_other = np.asarray(images["N_OTHER"])
    counts = np.bincount(n_other)
    csv = "n_other,n_images,fraction\n" + "".join(
        f"{k},{c},{c / max(len(cut), 1):.6f}\n" for k, c in enumerate(counts)
    )
    atomic_write_text(out / "overlaps.csv", csv)
    plot_overlaps(n_other, table.overlap, out / "overlaps.png")
    kept = table.keep
    return {
        "images": len(cut),
        "images_labelled": int(np.sum(images["N_KEPT"] > 0)),
        "images_without_kept_box": int(np.sum(images["N_KEPT"] == 0)),
        "boxes": len(table),
        "boxes_kept": int(kept.sum()),
        "kept_boxes_not_fully_inside": int(np.sum(table.frac[kept] < 1)),
        "split_images": {s: int(np.sum(images["SPLIT"] == s)) for s in SPLITS},
        "split": sky.report,
        "images_by_n_other": counts.tolist(),
    }
