"""Slurm helpers: wall-time strings, job states from accounting, safe names for jobs and files."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable

from clusterhpc.typed_dict import ConfigError

# [D-]HH:MM:SS, [D-]HH:MM, D-HH, MM:SS or MM (sbatch --time formats)
_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")
SAFE_PATH = re.compile(r"^[A-Za-z0-9._+/-]+$")  # nothing a shell would split or expand
FINISHED_STATES = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "OUT_OF_MEMORY",
        "NODE_FAIL",
        "PREEMPTED",
        "BOOT_FAIL",
        "DEADLINE",
    }
)


def time_minutes(text: str) -> int:
    """Slurm `--time` string -> whole minutes (rounded up, at least 1)."""
    match = _TIME.match(text.strip())
    if not match:
        raise ConfigError(
            f"time = {text!r}: expected a Slurm wall time such as 30, 1:30:00 or 2-00:00:00"
        )
    days, first, second, third = match.groups()
    if days is not None:  # D-HH[:MM[:SS]]
        hours, minutes, seconds = int(first), int(second or 0), int(third or 0)
    elif third is not None:  # HH:MM:SS
        hours, minutes, seconds = int(first), int(second), int(third)
    elif second is not None:  # MM:SS
        hours, minutes, seconds = 0, int(first), int(second)
    else:  # MM
        hours, minutes, seconds = 0, int(first), 0
    total = ((int(days or 0) * 24 + hours) * 60 + minutes) * 60 + seconds
    return max(1, -(-total // 60))


def safe_name(text: str, limit: int = 80) -> str:
    """A job or directory name made only of [A-Za-z0-9._+-]: nothing a shell would interpret."""
    name = re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("._") or "job"
    return name[:limit]


def job_states(job_ids: Iterable[str]) -> dict[str, str]:
    """Current state of each job (array task ids like `12_3` included) from squeue and sacct.

    States are Slurm's words (`PENDING`, `RUNNING`, `COMPLETED`, `CANCELLED`, ...); a job
    neither queued nor accounted is `UNKNOWN`.
    """
    ids = [i for i in job_ids if i]
    if not ids:
        return {}
    if shutil.which("sacct") is None:
        raise ConfigError("sacct not found: status needs the Slurm client commands on PATH")
    wanted = ",".join(ids)
    states = dict.fromkeys(ids, "UNKNOWN")
    acct = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", wanted],
        capture_output=True,
        text=True,
        timeout=60,
    )
    for line in acct.stdout.splitlines():
        job, _, state = line.partition("|")
        if job in states and state:
            states[job] = state.split()[0]  # "CANCELLED by 0" -> CANCELLED
    queue = subprocess.run(
        ["squeue", "-h", "-r", "-o", "%i|%T", "-j", wanted],
        capture_output=True,
        text=True,
        timeout=60,
    )
    for line in queue.stdout.splitlines():
        job, _, state = line.partition("|")
        if job in states and state:
            states[job] = state.strip()
    return states
