"""`clusterhpc run CONFIG`: the whole pipeline with one config, resumable stage by stage.

simulate -> prep boxes -> prep empty -> prep pack -> prep anchors -> train -> evaluate ->
detect (on the test cutouts, into `<run.dir>/detections.fits`); the catalogue models
(`model.kind` sets or mlp) run simulate -> prep sets -> train -> evaluate -> detect (per-set
predictions of the test split), and the image stages only where a family needs them. After a
stage finishes, rank 0 stamps it with a fingerprint of the config values it depends on and of
its input files by content (`stage_inputs`: images, prep tables, shards, weights), in
`.stages/<name>.json` of the survey or run directory; a rerun skips stamped stages whose
inputs did not change and whose outputs still check out, and reruns the rest (each stage
resumes on its own: cutouts already rendered, shards already packed, the latest checkpoint).
Under `mpirun -n N` / `srun` every rank runs every stage: MPI-parallel stages split their work
over the ranks and training runs Horovod on the same ranks. The ranks agree on each stage's exit
code (the largest) before the next stage; an exception on any rank ends the whole launch
(`clusterhpc.hpc.failure`), logged as "clusterhpc run: STAGE: error on rank R of N ...".
Started as one process, the run keeps one rank for training and gives the heavy MPI-parallel
stages (simulate, pack, sets) one rank per core (`run.stage_ranks`, `clusterhpc.hpc.local_ranks`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from clusterhpc.config import Config
from clusterhpc.config_checks import check_run_config
from clusterhpc.hpc.failure import stage_failures_end_the_launch
from clusterhpc.hpc.local_ranks import run_stage_on_ranks, stage_ranks
from clusterhpc.hpc.mpi import get_comm
from clusterhpc.io.atomic import atomic_write_text
from clusterhpc.log import get_logger
from clusterhpc.paths import anchors_path, packed_dir, prep_dir, run_dir, sets_dir, survey_dir
from clusterhpc.stage_function import stage_function
from clusterhpc.stage_inputs import inputs_digest

log = get_logger("run")


@dataclass(frozen=True)
class PipelineStage:
    name: str
    target: str  # "module:function" taking the Config
    scope: str  # "data" (stamped in data.root) or "run" (stamped in run.dir)
    depends_on: tuple[str, ...]  # config sections (dotted) whose values the outputs depend on
    outputs_ok: Callable[[Config], bool]
    kinds: tuple[str, ...] = ("yolo", "cnn", "sets", "mlp")  # model.kind values that need it
    # splits its work over MPI ranks: a one-process run starts `run.stage_ranks` ranks for it
    spread: bool = False


def _exists(*names: str, scope: str = "data") -> Callable[[Config], bool]:
    def check(cfg: Config) -> bool:
        root = survey_dir(cfg) if scope == "data" else run_dir(cfg)
        return all((root / name).exists() for name in names)

    return check


def _in_prep(*names: str) -> Callable[[Config], bool]:
    """Outputs of a prep stage, in `prep.out` (default `<data.root>/prep`)."""

    def check(cfg: Config) -> bool:
        return all((prep_dir(cfg) / name).exists() for name in names)

    return check


def _packed_ok(cfg: Config) -> bool:
    from clusterhpc.prep.verify_stage import check_shard

    index = packed_dir(cfg) / "index.json"
    if not index.exists():
        return False
    splits = json.loads(index.read_text())["splits"].values()
    return not any(
        check_shard(packed_dir(cfg) / s["file"], s["n_images"])
        for split in splits
        for s in split["shards"]
    )


def _sets_ok(cfg: Config) -> bool:
    from clusterhpc.io.set_shards import INDEX, read_index

    index = sets_dir(cfg) / INDEX
    if not index.exists():
        return False
    splits = read_index(sets_dir(cfg))["splits"].values()
    return all((sets_dir(cfg) / f).exists() for s in splits for f in s["shards"])


def _trained(cfg: Config) -> bool:
    summary = run_dir(cfg) / "train_summary.json"
    return summary.exists() and json.loads(summary.read_text())["status"] == "finished"


SURVEY = ("seed", "data", "simulate")
IMAGES = ("yolo", "cnn")  # the families trained on cutouts; "sets" and "mlp" on catalogues
STAGES: tuple[PipelineStage, ...] = (
    PipelineStage(
        "simulate",
        "clusterhpc.simulate.stage:main",
        "data",
        SURVEY,
        _exists("catalog.fits", "members.fits", "cutouts.fits", "footprint.fits"),
        spread=True,
    ),
    PipelineStage(
        "prep boxes",
        "clusterhpc.prep.boxes_stage:main",
        "data",
        (*SURVEY, "prep.out", "prep.size", "prep.scale", "prep.boxes", "prep.empty.image_dir"),
        _in_prep("boxes.fits"),
        IMAGES,
    ),
    PipelineStage(
        "prep empty",
        "clusterhpc.prep.empty_stage:main",
        "data",
        (*SURVEY, "prep.out", "prep.size", "prep.scale", "prep.empty"),
        _in_prep("empty_fields.fits"),
        IMAGES,
    ),
    PipelineStage(
        "prep pack",
        "clusterhpc.prep.pack_stage:main",
        "data",
        (*SURVEY, "prep"),
        _packed_ok,
        IMAGES,
        spread=True,
    ),
    PipelineStage(
        "prep sets",
        "clusterhpc.prep.sets_stage:main",
        "data",
        (*SURVEY, "prep.sets", "query.out"),
        _sets_ok,
        ("sets", "mlp"),
        spread=True,
    ),
    PipelineStage(
        "prep anchors",
        "clusterhpc.prep.anchors_stage:main",
        "data",
        (*SURVEY, "prep", "model.anchors"),
        lambda cfg: anchors_path(cfg).exists(),
        ("yolo",),
    ),
    PipelineStage(
        "train",
        "clusterhpc.train.stage:main",
        "run",
        (*SURVEY, "prep", "model", "train", "run"),
        _trained,
    ),
    PipelineStage(
        "evaluate",
        "clusterhpc.evaluate.stage:main",
        "run",
        (*SURVEY, "prep", "model", "train", "run", "evaluate"),
        _exists("metrics.json", "report.md", scope="run"),
    ),
    PipelineStage(
        "detect",
        "clusterhpc.detect.stage:detect_test_split",
        "run",
        (*SURVEY, "prep", "model", "train", "run", "evaluate", "detect"),
        _exists("detections.fits", scope="run"),
    ),
)


def stages_for(kind: str) -> tuple[PipelineStage, ...]:
    """The stages a `model.kind` run goes through, in order."""
    return tuple(stage for stage in STAGES if kind in stage.kinds)


# where the shards lie, not what they hold: stages read them by content (`stage_inputs`), and
# `prep pack` checks its outputs where `data.packed` points; so a staged copy reruns nothing
NOT_FINGERPRINTED = ("data.packed", "run.stage_ranks")


def _value(cfg: Config, dotted: str) -> object:
    """A config value or section (as a dict) by dotted key, without `NOT_FINGERPRINTED` keys."""
    node: object = cfg
    for part in dotted.split("."):
        node = getattr(node, part)
    if not dataclasses.is_dataclass(node):
        return node
    values = dataclasses.asdict(node)
    for key in NOT_FINGERPRINTED:
        section, _, name = key.rpartition(".")
        if section == dotted:
            values.pop(name, None)
    return values


def fingerprint(cfg: Config, stage: PipelineStage) -> str:
    """The config values the stage depends on and the content of its input files."""
    values = {key: _value(cfg, key) for key in stage.depends_on}
    root = survey_dir(cfg) if stage.scope == "data" else run_dir(cfg)
    values["inputs"] = inputs_digest(cfg, stage.name, root)
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def _stamp_path(cfg: Config, stage: PipelineStage) -> Path:
    root = survey_dir(cfg) if stage.scope == "data" else run_dir(cfg)
    return root / ".stages" / f"{stage.name.replace(' ', '_')}.json"


def is_done(cfg: Config, stage: PipelineStage) -> bool:
    stamp = _stamp_path(cfg, stage)
    if not stamp.exists():
        return False
    recorded = json.loads(stamp.read_text())
    return recorded["fingerprint"] == fingerprint(cfg, stage) and stage.outputs_ok(cfg)


def main(cfg: Config) -> int:
    check_run_config(cfg)
    comm = get_comm()
    timings: dict[str, float] = {}
    for stage in STAGES:
        if stage.name == "simulate" and not cfg.data.simulated:
            log.info("== simulate: data.simulated is false, using the files in %s", survey_dir(cfg))
            continue
        if cfg.model.kind not in stage.kinds:
            log.info("== %s: not needed by a model.kind %s run", stage.name, cfg.model.kind)
            continue
        done = comm.bcast(is_done(cfg, stage) if comm.is_root else None)
        if done:
            log.info("== %s: up to date, skipped", stage.name)
            continue
        log.info("== %s", stage.name)
        start = time.perf_counter()
        # an exception names the pipeline stage; every rank goes on to the next stage's
        # collectives only if every rank succeeded
        with stage_failures_end_the_launch(f"run: {stage.name}"):
            ranks = stage_ranks(cfg) if stage.spread and comm.size == 1 else 1
            if ranks > 1:
                code = run_stage_on_ranks(stage.name, cfg, ranks)
            else:
                code = int(stage_function(stage.target)(cfg) or 0)
        code = comm.allreduce_max(code)
        timings[stage.name] = round(time.perf_counter() - start, 1)
        if code:
            log.error("%s stopped with exit code %d; rerun to resume", stage.name, code)
            return code
        if comm.is_root:
            atomic_write_text(
                _stamp_path(cfg, stage),
                json.dumps(
                    {"fingerprint": fingerprint(cfg, stage), "seconds": timings[stage.name]}
                ),
            )
    if comm.is_root:
        log.info("pipeline done: %s", ", ".join(f"{k} {v} s" for k, v in timings.items()))
    return 0
