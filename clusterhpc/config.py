"""Typed configuration: YAML files under `configs/` -> dataclasses, `key.sub=value` overrides.

A config file may name another with `base: other.yaml` (relative to itself); its values are
the defaults the file then overrides. Only `yaml.safe_load` is used.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from clusterhpc.io.atomic import atomic_write_text
from clusterhpc.typed_dict import ConfigError, from_dict, param

__all__ = ["Config", "ConfigError", "load_config", "parse_overrides", "write_resolved"]


@dataclass
class DataConfig:
    root: str = param("data/quickstart", help="survey directory (catalog.fits, members.fits, ...)")


@dataclass
class RunConfig:
    dir: str = param("runs/quickstart", help="run directory: resolved config, checkpoints, report")


@dataclass
class ResourcesConfig:
    nodes: int = param(1, ge=1, help="nodes per job")
    tasks_per_node: int = param(1, ge=1, help="MPI/Horovod ranks per node (one per GPU)")
    gpus_per_task: int = param(0, ge=0, help="GPUs per rank (0 on CPU-only machines)")
    cpus_per_task: int = param(1, ge=1, help="cores per rank")
    mem_gb: int = param(4, ge=1, help="memory per node in GiB")
    time: str = param("01:00:00", help="wall-time limit, Slurm format [D-]HH:MM:SS")
    partition: str = param("", help="Slurm partition ('' = site default)")
    account: str = param("", help="Slurm account ('' = user default)")


@dataclass
class Config:
    seed: int = param(42, ge=0, help="master random seed; each rank derives its own stream")
    data: DataConfig = field(default_factory=DataConfig)
    run: RunConfig = field(default_factory=RunConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level, got {data!r}")
    return data


def _merge(base: dict[str, Any], top: Mapping[str, Any], source: str,
           sources: dict[str, str], prefix: str = "") -> None:
    """Merge `top` into `base` in place, recording where every leaf key came from."""
    for key, value in top.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value, source, sources, dotted + ".")
        else:
            base[key] = dict(value) if isinstance(value, Mapping) else value
            sources[dotted] = source


def _load_chain(path: Path, sources: dict[str, str], seen: tuple[Path, ...] = ()) -> dict:
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"{path}: 'base' chain loops back to this file")
    data = _read_yaml(path)
    base_name = data.pop("base", None)
    merged: dict[str, Any] = {}
    if base_name is not None:
        if not isinstance(base_name, str):
            raise ConfigError(f"{path}: base = {base_name!r}: expected a file name")
        merged = _load_chain(path.parent / base_name, sources, (*seen, path))
    _merge(merged, data, str(path), sources)
    return merged


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """`['train.epochs=3', 'data.root=/x']` -> nested dict; values are parsed as YAML scalars."""
    nested: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"command line: override {item!r}: expected key.sub=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"command line: override {item!r}: value is not valid YAML") from exc
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"command line: override {item!r} conflicts with another")
        node[leaf] = value
    return nested


def load_config(path: str | Path | None, overrides: Sequence[str] = ()) -> Config:
    """Load a config file (or the defaults when `path` is None) and apply overrides."""
    sources: dict[str, str] = {}
    data = _load_chain(Path(path), sources) if path is not None else {}
    _merge(data, parse_overrides(overrides), "command line", sources)
    return from_dict(Config, data, sources, default_source=str(path or "defaults"))


def to_dict(cfg: Config) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def write_resolved(cfg: Config, directory: str | Path, name: str = "config.yaml") -> Path:
    """Write the fully resolved config next to a stage's outputs; returns the file written."""
    path = Path(directory) / name
    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))
    return path
