"""Sweep files: a base config, parameters to vary, resources and executor -> a list of jobs.

A sweep file is not a config; it has its own schema (`SweepSpec`), checked with the same
error messages as configs. Every varied `key.sub` path is checked against the `Config` schema
and every job's config is fully resolved before anything is submitted.

    base: tiny.yaml                 # config file, relative to the sweep file
    grid:                           # cartesian product, in file order
      train.lr_init: [0.001, 0.003]
      model.width: [0.25, 0.5]
    points:                         # and/or explicit combinations
      - {train.lr_init: 0.01, model.width: 1.0}
    fixed: {train.epochs: 2}        # applied to every job
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import json
import typing
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from clusterhpc.config import Config, ResourcesConfig, load_config
from clusterhpc.hpc.slurm import SAFE_PATH, safe_name, time_minutes
from clusterhpc.typed_dict import ConfigError, from_dict, param


@dataclass
class SweepResources(ResourcesConfig):
    """Per-job resources; on Slurm, keys not given come from the base config's `resources`."""

    array_parallelism: int = param(16, ge=1, help="jobs of the array running at the same time")
    max_array_size: int = param(1000, ge=1, help="most jobs in one array (Slurm MaxArraySize - 1)")
    signal_delay_s: int = param(120, ge=10, help="timeout warning this many seconds before the end")
    max_requeues: int = param(5, ge=0, help="resubmissions after a time limit, per job")


@dataclass
class ContainerSpec:
    image: str = param("", help="Apptainer image (.sif); '' = the current Python environment")
    apptainer: str = param("apptainer", help="apptainer (or singularity) command")
    nv: bool = param(True, help="pass --nv (expose the node's NVIDIA GPUs)")
    binds: list[str] = param(  # noqa: RUF009 (param copies the default)
        [], help="extra --bind specs (run and data dirs are always bound)"
    )


@dataclass
class SweepSpec:
    base: str = param("", help="config file every job starts from, relative to the sweep file")
    name: str = param("", help="sweep name; '' = the sweep file's name")
    out: str = param("runs/sweeps", help="parent of <name>/: run directories and manifest")
    executor: Literal["slurm", "local", "debug"] = param("slurm", help="where the jobs run")
    grid: dict[str, list[Any]] = param(  # noqa: RUF009 (param copies the default)
        {}, help="key.sub -> values; every combination is a job"
    )
    points: list[dict[str, Any]] = param(  # noqa: RUF009 (param copies the default)
        [], help="explicit combinations {key.sub: value}"
    )
    fixed: dict[str, Any] = param(  # noqa: RUF009 (param copies the default)
        {}, help="key.sub -> value applied to every job"
    )
    commands: list[str] = param(  # noqa: RUF009 (param copies the default)
        [], help="stages each job runs; [] = train (+ evaluate)"
    )
    sbatch: dict[str, str] = param(  # noqa: RUF009 (param copies the default)
        {}, help="extra sbatch options, e.g. {qos: high}"
    )
    resources: SweepResources = field(default_factory=SweepResources)
    container: ContainerSpec = field(default_factory=ContainerSpec)


@dataclass(frozen=True)
class SweepJob:
    """One job: its varied values, resolved config and run directory."""

    index: int
    name: str
    params: dict[str, Any]
    config: Config
    run_dir: Path


@dataclass
class Sweep:
    path: Path
    spec: SweepSpec
    base: Path
    directory: Path  # <out>/<name>: manifest, submitit logs, run directories
    commands: list[list[str]]  # stage words per command, e.g. [["train"], ["prep", "pack"]]
    jobs: list[SweepJob]

    @property
    def manifest(self) -> Path:
        return self.directory / "manifest.json"


def config_keys(cls: type = Config, prefix: str = "") -> list[str]:
    """Every dotted leaf key of the config schema."""
    keys: list[str] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            keys += config_keys(hints[f.name], f"{prefix}{f.name}.")
        else:
            keys.append(f"{prefix}{f.name}")
    return keys


def check_key(key: str, where: str) -> None:
    """Refuse a `key.sub` path that is not a config value, naming the closest valid key."""
    keys = config_keys()
    if key in keys:
        return
    parent, _, leaf = key.rpartition(".")
    siblings = {k.rpartition(".")[2]: k for k in keys if k.rpartition(".")[0] == parent}
    close = [k for k in keys if k.startswith(key)]  # a truncated name: train.lr -> train.lr_init
    close += [siblings[m] for m in difflib.get_close_matches(leaf, siblings, n=1, cutoff=0.5)]
    close += difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise ConfigError(f"{where}: unknown config key '{key}'{hint}")


def default_commands(stages: Collection[str]) -> list[str]:
    """`train`, then `evaluate` when that stage exists in this installation."""
    return ["train", "evaluate"] if "evaluate" in stages else ["train"]


def parse_command(text: str, stages: Collection[str], where: str) -> list[str]:
    """`'prep pack'` -> `['prep', 'pack']`, refusing anything that is not a known stage."""
    words = text.split()
    if " ".join(words) in stages:
        return words
    raise ConfigError(f"{where}: {text!r} is not a stage; expected one of {', '.join(stages)}")


def _override(key: str, value: Any) -> str:
    """`key=value` whose value parses back to exactly `value` (JSON is YAML)."""
    return f"{key}={json.dumps(value)}"


def _combinations(spec: SweepSpec, where: str) -> list[dict[str, Any]]:
    for key, values in spec.grid.items():
        check_key(key, f"{where}: grid")
        if not values:
            raise ConfigError(f"{where}: grid.{key} is an empty list: give at least one value")
    for i, point in enumerate(spec.points):
        if not point:
            raise ConfigError(f"{where}: points[{i}] is empty: give at least one key.sub: value")
        for key in point:
            check_key(key, f"{where}: points[{i}]")
    for key in spec.fixed:
        check_key(key, f"{where}: fixed")
    keys = list(spec.grid)
    grid = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*spec.grid.values())]
    combos = (grid if keys else []) + [dict(p) for p in spec.points]
    if not combos:
        raise ConfigError(f"{where}: the sweep has no jobs: give a non-empty 'grid' or 'points'")
    return combos


def _job_name(index: int, params: dict[str, Any]) -> str:
    leaves = [key.rpartition(".")[2] for key in params]
    labels = leaves if len(set(leaves)) == len(leaves) else list(params)
    text = "_".join(f"{k}-{v}" for k, v in zip(labels, params.values(), strict=True))
    return safe_name(f"{index:03d}_{text}")


def _check_limits(spec: SweepSpec, n_jobs: int, where: str) -> None:
    res = spec.resources
    time_minutes(res.time)  # raises on a malformed wall time
    if spec.executor == "slurm" and n_jobs > res.max_array_size:
        raise ConfigError(
            f"{where}: the sweep expands to {n_jobs} jobs, more than the job-array limit "
            f"resources.max_array_size = {res.max_array_size}; split the sweep or raise the "
            "limit (it must stay below the cluster's MaxArraySize)"
        )
    if spec.executor != "slurm" and res.nodes * res.tasks_per_node > 1:
        raise ConfigError(
            f"{where}: executor '{spec.executor}' runs one process per job, but resources ask "
            f"for {res.nodes} node(s) x {res.tasks_per_node} task(s); use executor: slurm"
        )


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read sweep file ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sweep keys, got {data!r}")
    return data


def load_sweep(path: str | Path, stages: Collection[str]) -> Sweep:
    """Read, validate and expand a sweep file; raises ConfigError before anything is run.

    `stages` are the command names jobs may run (`train`, `prep pack`, ...).
    """
    path = Path(path).resolve()
    where = str(path)
    data = _read(path)
    base_name = data.get("base")
    if not isinstance(base_name, str) or not base_name:
        raise ConfigError(f"{where}: base = {base_name!r}: expected the base config file name")
    base = (path.parent / base_name).resolve()
    base_cfg = load_config(base)
    # on Slurm, resources the sweep does not set come from the base config; local executors
    # run one process per job whatever the base config asks of a cluster
    resources = data.get("resources", {})
    if isinstance(resources, dict) and data.get("executor", "slurm") == "slurm":
        data = {**data, "resources": {**dataclasses.asdict(base_cfg.resources), **resources}}
    spec = from_dict(SweepSpec, data, default_source=where)
    commands = [
        parse_command(c, stages, f"{where}: commands[{i}]")
        for i, c in enumerate(spec.commands or default_commands(stages))
    ]
    directory = (Path(spec.out) / (spec.name or path.stem)).resolve()
    if not SAFE_PATH.match(str(directory)):
        raise ConfigError(
            f"{where}: out/name -> {str(directory)!r}: use only letters, digits and ._+-/ "
            "(the sweep directory is written unquoted into sbatch scripts)"
        )
    combos = _combinations(spec, where)
    _check_limits(spec, len(combos), where)
    fixed = [_override(k, v) for k, v in spec.fixed.items()]
    jobs = []
    for index, params in enumerate(combos):
        name = _job_name(index, params)
        run = directory / name
        overrides = [
            *fixed,
            *(_override(k, v) for k, v in params.items()),
            _override("run.dir", str(run)),
        ]
        try:
            cfg = load_config(base, overrides)
        except ConfigError as exc:
            raise ConfigError(f"{where}: job {name} ({params}): {exc}") from exc
        cfg.data.root = str(Path(cfg.data.root).resolve())
        if cfg.data.packed:
            cfg.data.packed = str(Path(cfg.data.packed).resolve())
        jobs.append(SweepJob(index, name, params, cfg, run))
    return Sweep(path, spec, base, directory, commands, jobs)
