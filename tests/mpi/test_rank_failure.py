"""Under real `mpirun -np 2`, one failing rank ends the whole job in every kind of stage.

Faults come from tests/faults/inject.py: rank 1 raises part-way through a prep stage, packing,
training, evaluate and `clusterhpc run`; rank 0 raises where rank 1 waits for its broadcast;
rank 1 is SIGKILLed while writing a shard and during training. Each time the launch must exit
non-zero within LIVENESS_S of its start (a liveness bound: a hang shows as a failure, not a
performance figure), the log must name the rank and the stage (mpirun's own message names a
killed rank), and nothing half-written may look complete. Each test prints a `TIMING` line
(launch->exit and fault->exit); `pytest -s` shows them. Measured on 2 shared cores: under 0.1 s
from fault to exit outside training (1 s for a SIGKILL), 2 s in training (its ranks take
SIGTERM as a checkpoint request, so mpirun's SIGKILL after its grace period ends them).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clusterhpc.cli import main as cli_main
from clusterhpc.io.labels import LabelLine, write_labels
from clusterhpc.prep.verify_stage import check_shard
from tests.conftest import ROOT, mpirun_command, run_mpi
from tests.data.fixtures import make_entries
from tests.faults.bounded import Ended, run_bounded
from tests.hpc.fixtures import TINY
from tests.prep.test_stages import make_survey, overrides
from tests.train.fixtures import make_packed_survey

pytestmark = [pytest.mark.mpi, pytest.mark.slow, pytest.mark.timeout(180)]
INJECT = str(ROOT / "tests" / "faults" / "inject.py")
TINY_CONFIG = str(ROOT / "configs" / "tiny.yaml")
LIVENESS_S = 120


def launch(case: str, fault: str, *args: str) -> Ended:
    """`mpirun -np 2 inject.py -m clusterhpc ARGS` with `fault`, bounded by LIVENESS_S."""
    ended = run_bounded(
        mpirun_command(2, INJECT, "-m", "clusterhpc", *args), LIVENESS_S, {"CHPC_FAULT": fault}
    )
    print(ended.timing(case))
    assert ended.after_fault is not None, f"the fault never fired:\n{ended.output[-4000:]}"
    assert ended.returncode != 0, ended.output[-4000:]
    assert ended.seconds < LIVENESS_S
    return ended


def assert_names(ended: Ended, rank: int, stage: str) -> None:
    """The log says which rank failed, in which stage, and why."""
    assert f"clusterhpc {stage}: error on rank {rank} of 2 (mpirun)" in ended.output, ended.output[
        -4000:
    ]
    assert "injected fault" in ended.output


def assert_killed(ended: Ended) -> None:
    """mpirun's own report names the rank that died of SIGKILL."""
    assert "rank 1" in ended.output and "signal 9" in ended.output, ended.output[-4000:]


# ---- prep


def test_rank_1_failing_before_a_gather_in_prep_boxes(tmp_path):
    """Rank 1 raises computing its boxes while rank 0 waits for them in the gather."""
    root, out = make_survey(tmp_path / "survey"), tmp_path / "prep"
    ended = launch(
        "prep boxes, rank 1 raises",
        "clusterhpc.prep.boxes_stage:compute_boxes@1",
        "prep",
        "boxes",
        TINY_CONFIG,
        *overrides(root, out),
    )
    assert_names(ended, 1, "prep boxes")
    assert not (out / "boxes.fits").exists()


def test_rank_1_failing_in_prep_empty_between_all_reduces(tmp_path):
    """Rank 1 raises drawing its 2nd chunk, after one all-reduce of the counts (small chunks:
    several rounds); rank 0 waits in the next one."""
    root, out = make_survey(tmp_path / "survey"), tmp_path / "prep"
    ended = launch(
        "prep empty, rank 1 raises",
        "clusterhpc.prep.empty_fields:draw_chunk@1#2",
        "prep",
        "empty",
        TINY_CONFIG,
        *overrides(root, out),
        "prep.empty.chunk=8",
    )
    assert_names(ended, 1, "prep empty")
    assert not (out / "empty_fields.fits").exists()
    assert not list(out.glob(".*.tmp*"))


def pack_args(tmp_path: Path, n_images: int = 12) -> list[str]:
    """`prep pack` of n_images PNGs from a seed label file, 2 images a shard."""
    survey = tmp_path / "survey"
    entries = make_entries(survey, n_images)
    labels = tmp_path / "train.txt"
    lines = [LabelLine(str(survey / e.path), e.boxes.astype(int), np.ones((1, 1))) for e in entries]
    write_labels(labels, lines)
    return [
        TINY_CONFIG,
        f"data.root={survey}",
        f"prep.pack.labels={{train: {labels}}}",
        "prep.pack.shard_size=2",
    ]


def assert_no_incomplete_shard(packed: Path, per_shard: int) -> None:
    """Every shard under its final name is whole (checksums, images, count)."""
    for shard in packed.glob("*.h5"):
        assert check_shard(shard, per_shard) == [], shard


@pytest.mark.parametrize("kill", [False, True], ids=["raises", "sigkill"])
def test_rank_1_failing_while_writing_a_shard_leaves_no_index(tmp_path, kill):
    """A complete pack, then a repack (other image size) in which rank 1 fails inside its 2nd
    shard's write (a temporary file exists). No index is left over the mix of old and new
    shards, every shard under its final name is whole, and a rerun finishes and verifies."""
    args = pack_args(tmp_path)
    packed = tmp_path / "survey" / "packed"
    assert cli_main(["prep", "pack", *args]) == 0
    assert (packed / "index.json").exists()
    repack = [*args, "prep.pack.image_size=16"]
    fault = "clusterhpc.io.shards:_sha256@1#30" + ("!kill" if kill else "")
    ended = launch(
        f"prep pack, rank 1 {'SIGKILLed' if kill else 'raises'}", fault, "prep", "pack", *repack
    )
    if kill:
        assert_killed(ended)
        # the killed rank's temporary shard is left, under a name no reader takes for a shard
        assert list(packed.glob(".*.h5.tmp*"))
    # (rank 0, ended by the abort, may leave one too: the next pack removes them)
    else:
        assert_names(ended, 1, "prep pack")
    assert not (packed / "index.json").exists()
    assert_no_incomplete_shard(packed, 2)
    assert cli_main(["prep", "verify", *repack]) != 0  # no index: nothing to trust
    assert cli_main(["prep", "pack", *repack]) == 0
    assert not list(packed.glob(".*.h5.tmp*"))
    assert cli_main(["prep", "verify", *repack]) == 0


def test_rank_0_failing_before_the_broadcast_in_prep_pack(tmp_path):
    """Rank 0 alone reads the label files while rank 1 waits for the entries."""
    args = pack_args(tmp_path, n_images=4)
    ended = launch(
        "prep pack, rank 0 raises before bcast",
        "clusterhpc.prep.pack_stage:entries_from_label_files@0",
        "prep",
        "pack",
        *args,
    )
    assert_names(ended, 0, "prep pack")
    assert not (tmp_path / "survey" / "packed" / "index.json").exists()


VERIFY_EXIT_CODES = """
import sys
from clusterhpc.config import load_config
from clusterhpc.hpc.env import rank_info
from clusterhpc.prep.verify_stage import main
code = main(load_config(sys.argv[1], sys.argv[2:]))
print(f"rank {rank_info().rank} exit {code}", flush=True)
"""


def test_verify_problems_give_every_rank_the_same_exit_code(tmp_path):
    """A shard checked by rank 1 is missing: rank 0 reports it, and both ranks exit 1 (a rank
    exiting 0 would let the next stage of a job script start)."""
    survey = make_packed_survey(tmp_path)
    (survey / "packed" / "train-00001-of-00003.h5").unlink()  # shards[1::2] are rank 1's
    proc = run_mpi(2, "-c", VERIFY_EXIT_CODES, TINY_CONFIG, f"data.root={survey}", timeout=120)
    assert "rank 0 exit 1" in proc.stdout and "rank 1 exit 1" in proc.stdout, proc.stdout
    assert "train-00001-of-00003.h5: listed in index.json but missing" in proc.stderr


# ---- train


def train_args(survey: Path, run: Path) -> list[str]:
    """Two epochs of two steps of a tiny detector."""
    args = [f"{key}={json.dumps(value)}" for key, value in TINY.items()]
    return [*args, f"data.root={survey}", f"run.dir={run}", "train.epochs=2"]


def assert_not_finished_and_resumes(run: Path, args: list[str]) -> None:
    """No summary says finished; the latest checkpoint restores (resume=must asserts it) and a
    rerun on the same 2 ranks resumes from it and finishes."""
    summary = run / "train_summary.json"
    assert not summary.exists() or json.loads(summary.read_text())["status"] != "finished"
    assert (run / "checkpoints" / "checkpoint").exists()
    rerun = run_bounded(
        mpirun_command(2, "-m", "clusterhpc", "train", TINY_CONFIG, *args, "train.resume=must"),
        LIVENESS_S,
    )
    print(rerun.timing("train rerun"))
    assert rerun.returncode == 0, rerun.output[-4000:]
    assert "resumed from" in rerun.output
    done = json.loads(summary.read_text())
    assert done["status"] == "finished" and done["epochs_done"] == 2


@pytest.mark.horovod
@pytest.mark.timeout(300)  # the launch and the rerun
def test_rank_1_failing_at_the_last_checkpoint_save(tmp_path):
    """Rank 1 raises entering the end-of-training checkpoint while rank 0 writes it and then
    waits in a Horovod barrier; rank 0 dies with its write done or not."""
    survey, run = make_packed_survey(tmp_path), tmp_path / "run"
    args = train_args(survey, run)
    ended = launch(
        "train, rank 1 raises at the 2nd checkpoint",
        "clusterhpc.train.trainer:Trainer._save@1#2",
        "train",
        TINY_CONFIG,
        *args,
    )
    assert_names(ended, 1, "train")
    assert_not_finished_and_resumes(run, args)


@pytest.mark.horovod
@pytest.mark.timeout(300)  # the launch and the rerun
def test_rank_1_sigkilled_during_training(tmp_path):
    """Rank 1 is SIGKILLed in the all-reduce of its 3rd step (epoch 2) while rank 0 waits in
    Horovod; epoch 1's checkpoint stays valid."""
    survey, run = make_packed_survey(tmp_path), tmp_path / "run"
    args = train_args(survey, run)
    ended = launch(
        "train, rank 1 SIGKILLed at step 3",
        "clusterhpc.train.backend:HorovodBackend.average@1#3!kill",
        "train",
        TINY_CONFIG,
        *args,
    )
    assert_killed(ended)
    assert_not_finished_and_resumes(run, args)


@pytest.mark.horovod
def test_rank_0_failing_before_the_weights_broadcast(tmp_path):
    """Rank 0 alone records the run's inference values before the Trainer's collectives."""
    survey, run = make_packed_survey(tmp_path), tmp_path / "run"
    ended = launch(
        "train, rank 0 raises before bcast",
        "clusterhpc.models.inference_record:start@0",
        "train",
        TINY_CONFIG,
        *train_args(survey, run),
    )
    assert_names(ended, 0, "train")
    assert not (run / "train_summary.json").exists()


# ---- evaluate and run


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny detector trained by one process: (survey, run)."""
    tmp = tmp_path_factory.mktemp("trained")
    survey, run = make_packed_survey(tmp), tmp / "run"
    args = [f"{key}={json.dumps(value)}" for key, value in TINY.items()]
    args += [f"data.root={survey}", f"run.dir={run}"]
    proc = subprocess.run(
        [sys.executable, "-m", "clusterhpc", "train", TINY_CONFIG, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return survey, run


def test_rank_1_failing_in_evaluate_inference(tmp_path, trained):
    """Rank 1 raises on its first batch of detections while rank 0 detects and then waits in
    the gather; no metrics, report or threshold are written."""
    survey, run = trained
    ended = launch(
        "evaluate, rank 1 raises in inference",
        "clusterhpc.models.yolo_inference:Detector.detect_letterboxed@1",
        "evaluate",
        TINY_CONFIG,
        f"data.root={survey}",
        f"run.dir={run}",
    )
    assert_names(ended, 1, "evaluate")
    assert not (run / "metrics.json").exists() and not (run / "report.md").exists()
    assert "score_threshold" not in json.loads((run / "inference.json").read_text())


def test_rank_0_failing_before_a_broadcast_in_run(tmp_path):
    """`clusterhpc run`: rank 0 alone checks the stage stamps while rank 1 waits for its
    answer."""
    ended = launch(
        "run, rank 0 raises before bcast",
        "clusterhpc.pipeline:is_done@0",
        "run",
        TINY_CONFIG,
        f"data.root={tmp_path / 'survey'}",
    )
    assert_names(ended, 0, "run")


def test_rank_1_failing_in_a_stage_of_run(tmp_path):
    """`clusterhpc run`: rank 1 raises in `prep empty`, after simulate and prep boxes; the log
    names the pipeline stage, the stages before it are stamped, it is not."""
    survey = tmp_path / "survey"
    ended = launch(
        "run, rank 1 raises in prep empty",
        "clusterhpc.prep.empty_fields:draw_chunk@1#2",
        "run",
        TINY_CONFIG,
        f"data.root={survey}",
        f"run.dir={tmp_path / 'run'}",
        "prep.empty.chunk=8",
    )
    assert_names(ended, 1, "run: prep empty")
    stamps = sorted(p.name for p in (survey / ".stages").glob("*.json"))
    assert "simulate.json" in stamps and "prep_boxes.json" in stamps
    assert "prep_empty.json" not in stamps
    assert not (survey / "prep" / "empty_fields.fits").exists()
