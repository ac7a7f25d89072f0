"""A stage function named `"module:function"`, imported only when the stage runs (so `--help`
and the light stages never pay for TensorFlow): the CLI and `clusterhpc run` both use this."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from clusterhpc.config import Config

StageFunction = Callable[[Config], "int | None"]


def stage_function(target: str) -> StageFunction:
    """Import `module` and return its `function` for a `"module:function"` target."""
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)
