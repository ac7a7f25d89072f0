"""Rank-aware logging and progress bars: rank 0 speaks, other ranks only warn (unless asked)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm import tqdm

from clusterhpc.hpc.env import rank_info

T = TypeVar("T")
_all_ranks = False


def setup_logging(level: str = "INFO", all_ranks: bool = False) -> None:
    """Configure the `clusterhpc` logger for this process; tags lines with the rank under MPI."""
    global _all_ranks
    _all_ranks = all_ranks
    info = rank_info()
    tag = f"[rank {info.rank}/{info.size}] " if info.distributed else ""
    handler = logging.StreamHandler(sys.stderr)
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


def progress(iterable: Iterable[T], **kwargs: Any) -> Iterable[T]:
    """A tqdm bar on rank 0 (or every rank with --log-all-ranks); silent elsewhere."""
    info = rank_info()
    show = info.is_root or _all_ranks
    if info.distributed and show:
        kwargs.setdefault("desc", f"rank {info.rank}")
    return tqdm(iterable, disable=not show, dynamic_ncols=True, **kwargs)
