"""`clusterhpc config CONFIG [key=value ...]`: print the fully resolved config, every key
with its value and a comment saying what it means (the reference for every config key)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from clusterhpc.config import Config
from clusterhpc.typed_dict import field_help


def _scalar(value: Any) -> str:
    return (
        json.dumps(value)
        if isinstance(value, str | list | dict)
        else str(value).lower()
        if isinstance(value, bool)
        else repr(value)
    )


def render(cfg: Any, helps: dict[str, str], prefix: str = "", indent: int = 0) -> list[str]:
    lines = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        pad = "  " * indent
        if dataclasses.is_dataclass(value):
            lines.append(f"{pad}{f.name}:")
            lines += render(value, helps, f"{prefix}{f.name}.", indent + 1)
            continue
        text = f"{pad}{f.name}: {_scalar(value)}"
        note = helps.get(f"{prefix}{f.name}", "")
        lines.append(f"{text:<44} # {note}" if note else text)
    return lines


def main(cfg: Config) -> int:
    print("\n".join(render(cfg, field_help(Config))))
    return 0
