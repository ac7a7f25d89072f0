"""Nested dicts as flat `a.b.c` -> value maps (config identities, sweep result tables)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def dotted_items(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Every leaf of nested mappings under its dotted key (`prefix.` first when given)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(dotted_items(value, name))
        else:
            flat[name] = value
    return flat
