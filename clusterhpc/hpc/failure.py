"""One failing rank ends the whole launch, at once, with a non-zero exit and the reason logged.

Under `mpirun`, `srun` or `horovodrun`, a rank that raises and then exits normally would call
`MPI_Finalize` (collective) while the others wait in a broadcast or an all-reduce: the job
hangs until its time limit. `stage_failures_end_the_launch` logs the failure with the rank and
the stage, then ends this process without finalising: `MPI_Abort` when mpi4py holds MPI (the
runtime kills every rank), else `os._exit`, which every launcher treats as a failed rank
(`mpirun` and `horovodrun` kill the others, `srun --kill-on-bad-exit=1` ends the step).
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Iterator
from typing import NoReturn

from clusterhpc.errors import ClusterHPCError
from clusterhpc.hpc.env import rank_info

EXIT_BAD_INPUT = 2  # a ClusterHPCError: bad input the user can fix
EXIT_FAILED = 1  # any other exception


def end_launch(code: int) -> NoReturn:
    """End this process with `code` now, taking every other rank of the launch with it."""
    sys.stdout.flush()
    sys.stderr.flush()
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized():
        mpi.COMM_WORLD.Abort(code)
    os._exit(code)


@contextlib.contextmanager
def stage_failures_end_the_launch(where: str) -> Iterator[None]:
    """Run a stage; on an exception in a parallel launch, log it and end every rank.

    A single process keeps the usual behaviour: the exception propagates (a traceback, or
    the CLI's one-line message for a `ClusterHPCError`)."""
    info = rank_info()
    if not info.distributed:
        yield
        return
    try:
        yield
    except (Exception, KeyboardInterrupt) as exc:
        bad_input = isinstance(exc, ClusterHPCError)
        code = EXIT_BAD_INPUT if bad_input else EXIT_FAILED
        detail = str(exc) if bad_input else traceback.format_exc().rstrip()
        print(
            f"clusterhpc {where}: error on rank {info.rank} of {info.size} "
            f"({info.launcher}): {detail}\n"
            f"clusterhpc {where}: rank {info.rank} ends the whole launch (exit {code})",
            file=sys.stderr,
        )
        end_launch(code)
