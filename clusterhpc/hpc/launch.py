"""submitit launchers for sweeps: one executor per sweep, one `JobRunner` per job.

A job runs its stages as child processes from argument lists (never through a shell):
`python -m clusterhpc <stage> <run_dir>/job.yaml`, or the same inside
`apptainer exec [--nv] --bind ... IMAGE clusterhpc ...`. Multi-task jobs run one runner per
Slurm task (`srun --mpi=pmix`), each starting one rank.

Requeue: submitit's timeout/preemption signal (`JobEnvironment.USR_SIG`, USR2 unless
SUBMITIT_PREEMPT_SIGNAL says otherwise) reaches the runner while a stage runs; the runner
forwards a stop signal to the stage (`train` checkpoints and exits 75, other stages die of it)
and, unless the stage was the job's last and finished anyway, hands the signal to the handler
that submitit installed for it: that handler pickles the runner (its `done` count: the
interrupted stage is not done and reruns, resuming or redoing its atomic outputs) and requeues
the job, at most `max_num_timeout` times after time limits.
"""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import submitit
from submitit.helpers import Checkpointable

from clusterhpc.hpc.slurm import safe_name, time_minutes
from clusterhpc.hpc.sweep import Sweep, SweepJob

JOB_FILE = "job.yaml"


@dataclass
class JobRunner(Checkpointable):
    """Run a job's commands in order; resumable after a requeue (`done` commands are skipped)."""

    commands: list[list[str]]
    run_dir: str
    done: int = 0

    def __call__(self) -> dict[str, Any]:
        log = Path(self.run_dir) / "logs"
        log.mkdir(parents=True, exist_ok=True)
        rank = submitit.JobEnvironment().global_rank
        while self.done < len(self.commands):
            command = self.commands[self.done]
            code, signalled = run_command(command, log / f"{self.done:02d}-rank{rank}.log")
            if code == 0:
                self.done += 1
            if signalled is not None and self.done < len(self.commands):
                # the time limit or a preemption is near: whatever the stage's exit code (75
                # after a checkpoint, -N when the forwarded signal killed it), requeue
                what = "is done" if code == 0 else f"exited with {code}, not done"
                print(
                    f"clusterhpc: {signalled.name} during {shlex.join(command)}: it {what}; "
                    f"requeueing to run commands {self.done + 1}-{len(self.commands)}",
                    flush=True,
                )
                handler = signal.getsignal(signalled)
                if callable(handler):  # submitit's: checkpoint `done`, requeue, exit rank 0
                    handler(signalled, None)
                return {"status": "interrupted", "run_dir": self.run_dir}
            if code != 0:
                raise RuntimeError(
                    f"{shlex.join(command)} exited with {code}; see {log} and {self.run_dir}"
                )
        return {"status": "finished", "run_dir": self.run_dir}


def run_command(command: list[str], log_file: Path) -> tuple[int, signal.Signals | None]:
    """Run one command; return its exit code and submitit's signal if that arrived meanwhile.

    The signal is forwarded to the command as SIGUSR1 (SIGTERM when submitit's signal is
    SIGUSR1 itself), which `train` answers with a checkpoint and exit 75.
    """
    usr = timeout_signal()
    stop = signal.SIGTERM if usr == signal.SIGUSR1 else signal.SIGUSR1
    got: list[int] = []
    with log_file.open("a") as out:
        # Slurm signals every process of the step: the stage must not die of `usr` itself
        proc = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: signal.signal(usr, signal.SIG_IGN),
        )

        def forward(signum: int, frame: FrameType | None) -> None:
            got.append(signum)
            proc.send_signal(stop)

        previous = signal.signal(usr, forward)
        try:
            code = proc.wait()
        finally:
            signal.signal(usr, previous)
    return code, (usr if got else None)


def timeout_signal() -> signal.Signals:
    """The signal submitit sends before a time limit or a preemption: SIGUSR2 unless the
    environment variable SUBMITIT_PREEMPT_SIGNAL names another (submitit checked it at start)."""
    return signal.Signals[f"SIG{submitit.JobEnvironment.USR_SIG}"]


def _stage_prefix(sweep: Sweep, job: SweepJob) -> list[str]:
    spec = sweep.spec.container
    if not spec.image:
        return [sys.executable, "-m", "clusterhpc"]
    data = job.config.data
    binds = [str(job.run_dir), data.root, *([data.packed] if data.packed else []), *spec.binds]
    return [
        spec.apptainer,
        "exec",
        *(["--nv"] if spec.nv else []),
        *(arg for bind in binds for arg in ("--bind", bind)),
        spec.image,
        "clusterhpc",
    ]


def job_runner(sweep: Sweep, job: SweepJob) -> JobRunner:
    """The callable submitted for `job` (reads `<run_dir>/job.yaml`, written by `write_job`)."""
    prefix = _stage_prefix(sweep, job)
    config = str(job.run_dir / JOB_FILE)
    return JobRunner([[*prefix, *words, config] for words in sweep.commands], str(job.run_dir))


def slurm_parameters(sweep: Sweep) -> dict[str, Any]:
    """SlurmExecutor parameters (sbatch options) shared by every job of the sweep."""
    res = sweep.spec.resources
    params: dict[str, Any] = {
        "job_name": safe_name(f"sweep-{sweep.directory.name}"),
        "time": time_minutes(res.time),
        "nodes": res.nodes,
        "ntasks_per_node": res.tasks_per_node,
        "cpus_per_task": res.cpus_per_task,
        "mem": f"{res.mem_gb}GB",
        "signal_delay_s": res.signal_delay_s,
        "array_parallelism": res.array_parallelism,
        "srun_args": ["--mpi=pmix"],
        "stderr_to_stdout": True,
        "additional_parameters": {"requeue": True, **sweep.spec.sbatch},
    }
    if res.gpus_per_task:
        params["gpus_per_task"] = res.gpus_per_task
    if res.partition:
        params["partition"] = res.partition
    if res.account:
        params["account"] = res.account
    return params


def make_executor(sweep: Sweep) -> submitit.Executor:
    folder = sweep.directory / "submitit" / "%j"
    kind = sweep.spec.executor
    if kind == "debug":
        return submitit.DebugExecutor(folder)
    if kind == "local":
        executor = submitit.LocalExecutor(folder)
        executor.update_parameters(timeout_min=time_minutes(sweep.spec.resources.time))
        return executor
    executor = submitit.SlurmExecutor(folder, max_num_timeout=sweep.spec.resources.max_requeues)
    executor.update_parameters(**slurm_parameters(sweep))
    return executor


def uses_array(sweep: Sweep) -> bool:
    """Single-node jobs go into one job array; multi-node jobs are submitted one by one."""
    return sweep.spec.executor == "slurm" and sweep.spec.resources.nodes == 1


def sbatch_text(sweep: Sweep) -> str:
    """The sbatch options this sweep gives submitit, as `#SBATCH` lines (for --dry-run).

    submitit renders the final script at submission: these options plus its own --output,
    --open-mode and --wckey, and an `srun` line whose command runs the pickled `JobRunner`.
    """
    params = slurm_parameters(sweep)
    options = {k: v for k, v in params.items() if k not in _NOT_SBATCH_OPTIONS}
    options["signal"] = f"{submitit.JobEnvironment.USR_SIG}@{params['signal_delay_s']}"
    if uses_array(sweep):
        count = len(sweep.jobs)
        options["array"] = f"0-{count - 1}%{min(count, params['array_parallelism'])}"
    options.update(params["additional_parameters"])
    lines = ["#!/bin/bash", *(_sbatch_line(key, options[key]) for key in sorted(options))]
    srun = shlex.join(["srun", *params["srun_args"]])
    return "\n".join([*lines, f"# each task: {srun} <submitit's command: run the pickled job>"])


# slurm_parameters keys that submitit turns into other options or into the srun line
_NOT_SBATCH_OPTIONS = {
    "signal_delay_s",
    "array_parallelism",
    "srun_args",
    "stderr_to_stdout",
    "additional_parameters",
}


def _sbatch_line(key: str, value: Any) -> str:
    """`#SBATCH --key=value` as submitit writes it (`_` -> `-`; True -> a bare flag)."""
    flag = f"#SBATCH --{key.replace('_', '-')}"
    return flag if value is True else f"{flag}={shlex.quote(str(value))}"
