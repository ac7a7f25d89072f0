"""submitit launchers for sweeps: one executor per sweep, one `JobRunner` per job.

A job runs its stages as child processes from argument lists (never through a shell):
`python -m clusterhpc <stage> <run_dir>/job.yaml`, or the same inside
`apptainer exec [--nv] --bind ... IMAGE clusterhpc ...`. Multi-task jobs run one runner per
Slurm task (`srun --mpi=pmix`), each starting one rank. On submitit's timeout/preemption
signal the runner forwards SIGUSR1 to its stage, which checkpoints and exits 75; then
submitit's own handler requeues the job, which resumes from the checkpoint.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import submitit
from submitit.helpers import Checkpointable
from submitit.slurm.slurm import _make_sbatch_string

from clusterhpc.hpc.slurm import safe_name, time_minutes
from clusterhpc.hpc.sweep import Sweep, SweepJob
from clusterhpc.train.signals import EXIT_REQUEUE

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
        for command in self.commands[self.done :]:
            code, signalled = self._run(command, log / f"{self.done:02d}-rank{rank}.log")
            if code == EXIT_REQUEUE and signalled is not None:
                # the stage checkpointed: let submitit's handler requeue (it exits rank 0)
                handler = signal.getsignal(signalled)
                if callable(handler):
                    handler(signalled, None)
                return {"status": "interrupted", "run_dir": self.run_dir}
            if code != 0:
                raise RuntimeError(
                    f"{' '.join(command)} exited with {code}; see {log} and {self.run_dir}"
                )
            self.done += 1
        return {"status": "finished", "run_dir": self.run_dir}

    def _run(self, command: list[str], log_file: Path) -> tuple[int, int | None]:
        """Run one command, forwarding submitit's timeout signal to it as SIGUSR1."""
        usr = submitit.JobEnvironment._usr_sig()
        got: list[int] = []
        with log_file.open("a") as out:
            # Slurm signals every process of the step: the stage must not die of `usr`
            proc = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=lambda: signal.signal(usr, signal.SIG_IGN),
            )

            def forward(signum: int, frame: FrameType | None) -> None:
                got.append(signum)
                proc.send_signal(signal.SIGUSR1)

            previous = signal.signal(usr, forward)
            try:
                code = proc.wait()
            finally:
                signal.signal(usr, previous)
        return code, (usr if got else None)


def _stage_prefix(sweep: Sweep, job: SweepJob) -> list[str]:
    spec = sweep.spec.container
    if not spec.image:
        return [sys.executable, "-m", "clusterhpc"]
    binds = [str(job.run_dir), job.config.data.root, *spec.binds]
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
    """The sbatch script submitit would write for this sweep's jobs (for --dry-run)."""
    executor = submitit.SlurmExecutor(sweep.directory / "submitit" / "%j")
    executor.update_parameters(**slurm_parameters(sweep))
    map_count = len(sweep.jobs) if uses_array(sweep) else None
    return _make_sbatch_string(
        command=executor._submitit_command_str,
        folder=executor.folder,
        map_count=map_count,
        **executor.parameters,
    )
