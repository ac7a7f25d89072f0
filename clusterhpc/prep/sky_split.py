"""One train/valid/test assignment for the labelled cutouts and the empty fields, by sky.

`prep boxes` groups, with `sky_groups`, the labelled cutouts and every empty-field image that
has a position (`<data.root>/<prep.empty.image_dir>/*.jpeg` with its RA/Dec sidecar, a
`prep.size` x `prep.scale` square): footprints that overlap, cutouts that show one cluster
(a box of the same catalogue cluster), and with `prep.boxes.split_by: healpix` the
footprints whose centres share a HEALPix cell of `prep.boxes.split_nside` (cells are joined
by overlaps, so no two splits ever share sky). Whole groups go to one split
(`assign_groups`), cutouts and empty fields each meeting `prep.boxes.split`. `prep pack`
reads the empty fields' splits back from `boxes.fits` (HDU EMPTY), so cluster and empty-field
splits always come from this one assignment.
"""

from __future__ import annotations

from dataclasses import dataclass

import healpy as hp
import numpy as np
from astropy.table import Table

from clusterhpc.config import Config
from clusterhpc.io.cutouts import Cutouts
from clusterhpc.io.sidecars import existing_images
from clusterhpc.log import get_logger
from clusterhpc.paths import survey_path
from clusterhpc.prep.boxes import BoxTable
from clusterhpc.prep.sky_groups import same_value_links, sky_groups
from clusterhpc.prep.split import SPLITS, assign_groups
from clusterhpc.typed_dict import ConfigError

log = get_logger("prep.boxes")

FRACTION_TOLERANCE = 0.02  # warn when a split's achieved fraction is further than this


@dataclass(frozen=True)
class SkySplit:
    split: np.ndarray  # per cutout: 0 train, 1 valid, 2 test, -1 not labelled
    group: np.ndarray  # per cutout: sky group, -1 not labelled
    empty: Table  # PATH, RA, DEC, GROUP, SPLIT of the empty-field images
    report: dict


def shared_cluster_links(table: BoxTable, node: np.ndarray) -> np.ndarray:
    """(m, 2) node pairs of cutouts with a box of the same cluster (`node` -1: not grouped)."""
    rows = node[table.image] >= 0
    links = same_value_links(table.cluster[rows])
    return node[table.image[rows]][links]


def _fractions(counts: np.ndarray) -> list[float]:
    return [round(float(c) / max(int(counts.sum()), 1), 4) for c in counts]


def check_split_nside(cfg: Config) -> int:
    """The HEALPix nside of the groups (0: by overlap only); ConfigError unless a power of 2."""
    opts = cfg.prep.boxes
    nside = opts.split_nside if opts.split_by == "healpix" else 0
    if nside and not hp.isnsideok(nside, nest=True):
        raise ConfigError(f"prep.boxes.split_nside = {nside}: expected a power of 2")
    return nside


def split_by_sky(cfg: Config, cut: Cutouts, table: BoxTable, labelled: np.ndarray) -> SkySplit:
    """Group the `labelled` cutouts and the empty-field images by sky and split the groups."""
    opts = cfg.prep.boxes
    folder = survey_path(cfg, cfg.prep.empty.image_dir)
    paths, e_ra, e_dec, _ = existing_images(folder)
    n_cut, n_empty = labelled.size, len(paths)
    node = np.full(len(cut), -1, dtype=np.int64)
    node[labelled] = np.arange(n_cut)
    ra = np.concatenate([cut.ra[labelled], np.asarray(e_ra, np.float64)])
    dec = np.concatenate([cut.dec[labelled], np.asarray(e_dec, np.float64)])
    side = np.concatenate(
        [cut.size[labelled] * cut.scale[labelled], np.full(n_empty, cfg.prep.size * cfg.prep.scale)]
    )
    nside = check_split_nside(cfg)
    group = sky_groups(ra, dec, side, shared_cluster_links(table, node), nside)
    kind = np.repeat([0, 1], [n_cut, n_empty])
    split = assign_groups(group, opts.split, cfg.seed, kind)
    cut_split = np.full(len(cut), -1, dtype=np.int8)
    cut_group = np.full(len(cut), -1, dtype=np.int64)
    cut_split[labelled], cut_group[labelled] = split[:n_cut], group[:n_cut]
    empty = Table(
        {
            "PATH": np.asarray(paths, dtype=str),
            "RA": ra[n_cut:],
            "DEC": dec[n_cut:],
            "GROUP": group[n_cut:],
            "SPLIT": np.asarray(SPLITS)[split[n_cut:]].astype("<U5"),
        }
    )
    sizes = np.bincount(group) if group.size else np.zeros(0, np.int64)
    counts = [np.bincount(split[kind == k], minlength=len(SPLITS)) for k in (0, 1)]
    report = {
        "by": opts.split_by,
        "nside": nside,
        "asked": list(opts.split),
        "groups": int(sizes.size),
        "groups_of_several": int(np.sum(sizes > 1)),
        "largest_group": int(sizes.max(initial=0)),
        "images": dict(zip(SPLITS, counts[0].tolist(), strict=True)),
        "image_fractions": _fractions(counts[0]),
        "empty_fields": dict(zip(SPLITS, counts[1].tolist(), strict=True)),
        "empty_fractions": _fractions(counts[1]),
    }
    _log_report(report, n_cut, n_empty)
    return SkySplit(cut_split, cut_group, empty, report)


def _log_report(report: dict, n_cut: int, n_empty: int) -> None:
    log.info(
        "splits by sky (%s): %d groups (%d of several, largest %d footprints); "
        "cutouts %s, empty fields %s (asked %s)",
        report["by"],
        report["groups"],
        report["groups_of_several"],
        report["largest_group"],
        report["image_fractions"],
        report["empty_fractions"],
        report["asked"],
    )
    for what, n, key in (
        ("cutouts", n_cut, "image_fractions"),
        ("empty fields", n_empty, "empty_fractions"),
    ):
        off = np.abs(np.subtract(report[key], report["asked"])).max()
        if n and off > max(FRACTION_TOLERANCE, 1.0 / n):  # 1/n: the rounding of n items
            log.warning(
                "%s: split fractions %s are %.3f from the asked %s: the sky groups are too "
                "large to split closer (largest %d footprints)",
                what,
                report[key],
                off,
                report["asked"],
                report["largest_group"],
            )
