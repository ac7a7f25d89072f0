"""Build nested dataclasses from plain dicts (parsed YAML), with errors people can act on.

Fields declare constraints with `param(default, ge=..., gt=..., le=..., lt=..., help=...)`.
Errors name where a value came from (a file or the command line), the dotted key, the value
and what is allowed; an unknown key also names the closest valid key.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union

from clusterhpc.errors import ClusterHPCError

T = TypeVar("T")


class ConfigError(ClusterHPCError, ValueError):
    """A configuration value or key that cannot be accepted."""


def param(
    default: Any,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    help: str = "",
) -> Any:
    """A dataclass field with bounds and a one-line description."""
    meta = {"ge": ge, "gt": gt, "le": le, "lt": lt, "help": help}
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if origin is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(tp))
    if origin in (list, tuple):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return f"a list of {_describe(args[0])}" if args else "a list"
    if origin in (Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in typing.get_args(tp))
    if dataclasses.is_dataclass(tp):
        return "a mapping of keys"
    return getattr(tp, "__name__", str(tp))


def _bounds_text(meta: Mapping[str, Any]) -> str:
    parts = [
        f"{sym} {meta[key]}"
        for key, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
        if meta.get(key) is not None
    ]
    return " and ".join(parts)


class _Builder:
    def __init__(self, sources: Mapping[str, str], default_source: str) -> None:
        self.sources = sources
        self.default_source = default_source

    def where(self, key: str) -> str:
        probe = key
        while probe:
            if probe in self.sources:
                return self.sources[probe]
            probe = probe.rpartition(".")[0]
        return self.default_source

    def fail(self, key: str, value: Any, expected: str) -> typing.NoReturn:
        raise ConfigError(f"{self.where(key)}: {key} = {value!r}: expected {expected}")

    def build(self, cls: type[T], data: Any, prefix: str) -> T:
        if not isinstance(data, Mapping):
            self.fail(prefix.rstrip(".") or "(top level)", data, "a mapping of keys")
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        for key in data:
            if key not in fields:
                dotted = f"{prefix}{key}"
                close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.5)
                hint = f"; did you mean '{prefix}{close[0]}'?" if close else ""
                section = f"'{prefix[:-1]}'" if prefix else "the top level"
                raise ConfigError(
                    f"{self.where(dotted)}: unknown key '{dotted}'{hint} "
                    f"(valid keys in {section}: {', '.join(sorted(fields))})"
                )
        hints = typing.get_type_hints(cls)
        values = {
            name: self.convert(hints[name], value, f"{prefix}{name}", fields[name].metadata)
            for name, value in data.items()
        }
        return cls(**values)

    def convert(self, tp: Any, value: Any, key: str, meta: Mapping[str, Any]) -> Any:
        origin = typing.get_origin(tp)
        if dataclasses.is_dataclass(tp):
            return self.build(tp, value, key + ".")
        if origin in (Union, types.UnionType):
            args = typing.get_args(tp)
            if value is None and type(None) in args:
                return None
            for arg in args:
                if arg is type(None):
                    continue
                try:
                    return self.convert(arg, value, key, meta)
                except ConfigError:
                    continue
            self.fail(key, value, _describe(tp))
        if origin is Literal:
            if value not in typing.get_args(tp):
                self.fail(key, value, _describe(tp))
            return value
        if origin in (list, tuple):
            if not isinstance(value, list | tuple):
                self.fail(key, value, _describe(tp))
            (item_tp, *_) = typing.get_args(tp) or (Any,)
            items = [self.convert(item_tp, v, f"{key}[{i}]", meta) for i, v in enumerate(value)]
            return items if origin is list else tuple(items)
        if tp is Any:
            return value
        if tp is bool:
            if not isinstance(value, bool):
                self.fail(key, value, "true or false")
            return value
        if tp is str:
            if not isinstance(value, str):
                self.fail(key, value, "a string (quote it in YAML)")
            return value
        if tp is int:
            if isinstance(value, bool) or not isinstance(value, int):
                self.fail(key, value, self._numeric_text("an integer", meta))
            return self._check_bounds(key, value, meta)
        if tp is float:
            number = self._as_float(value)
            if number is None:
                self.fail(key, value, self._numeric_text("a number", meta))
            return self._check_bounds(key, number, meta)
        if tp is dict or origin is dict:
            if not isinstance(value, Mapping):
                self.fail(key, value, "a mapping")
            key_tp, value_tp = typing.get_args(tp) or (Any, Any)
            return {
                self.convert(key_tp, k, f"{key}.{k}", {}): self.convert(
                    value_tp, v, f"{key}.{k}", meta
                )
                for k, v in value.items()
            }
        raise TypeError(f"unsupported config type {tp!r} for {key}")

    @staticmethod
    def _as_float(value: Any) -> float | None:
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):  # PyYAML reads `1e-4` (no dot) as a string
            try:
                return float(value)
            except ValueError:
                return None
        return None

    @staticmethod
    def _numeric_text(kind: str, meta: Mapping[str, Any]) -> str:
        bounds = _bounds_text(meta)
        return f"{kind} {bounds}" if bounds else kind

    def _check_bounds(self, key: str, value: float, meta: Mapping[str, Any]) -> Any:
        checks = (
            ("ge", lambda b: value >= b),
            ("gt", lambda b: value > b),
            ("le", lambda b: value <= b),
            ("lt", lambda b: value < b),
        )
        for name, ok in checks:
            bound = meta.get(name)
            if bound is not None and not ok(bound):
                kind = "an integer" if isinstance(value, int) else "a number"
                self.fail(key, value, f"{kind} {_bounds_text(meta)}")
        return value


def from_dict(
    cls: type[T],
    data: Mapping[str, Any],
    sources: Mapping[str, str] | None = None,
    default_source: str = "config",
) -> T:
    """Build dataclass `cls` from `data`; `sources` maps dotted keys to where they came from."""
    return _Builder(sources or {}, default_source).build(cls, data, "")


def field_help(cls: type) -> dict[str, str]:
    """Dotted key -> one-line description, for every documented field of `cls` (recursively)."""
    out: dict[str, str] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            out.update({f"{f.name}.{k}": v for k, v in field_help(hints[f.name]).items()})
        elif f.metadata.get("help"):
            out[f.name] = f.metadata["help"]
    return out
