"""`clusterhpc <stage> CONFIG [key.sub=value ...]`: one subcommand per pipeline stage.

Stage modules are imported only when their stage runs, so `--help` and the light stages never
pay for TensorFlow. A stage is a function `main(cfg: Config) -> int | None`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from clusterhpc import __version__
from clusterhpc.config import load_config
from clusterhpc.errors import ClusterHPCError
from clusterhpc.hpc.failure import EXIT_BAD_INPUT, stage_failures_end_the_launch
from clusterhpc.log import get_logger, setup_logging
from clusterhpc.stage_function import StageFunction, stage_function


@dataclass(frozen=True)
class Stage:
    name: str
    help: str
    target: str  # "module:function", imported when the stage runs

    def load(self) -> StageFunction:
        return stage_function(self.target)


# Top-level stages that take a CONFIG.
STAGES: tuple[Stage, ...] = (
    Stage(
        "run",
        "the whole pipeline: simulate, prep, pack, anchors, train, evaluate (resumable)",
        "clusterhpc.pipeline:main",
    ),
    Stage(
        "config",
        "print the resolved config: every key, its value and what it means",
        "clusterhpc.show_config:main",
    ),
    Stage(
        "simulate",
        "write a mock SDSS-like survey (catalogues, cutouts) into data.root",
        "clusterhpc.simulate.stage:main",
    ),
    Stage(
        "train",
        "train the model (Horovod data-parallel, checkpoint + resume)",
        "clusterhpc.train.stage:main",
    ),
    Stage(
        "evaluate",
        "completeness, purity, mAP (binned in z, richness, mass), plots, report",
        "clusterhpc.evaluate.stage:main",
    ),
    Stage(
        "detect",
        "run a trained detector over cutouts -> FITS cluster catalogue on the sky",
        "clusterhpc.detect.stage:main",
    ),
)
# `clusterhpc prep <name> CONFIG`
PREP_STAGES: tuple[Stage, ...] = (
    Stage(
        "footprint",
        "footprint.fits from the DR8 Mangle polygons, a .ply polygon file or a HEALPix map",
        "clusterhpc.prep.footprint_stage:main",
    ),
    Stage(
        "download",
        "fetch the JPEG cutouts from SDSS SkyServer (threads, MPI ranks or array tasks; resumable)",
        "clusterhpc.prep.download_stage:main",
    ),
    Stage(
        "query",
        "the photometric catalogue around each cluster from the SkyServer SQL service",
        "clusterhpc.prep.query_stage:main",
    ),
    Stage(
        "boxes",
        "bounding boxes and YOLO labels from redMaPPer members (MPI-parallel)",
        "clusterhpc.prep.boxes_stage:main",
    ),
    Stage(
        "empty",
        "empty-field positions to download as negatives, and the existing empty images to pack",
        "clusterhpc.prep.empty_stage:main",
    ),
    Stage(
        "pack",
        "pack cutouts, boxes and member catalogues into HDF5 shards (MPI-parallel)",
        "clusterhpc.prep.pack_stage:main",
    ),
    Stage(
        "sets",
        "member sets of every cluster (and aperture non-members) into HDF5 shards, split by sky",
        "clusterhpc.prep.sets_stage:main",
    ),
    Stage(
        "verify",
        "check every packed shard (checksums, counts, images)",
        "clusterhpc.prep.verify_stage:main",
    ),
    Stage(
        "match",
        "cross-match an external catalogue (PSZ2, MCXC, COMPRASS) to redMaPPer on sky and z",
        "clusterhpc.prep.match_stage:main",
    ),
    Stage(
        "anchors",
        "YOLO anchors by k-means (1 - IoU) on the packed training boxes",
        "clusterhpc.prep.anchors_stage:main",
    ),
)


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="YAML config file (configs/*.yaml)")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key.sub=value",
        help="override config values, e.g. train.epochs=3 data.root=/scratch/x",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clusterhpc",
        description="Find galaxy clusters and measure their redshift and richness with deep "
        "learning, from a laptop to many GPU nodes.",
    )
    parser.add_argument("--version", action="version", version=f"clusterhpc {__version__}")
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    parser.add_argument(
        "--log-all-ranks",
        action="store_true",
        help="log and show progress on every MPI/Horovod rank, not only rank 0",
    )
    sub = parser.add_subparsers(dest="stage", metavar="STAGE", required=True)
    sub.add_parser(
        "doctor",
        help="check the installation (TensorFlow, Horovod, MPI, Slurm, ...)",
        description="Report what works on this machine and how to fix what does not.",
    )
    for stage in STAGES:
        _add_config_args(sub.add_parser(stage.name, help=stage.help, description=stage.help))
    if PREP_STAGES:
        prep = sub.add_parser("prep", help="preprocessing stages (MPI-parallel)")
        prep_sub = prep.add_subparsers(dest="prep_stage", metavar="PREP_STAGE", required=True)
        for stage in PREP_STAGES:
            _add_config_args(
                prep_sub.add_parser(stage.name, help=stage.help, description=stage.help)
            )
    return parser


def _find_stage(args: argparse.Namespace) -> Stage:
    name, table = (args.prep_stage, PREP_STAGES) if args.stage == "prep" else (args.stage, STAGES)
    return next(s for s in table if s.name == name)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level, args.log_all_ranks)
    if args.stage == "doctor":
        from clusterhpc.doctor import main as doctor_main

        return doctor_main()
    stage = _find_stage(args)
    where = f"prep {stage.name}" if args.stage == "prep" else stage.name
    try:
        with stage_failures_end_the_launch(where):
            cfg = load_config(args.config, args.overrides)
            get_logger("cli").debug("running stage %s with %s", stage.name, args.config)
            return int(stage.load()(cfg) or 0)
    except ClusterHPCError as exc:
        print(f"clusterhpc {where}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
