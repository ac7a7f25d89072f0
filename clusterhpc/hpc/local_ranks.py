"""MPI-parallel stages of a single-process `clusterhpc run` on every core of the machine.

`clusterhpc run` started plainly (`make demo`) is one process: its training keeps that one
rank (its figures stay those of a 1-rank run), but the heavy stages that split their work over
MPI ranks (simulate, prep pack, prep sets) can use every core. For those it starts
`mpirun -np N python -m clusterhpc STAGE <resolved config>` and waits. `run.stage_ranks` sets
N: 0 (default) is one rank per core this process may run on, 1 keeps the stage in-process.
Under a launcher (`mpirun`, `srun`, `horovodrun`) the ranks are already there: nothing is
started. Without `mpirun` on PATH the stages run in-process, with a log line saying so.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from clusterhpc.config import Config, write_resolved
from clusterhpc.hpc.env import rank_info
from clusterhpc.log import get_logger

log = get_logger("run")


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, so a Slurm or cgroup limit counts)."""
    return len(os.sched_getaffinity(0))


def stage_ranks(cfg: Config) -> int:
    """How many ranks to start for an MPI-parallel stage (1: run it in this process)."""
    if rank_info().launcher != "none":
        return 1
    wanted = cfg.run.stage_ranks or usable_cores()
    if wanted > 1 and shutil.which("mpirun") is None:
        log.info("mpirun is not on PATH: the MPI-parallel stages run in this process")
        return 1
    return wanted


def _is_open_mpi(mpirun: str) -> bool:
    out = subprocess.run([mpirun, "--version"], capture_output=True, text=True, check=False)
    return "Open MPI" in out.stdout + out.stderr


def mpirun_command(ranks: int, args: list[str]) -> tuple[list[str], dict[str, str]]:
    """The launch of `python -m clusterhpc ARGS` on `ranks` local ranks, and its environment.

    Open MPI counts physical cores as slots (a machine with hardware threads has fewer than
    `usable_cores`), so it may oversubscribe and binds nothing; as root it needs its consent.
    """
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        raise FileNotFoundError("mpirun is not on PATH")
    env = dict(os.environ)
    command = [mpirun, "-np", str(ranks)]
    if _is_open_mpi(mpirun):
        command += ["--oversubscribe", "--bind-to", "none"]
        if os.geteuid() == 0:
            env |= {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    return [*command, sys.executable, "-m", "clusterhpc", *args], env


def run_stage_on_ranks(stage_name: str, cfg: Config, ranks: int) -> int:
    """Run the CLI stage `stage_name` ("simulate", "prep pack", ...) on `ranks` ranks.

    The ranks read the resolved config (command-line overrides included) from a temporary
    file; the exit code is mpirun's, non-zero when any rank failed.
    """
    level = logging.getLevelName(logging.getLogger("clusterhpc").getEffectiveLevel())
    with tempfile.TemporaryDirectory(prefix="clusterhpc-stage-") as tmp:
        config = write_resolved(cfg, Path(tmp))
        args = ["--log-level", str(level), *stage_name.split(), str(config)]
        command, env = mpirun_command(ranks, args)
        log.info("%s on %d ranks: %s", stage_name, ranks, " ".join(command))
        return subprocess.run(command, env=env, check=False).returncode
