"""`clusterhpc detect CONFIG` for a catalogue-model run: a FITS table of per-set predictions.

`detect.images` names a member-set directory (what `prep sets` writes for any catalogue,
real or simulated; '' = the run's own `prep.sets.out`), and `detect.splits` the splits read
from it (a model without a `detect` target reads the member sets only). One row per set:
the cluster's ID and catalogue position, the set's kind, and for each target of the run its
prediction with σ: Z_PRED/Z_SIGMA, LAMBDA_PRED/LAMBDA_SIGMA (from ln λ),
LN_MASS_PRED/LN_MASS_SIGMA (ln of M in Msun/h), RA_PRED/DEC_PRED/CENTRE_SIGMA (arcsec, per
axis), PROB_SET (probability of a true member set). MPI ranks share the sets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

from clusterhpc.config import Config
from clusterhpc.data.set_geometry import reference_positions
from clusterhpc.detect.catalog import write_catalog
from clusterhpc.errors import DataError
from clusterhpc.hpc.mpi import get_comm
from clusterhpc.io.set_shards import MemberSets, read_index, read_split
from clusterhpc.log import get_logger
from clusterhpc.models.set_inference import SetPredictions, SetPredictor
from clusterhpc.models.yolo_inference import trained_config
from clusterhpc.paths import run_dir, sets_dir
from clusterhpc.sky.projection import from_tan_pixels

log = get_logger("detect")


def read_sets(directory: Path, splits: list[str]) -> tuple[MemberSets, np.ndarray]:
    """The sets of the listed splits that exist, and each set's split name."""
    present = read_index(directory)["splits"]
    names = [s for s in splits if present.get(s, {}).get("n_sets", 0) > 0]
    if not names:
        raise DataError(f"{directory}: no member sets in splits {', '.join(splits)}")
    parts = [read_split(directory, s) for s in names]
    split = np.concatenate([np.full(len(p), s) for p, s in zip(parts, names, strict=True)])
    return MemberSets.concatenate(parts), split


def centre_on_sky(sets: MemberSets, offset_arcmin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RA, Dec of points given as (east, north) arcmin offsets from each set's member mean."""
    ref_ra, ref_dec = reference_positions(sets.column("RA"), sets.column("DEC"), sets.offsets)
    # gnomonic inverse with 1' pixels on a zero-size image: pixel (-east, -north) is the point
    return from_tan_pixels(ref_ra, ref_dec, -offset_arcmin[:, 0], -offset_arcmin[:, 1], 60.0, 0)


def prediction_table(sets: MemberSets, split: np.ndarray, out: SetPredictions) -> Table:
    meta = sets.meta
    table = Table(
        {
            "CLUSTER_ID": meta["id"],
            "RA": meta["ra"],
            "DEC": meta["dec"],
            "KIND": meta["kind"].astype(np.int16),
            "N_GALAXIES": sets.sizes.astype(np.int32),
            "SPLIT": split.astype("<U5"),
        }
    )
    table["RA"].unit = table["DEC"].unit = "deg"
    if "z" in out.mean:
        table["Z_PRED"], table["Z_SIGMA"] = out.mean["z"], out.sigma["z"]
    if "lnlam" in out.mean:
        lam = np.exp(out.mean["lnlam"])
        table["LAMBDA_PRED"], table["LAMBDA_SIGMA"] = lam, lam * out.sigma["lnlam"]
    if "lnmass" in out.mean:
        table["LN_MASS_PRED"], table["LN_MASS_SIGMA"] = out.mean["lnmass"], out.sigma["lnmass"]
    if "centre" in out.mean:
        table["RA_PRED"], table["DEC_PRED"] = centre_on_sky(sets, out.mean["centre"])
        table["RA_PRED"].unit = table["DEC_PRED"].unit = "deg"
        table["CENTRE_SIGMA"] = out.sigma["centre"] * 60.0
        table["CENTRE_SIGMA"].unit = "arcsec"
    if out.prob is not None:
        table["PROB_SET"] = out.prob
    return table


def detect_sets(cfg: Config, out_path: Path | None = None) -> int:
    comm = get_comm()
    run = run_dir(cfg)
    train_cfg = trained_config(run, cfg)
    directory = Path(cfg.detect.images) if cfg.detect.images else sets_dir(cfg)
    sets, split = read_sets(directory, list(cfg.detect.splits))
    predictor = SetPredictor(train_cfg, run, cfg.evaluate.checkpoint)
    if "detect" not in predictor.encoder.targets:  # a regression model: member sets only
        keep = sets.meta["kind"] == 0
        sets, split = sets.take(np.flatnonzero(keep)), split[keep]
    outputs = predictor.predict(sets, cfg.detect.batch_size, comm)
    if outputs is None:
        return 0
    table = prediction_table(sets, split, outputs)
    path = out_path or Path(cfg.detect.out)
    write_catalog(table, path, {"run": str(run), "weights": predictor.weights, "nsets": len(sets)})
    log.info("predictions for %d sets of %s -> %s", len(sets), directory, path)
    return 0
