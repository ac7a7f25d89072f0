"""Progress as occasional log lines, for output that is not a terminal (batch-system logs)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class ProgressLines(Generic[T]):
    """Counts work done and logs `desc: n/total unit (p %), rate, ETA` at most every
    `interval_s` seconds, then one closing line; iterate over it or call `update` and `close`."""

    def __init__(
        self,
        iterable: Iterable[T] | None = None,
        *,
        desc: str = "",
        total: int | None = None,
        unit: str = "it",
        interval_s: float = 30.0,
        log: logging.Logger,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable, self.desc, self.total, self.unit = iterable, desc or "progress", total, unit
        self.interval_s, self.log, self.clock = interval_s, log, clock
        self.n = 0
        self.start = self.last_line = clock()
        self.closed = False

    def __iter__(self) -> Iterator[T]:
        if self.iterable is None:
            raise TypeError("ProgressLines without an iterable: call update() instead")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def update(self, n: int = 1) -> None:
        """Count `n` more done; log a line when `interval_s` has passed since the last one."""
        self.n += n
        now = self.clock()
        if now - self.last_line >= self.interval_s:
            self.last_line = now
            self.log.info("%s", self.line(now))

    def close(self) -> None:
        """Log the closing line (once)."""
        if not self.closed:
            self.closed = True
            self.log.info("%s", self.line(self.clock(), closing=True))

    def line(self, now: float, closing: bool = False) -> str:
        elapsed = now - self.start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        done = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        text = f"{self.desc}: {done} {self.unit}"
        if self.total:
            text += f" ({100 * self.n / self.total:.0f} %)"
        if closing:
            return f"{text} in {elapsed:.1f} s ({rate:.3g} {self.unit}/s)"
        text += f", {rate:.3g} {self.unit}/s"
        if self.total and rate > 0:
            text += f", ETA {(self.total - self.n) / rate:.0f} s"
        return text

    def __enter__(self) -> ProgressLines[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
