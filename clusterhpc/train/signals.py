"""Stop cleanly when Slurm warns: SIGTERM (preemption, scancel) or SIGUSR1 (`--signal`).

The handler only records the signal; the trainer checks between steps, saves a checkpoint and
exits with EXIT_REQUEUE so the batch script knows to requeue the job.
"""

from __future__ import annotations

import signal
from types import FrameType

EXIT_REQUEUE = 75  # EX_TEMPFAIL: "try again later" — checkpoint written, resubmit to continue
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class StopRequest:
    """Records whether a stop signal arrived; install() while training, restore() after."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    @property
    def requested(self) -> bool:
        return self.received is not None
