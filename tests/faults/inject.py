"""Run the clusterhpc CLI with a fault injected on one rank (for the failure tests only).

    CHPC_FAULT=MODULE:ATTR[.ATTR]@RANK[#CALL][!kill] \
        python tests/faults/inject.py [-m clusterhpc] ARGS

replaces the callable `MODULE.ATTR` so that its CALL-th call (default 1) on rank RANK prints
"inject: fault in ... at <unix time>" and raises
`RuntimeError("injected fault ...")`, or with `!kill` sends SIGKILL to its own process: a rank
that dies with no chance to clean up. Every other call, and every other rank, runs the real
code. Then the real `clusterhpc.cli.main` runs with ARGS, as `python -m clusterhpc ARGS` would.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from clusterhpc.hpc.env import rank_info

FAULT = re.compile(
    r"^(?P<module>[\w.]+):(?P<attr>[\w.]+)@(?P<rank>\d+)(?:#(?P<call>\d+))?(?P<kill>!kill)?$"
)


def install(spec: str) -> None:
    match = FAULT.match(spec)
    if not match:
        raise SystemExit(f"inject: CHPC_FAULT={spec!r}: expected MODULE:ATTR@RANK[#CALL][!kill]")
    owner = importlib.import_module(match["module"])
    *path, name = match["attr"].split(".")
    for part in path:
        owner = getattr(owner, part)
    real = getattr(owner, name)
    rank, when, kill = int(match["rank"]), int(match["call"] or 1), bool(match["kill"])
    calls = 0

    @functools.wraps(real)
    def faulty(*args, **kwargs):
        nonlocal calls
        if rank_info().rank == rank:
            calls += 1
            if calls == when:
                where = f"{match['module']}:{match['attr']} (call {calls}) on rank {rank}"
                # the wall-clock time of the fault, for the tests' failure-to-exit times
                print(f"inject: fault in {where} at {time.time():.3f}", file=sys.stderr, flush=True)
                if kill:
                    os.kill(os.getpid(), signal.SIGKILL)
                raise RuntimeError(f"injected fault in {where}")
        return real(*args, **kwargs)

    setattr(owner, name, faulty)


def main(argv: list[str]) -> int:
    if argv[:2] == ["-m", "clusterhpc"]:
        argv = argv[2:]
    spec = os.environ.get("CHPC_FAULT", "")
    if spec:
        install(spec)
    from clusterhpc.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
