"""Rank-aware logging and progress: rank 0 speaks, other ranks only warn (unless asked).

Progress is a tqdm bar on a terminal. Where stderr is a file or a pipe (a Slurm output file,
`make demo > log`) a bar would write one endless line of carriage returns, so progress is a
log line every CLUSTERHPC_PROGRESS_S seconds (30 by default) and one when the work ends.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm import tqdm

from clusterhpc.hpc.env import rank_info
from clusterhpc.progress_lines import ProgressLines

T = TypeVar("T")
_all_ranks = False


class _CurrentStderr(logging.StreamHandler):
    """A handler that writes to whatever `sys.stderr` is when a record is emitted (it may be
    replaced after set-up: by a test's capture, a redirection)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        """Ignored: the stream is always the current stderr."""


def setup_logging(level: str = "INFO", all_ranks: bool = False) -> None:
    """Configure the `clusterhpc` logger for this process; tags lines with the rank under MPI."""
    global _all_ranks
    _all_ranks = all_ranks
    info = rank_info()
    tag = f"[rank {info.rank}/{info.size}] " if info.distributed else ""
    handler = _CurrentStderr()
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s {tag}%(levelname)s %(message)s", datefmt="%H:%M:%S")
    )
    logger = logging.getLogger("clusterhpc")
    logger.handlers[:] = [handler]
    logger.propagate = False
    speaks = info.is_root or all_ranks
    logger.setLevel(level.upper() if speaks else logging.WARNING)


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name if name.startswith("clusterhpc") else f"clusterhpc.{name}")


def progress(
    iterable: Iterable[T] | None = None, *, desc: str = "", **kwargs: Any
) -> tqdm | ProgressLines:
    """Progress on rank 0 (or every rank with --log-all-ranks), silent elsewhere: a tqdm bar on
    a terminal, log lines otherwise. Iterate over it, or call `update(n)` and `close()`;
    `total` and `unit` as in tqdm."""
    info = rank_info()
    show = info.is_root or _all_ranks
    if info.distributed and show:
        desc = desc or f"rank {info.rank}"
    if show and not sys.stderr.isatty():
        interval = float(os.environ.get("CLUSTERHPC_PROGRESS_S", "30"))
        return ProgressLines(
            iterable, desc=desc, interval_s=interval, log=get_logger("progress"), **kwargs
        )
    return tqdm(iterable, desc=desc, disable=not show, dynamic_ncols=True, **kwargs)
