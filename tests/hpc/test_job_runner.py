"""JobRunner on this machine: submitit's timeout signal during any stage leads to a requeue.

The stages are real child processes; the job environment is a Slurm task's (SLURM_PROCID), and
a stand-in for the handler submitit installs for SIGUSR2 records the runner's state and exits
as submitit's does on rank 0 after a requeue. tests/slurm/test_sweep_requeue.py runs the same
on the real Slurm.
"""

from __future__ import annotations

import signal
import sys

import pytest

from clusterhpc.hpc.launch import JobRunner

# the stage warns its runner as Slurm would (submitit's signal), then works on
WARN = "os.kill(os.getppid(), signal.SIGUSR2); time.sleep(60)"


def stage(on_usr1: str = "") -> list[str]:
    """A stage that (after installing `on_usr1` as its SIGUSR1 handler) gets the signal."""
    handler = f"signal.signal(signal.SIGUSR1, {on_usr1}); " if on_usr1 else ""
    return [sys.executable, "-c", f"import os, signal, time; {handler}{WARN}"]


DIES_OF_IT = stage()  # like `evaluate` or a prep stage: no handler
EXITS_75 = stage("lambda *a: os._exit(75)")  # like `train`: checkpoint, exit 75
FINISHES = stage("lambda *a: os._exit(0)")  # done just in time


@pytest.fixture
def requeues(monkeypatch, tmp_path):
    """The `done` count each requeue saw; the stand-in handler exits like submitit's."""
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    monkeypatch.setenv("SLURM_PROCID", "0")
    seen: list[int] = []
    runner_box: list[JobRunner] = []

    def handler(signum, frame):
        assert signum == signal.SIGUSR2
        seen.append(runner_box[0].done)
        raise SystemExit(-1)

    previous = signal.signal(signal.SIGUSR2, handler)
    yield seen, runner_box
    signal.signal(signal.SIGUSR2, previous)


def make_runner(box, tmp_path, *commands) -> JobRunner:
    runner = JobRunner([list(c) for c in commands], str(tmp_path))
    box.append(runner)
    return runner


def marker(tmp_path) -> list[str]:
    return [sys.executable, "-c", f"open({str(tmp_path / 'ran')!r}, 'w')"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("command", [DIES_OF_IT, EXITS_75], ids=["killed-by-signal", "exit-75"])
def test_a_signalled_stage_that_fails_is_requeued_and_not_done(requeues, tmp_path, command, capsys):
    seen, box = requeues
    runner = make_runner(box, tmp_path, [sys.executable, "-c", ""], command, marker(tmp_path))
    with pytest.raises(SystemExit):
        runner()
    assert seen == [1]  # the first command is done; the signalled one reruns after the requeue
    assert runner.done == 1 and not (tmp_path / "ran").exists()
    assert "not done; requeueing to run commands 2-3" in capsys.readouterr().out


@pytest.mark.timeout(60)
def test_a_signalled_stage_that_finishes_is_done_and_the_job_requeues_before_the_next(
    requeues, tmp_path
):
    seen, box = requeues
    runner = make_runner(box, tmp_path, FINISHES, marker(tmp_path))
    with pytest.raises(SystemExit):
        runner()
    assert seen == [1] and not (tmp_path / "ran").exists()


@pytest.mark.timeout(60)
def test_a_signalled_last_stage_that_finishes_ends_the_job(requeues, tmp_path):
    seen, box = requeues
    assert make_runner(box, tmp_path, FINISHES)()["status"] == "finished"
    assert seen == []


@pytest.mark.timeout(60)
def test_a_failing_stage_without_a_signal_fails_the_job(requeues, tmp_path):
    seen, box = requeues
    runner = make_runner(box, tmp_path, [sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(RuntimeError, match="exited with 3"):
        runner()
    assert seen == [] and runner.done == 0
