"""Run a parallel launch (mpirun, horovodrun) under a liveness bound, for the failure tests.

A launch still running at the bound is a hang: its whole process group is killed and the test
fails with the output. Otherwise `Ended` has the exit status, the output, the wall time from
launch to exit and, when tests/faults/inject.py fired, the time from the fault to the exit.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from tests.conftest import ROOT

FAULT_AT = re.compile(r"inject: fault in .* at (\d+\.\d+)")


@dataclass(frozen=True)
class Ended:
    returncode: int
    output: str  # stdout and stderr, interleaved
    seconds: float  # from launch to exit
    after_fault: float | None  # from the injected fault to exit; None when none fired

    def timing(self, case: str) -> str:
        """One line for the test log: `TIMING case: exit N, ... s`."""
        fault = "no fault" if self.after_fault is None else f"fault->exit {self.after_fault:.1f} s"
        return f"TIMING {case}: exit {self.returncode}, launch->exit {self.seconds:.1f} s, {fault}"


def run_bounded(command: Sequence[str], bound_s: float, env: dict[str, str] | None = None) -> Ended:
    """Run `command` from the project root with PYTHONPATH set; fail the test past `bound_s`."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    start = time.time()
    proc = subprocess.Popen(
        list(command),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env=full_env,
        start_new_session=True,  # a hang is killed with every rank the launcher started
    )
    try:
        output, _ = proc.communicate(timeout=bound_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"{command[0]} still running {bound_s:.0f} s after launch:\n{output[-4000:]}")
    ended = time.time()
    fault = FAULT_AT.search(output)
    return Ended(proc.returncode, output, ended - start, ended - float(fault[1]) if fault else None)
