"""Progress: a bar on a terminal, a few log lines in a file (a batch system's output)."""

from __future__ import annotations

import fcntl
import logging
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest

from clusterhpc.progress_lines import ProgressLines
from tests.conftest import ROOT
from tests.prep.test_stages import make_survey, overrides


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def lines(caplog):
    caplog.set_level(logging.INFO, logger="test.progress")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "test.progress"]


def test_a_line_per_interval_and_one_at_the_end(lines):
    clock = Clock()
    log = logging.getLogger("test.progress")
    bar = ProgressLines(desc="boxes", total=100, unit="chunk", interval_s=10, log=log, clock=clock)
    for _ in range(100):  # one chunk a second: a line every 10 s
        clock.now += 1
        bar.update(1)
    bar.close()
    bar.close()
    got = lines()
    assert len(got) == 11
    assert got[0] == "boxes: 10/100 chunk (10 %), 1 chunk/s, ETA 90 s"
    assert got[-1] == "boxes: 100/100 chunk (100 %) in 100.0 s (1 chunk/s)"


def test_iterating_yields_everything_and_closes_without_a_total(lines):
    clock = Clock()

    def items():
        for i in range(5):
            clock.now += 4
            yield i

    bar = ProgressLines(
        items(), desc="draw", unit="field", interval_s=10, log=logging.getLogger("test.progress"),
        clock=clock,
    )  # fmt: skip
    assert list(bar) == [0, 1, 2, 3, 4]
    assert lines() == ["draw: 3 field, 0.25 field/s", "draw: 5 field in 20.0 s (0.25 field/s)"]


def test_a_stage_writing_to_a_file_logs_lines_not_a_bar(tmp_path):
    """`prep boxes` with stderr in a file, as under Slurm: no carriage return, a closing line."""
    root = make_survey(tmp_path / "survey")
    log = tmp_path / "stage.log"
    with log.open("w") as out:
        subprocess.run(
            [sys.executable, "-m", "clusterhpc", "prep", "boxes", str(ROOT / "configs/tiny.yaml"),
             *overrides(root, tmp_path / "prep")],
            stdout=out, stderr=out, check=True, cwd=ROOT, timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
    text = log.read_text()
    assert "\r" not in text
    assert re.search(r"INFO boxes: (\d+)/\1 chunk \(100 %\) in [\d.]+ s", text), text


PROGRESS_ON_A_TERMINAL = """
from clusterhpc.log import progress, setup_logging
setup_logging()
for _ in progress(range(3), desc="work", unit="step"):
    pass
"""


def test_a_terminal_gets_a_bar(tmp_path):
    """stderr on a pseudo-terminal: tqdm redraws its bar with carriage returns."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # 80 columns
    proc = subprocess.Popen(
        [sys.executable, "-c", PROGRESS_ON_A_TERMINAL],
        stderr=terminal, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    assert proc.wait(timeout=60) == 0
    os.close(controller)
    text = output.decode(errors="replace")
    assert "\r" in text and "3/3" in text and "work" in text, text
    assert "INFO work" not in text
