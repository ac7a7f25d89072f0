"""`horovodrun --gloo` does what the README says: `train` runs, the MPI-parallel stages refuse.

Under Gloo every process sees no MPI: an MPI-parallel stage would run whole on every rank and
write the same files. They refuse with `LaunchError` (exit 2) on every rank, and horovodrun
ends the launch. Training runs on Horovod's Gloo controller, and a failing or SIGKILLed rank
ends it within LIVENESS_S (a liveness bound, not a performance figure). Each test prints a
`TIMING` line (launch->exit and fault->exit); `pytest -s` shows them.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.faults.bounded import run_bounded
from tests.hpc.fixtures import TINY
from tests.prep.test_stages import make_survey, overrides
from tests.train.fixtures import make_packed_survey

pytestmark = [pytest.mark.horovod, pytest.mark.slow, pytest.mark.timeout(180)]
INJECT = str(ROOT / "tests" / "faults" / "inject.py")
TINY_CONFIG = str(ROOT / "configs" / "tiny.yaml")
LIVENESS_S = 120
BIN = Path(sys.executable).parent


def horovodrun_gloo(*command: str) -> list[str]:
    horovodrun = shutil.which("horovodrun", path=str(BIN)) or shutil.which("horovodrun")
    if horovodrun is None:
        pytest.fail("horovodrun not found next to the interpreter: scripts/install-horovod.sh")
    return [horovodrun, "--gloo", "-np", "2", *command]


def clusterhpc() -> str:
    """The installed `clusterhpc` command, as the README runs it."""
    found = shutil.which("clusterhpc", path=str(BIN))
    if found is None:
        pytest.fail(f"no clusterhpc command in {BIN}: pip install -e .")
    return found


def train_args(survey: Path, run: Path) -> list[str]:
    args = [f"{key}={json.dumps(value)}" for key, value in TINY.items()]
    return [*args, f"data.root={survey}", f"run.dir={run}", "train.epochs=2"]


def test_mpi_parallel_stage_refuses_gloo_naming_mpirun(tmp_path):
    """`horovodrun --gloo -np 2 clusterhpc prep boxes` exits non-zero at once, saying why and
    what to run instead, and writes nothing."""
    root, out = make_survey(tmp_path / "survey"), tmp_path / "prep"
    ended = run_bounded(
        horovodrun_gloo(clusterhpc(), "prep", "boxes", TINY_CONFIG, *overrides(root, out)),
        LIVENESS_S,
    )
    print(ended.timing("horovodrun --gloo prep boxes refused"))
    assert ended.returncode != 0 and ended.seconds < LIVENESS_S, ended.output[-4000:]
    # every rank refuses; horovodrun ends the others once the first exits (maybe unheard)
    refused = re.search(
        r"clusterhpc prep boxes: error on rank [01] of 2 \(horovodrun\): horovodrun --gloo "
        r"started 2 processes without MPI",
        ended.output,
    )
    assert refused, ended.output[-4000:]
    assert "run it with `mpirun -np 2`, `srun --mpi=pmix`" in ended.output
    assert "Exit code: 2" in ended.output  # horovodrun's report of the first rank to exit
    assert not out.exists()


def test_train_runs_under_gloo(tmp_path):
    """`horovodrun --gloo -np 2 clusterhpc train` trains on both ranks to the end."""
    survey, run = make_packed_survey(tmp_path), tmp_path / "run"
    ended = run_bounded(
        horovodrun_gloo(clusterhpc(), "train", TINY_CONFIG, *train_args(survey, run)), LIVENESS_S
    )
    print(ended.timing("horovodrun --gloo train"))
    assert ended.returncode == 0, ended.output[-4000:]
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["status"] == "finished" and summary["ranks"] == 2
    assert summary["global_step"] == 2 * TINY["train.max_steps_per_epoch"]
    replicas = summary["replicas"]  # gathered over Gloo: both ranks, the same weights
    assert [(r["rank"], r["local_rank"]) for r in replicas] == [(0, 0), (1, 1)], replicas
    assert replicas[0]["weights_sha256"] == replicas[1]["weights_sha256"], replicas
    assert "[rank 0/2]" in ended.output  # Horovod's world, not two worlds of one


@pytest.mark.parametrize("kill", [False, True], ids=["raises", "sigkill"])
def test_failing_rank_ends_gloo_training(tmp_path, kill):
    """Rank 1 raises in (or is SIGKILLed at) the all-reduce of its 3rd step while rank 0
    waits in Gloo: horovodrun ends the launch; no summary says finished."""
    survey, run = make_packed_survey(tmp_path), tmp_path / "run"
    fault = "clusterhpc.train.backend:HorovodBackend.average@1#3" + ("!kill" if kill else "")
    ended = run_bounded(
        horovodrun_gloo(sys.executable, INJECT, "-m", "clusterhpc", "train", TINY_CONFIG)
        + train_args(survey, run),
        LIVENESS_S,
        {"CHPC_FAULT": fault},
    )
    print(ended.timing(f"horovodrun --gloo train, rank 1 {'SIGKILLed' if kill else 'raises'}"))
    assert ended.after_fault is not None, ended.output[-4000:]
    assert ended.returncode != 0 and ended.seconds < LIVENESS_S, ended.output[-4000:]
    if kill:
        # horovodrun's report: rank 1 died of SIGKILL (through a shell: 128 + 9)
        died = re.search(r"Process name: 1\nExit code: (137|-9)", ended.output)
        assert died, ended.output[-4000:]
    else:
        assert "clusterhpc train: error on rank 1 of 2 (horovodrun)" in ended.output
        assert "injected fault" in ended.output
    assert not (run / "train_summary.json").exists()
    assert (run / "checkpoints" / "checkpoint").exists()  # epoch 1's, before the fault
