"""The launch paths across two hosts: the namespaced nodes of the local Slurm.

`CLUSTERHPC_SLURM_NS_NODES=2 tests/slurm/local-cluster.sh start` adds nodes nsnode1 and
nsnode2 (partition `multinode`): each its own slurmd, network namespace (198.18.0.0/15
addresses, reached over a bridge), hostname and private scratch. Ranks on them reach each
other over TCP only, see local rank 0 each, and cannot see each other's scratch. The bounds
below are liveness bounds on a 2-core machine; a hang shows as a timeout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from clusterhpc.submit import main as submit_main
from tests.conftest import ROOT
from tests.hpc.fixtures import TINY, write_sweep
from tests.slurm.conftest import (
    MULTINODE_PARTITION,
    PREFIX,
    overrides,
    run_states,
    sbatch_script,
    wait_for_job,
)
from tests.train.fixtures import make_packed_survey

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.multinode,
    pytest.mark.slow,
    pytest.mark.horovod,
    pytest.mark.usefixtures("multinode"),
]
TINY_CONFIG = ROOT / "configs" / "tiny.yaml"
NODE_SCRATCH = PREFIX / "scratch"  # each node's own directory there (see local-cluster.sh)
JOB_S = 300  # submission to the end of a tiny training job on 2 busy cores
SGD = {"train.optimizer": "sgd"}  # Adam turns rounding noise into full steps (see test_horovod)


def sbatch(tmp_path: Path, script: str, options: list[str], env: dict, args: list[str]) -> str:
    env = {
        **os.environ,
        "CONFIG": str(TINY_CONFIG),
        "PYTHON": sys.executable,
        "PYTHONPATH": str(ROOT),
        **env,
    }
    return sbatch_script(
        tmp_path, script, [f"--partition={MULTINODE_PARTITION}", *options], env, args
    )


def train(tmp_path: Path, survey: Path, run: Path, options: list[str], extra: dict, **env) -> str:
    return sbatch(
        tmp_path,
        "train_yolo",
        options,
        {"RUN_DIR": str(run), "DATA_DIR": str(survey), **env},
        overrides({**TINY, **SGD, **extra}),
    )


def output(tmp_path: Path, job: str, logs: Path) -> str:
    files = [tmp_path / f"slurm-{job}.out", *sorted(logs.glob(f"*-{job}.log"))]
    return "\n".join(f"== {p.name}\n{p.read_text()[-3000:]}" for p in files if p.exists())


def summary(run: Path) -> dict:
    return json.loads((run / "train_summary.json").read_text())


def step_losses(run: Path) -> list[float]:
    rows = [json.loads(r) for r in (run / "train_log.jsonl").read_text().splitlines()]
    return [r["total"] for r in rows if r["kind"] == "step"]


def assert_one_rank_per_node(replicas: list[dict], nodes: list[str]) -> None:
    """One rank on each node, local rank 0 on both, the same weights on both."""
    assert [r["rank"] for r in replicas] == [0, 1], replicas
    assert sorted(r["host"] for r in replicas) == nodes[:2], replicas
    assert [r["local_rank"] for r in replicas] == [0, 0], replicas
    assert replicas[0]["weights_sha256"] == replicas[1]["weights_sha256"], replicas


def wait_for_text(path: Path, text: str, timeout: float, why) -> None:
    deadline = time.monotonic() + timeout
    while text not in (path.read_text() if path.exists() else ""):
        assert time.monotonic() < deadline, why()
        time.sleep(0.3)


@pytest.mark.timeout(2 * JOB_S + 60)
def test_two_nodes_train_from_node_local_copies_like_one_node(tmp_path, jobs, multinode):
    """`--nodes=2 --ntasks-per-node=1` with STAGE_DIR on each node's private scratch: both
    ranks hold the same weights at the end, and the same as 2 ranks on one node reading the
    shared copy (the same global batches: same arithmetic, the all-reduce of 2 is exact)."""
    survey = make_packed_survey(tmp_path)
    two, one = tmp_path / "two-nodes", tmp_path / "one-node"
    extra = {"train.epochs": 2}
    start = time.monotonic()
    job = train(
        tmp_path,
        survey,
        two,
        ["--nodes=2", "--ntasks-per-node=1"],
        extra,
        STAGE_DIR=str(NODE_SCRATCH),
    )
    jobs.append(job)
    assert wait_for_job(job, timeout=JOB_S) == "COMPLETED", output(tmp_path, job, two / "logs")
    print(f"2-node training job: {time.monotonic() - start:.1f} s")
    assert_one_rank_per_node(summary(two)["replicas"], multinode)
    staged = f"clusterhpc-{job}/packed"
    for node in multinode[:2]:  # a copy on each node's own scratch, none on the shared one
        index = PREFIX / "nodes" / node / "scratch" / staged / "index.json"
        assert index.read_bytes() == (survey / "packed" / "index.json").read_bytes()
    assert not (NODE_SCRATCH / staged).exists()
    resolved = (two / "config.yaml").read_text()
    assert f"packed: {NODE_SCRATCH / staged}" in resolved, resolved

    job = train(tmp_path, survey, one, ["--nodes=1", "--ntasks-per-node=2"], extra)
    jobs.append(job)
    assert wait_for_job(job, timeout=JOB_S) == "COMPLETED", output(tmp_path, job, one / "logs")
    replicas = summary(one)["replicas"]
    assert len({r["host"] for r in replicas}) == 1 and [r["local_rank"] for r in replicas] == [0, 1]
    assert step_losses(two) == step_losses(one)
    assert replicas[0]["weights_sha256"] == summary(two)["replicas"][0]["weights_sha256"]


@pytest.mark.timeout(2 * JOB_S + 120)
def test_the_time_limit_warning_requeues_and_the_job_resumes_on_two_nodes(
    tmp_path, jobs, multinode
):
    """The warning (USR1, as at `--signal=B:USR1@T`) reaches both nodes' ranks: they
    checkpoint, the job requeues itself and its second run resumes on two nodes."""
    survey, run = make_packed_survey(tmp_path), tmp_path / "run"
    epochs = 60  # one step each: still training when the warning comes, on a fast machine too
    extra = {"train.epochs": epochs, "train.max_steps_per_epoch": 1, "train.keep_checkpoints": 1}
    job = train(tmp_path, survey, run, ["--nodes=2", "--ntasks-per-node=1"], extra)
    jobs.append(job)
    log = run / "logs" / f"train-{job}.log"
    wait_for_text(log, "INFO checkpoint", JOB_S, lambda: output(tmp_path, job, run / "logs"))
    subprocess.run(["scancel", "--batch", "--signal=USR1", job], check=True)
    state = wait_for_job(job, timeout=JOB_S + 60)
    text = output(tmp_path, job, run / "logs")
    assert state == "COMPLETED", text
    assert "checkpointed; requeueing job" in text and "resumed from" in log.read_text()
    assert (tmp_path / f"slurm-{job}.out").read_text().count("2 ranks on 2 node(s)") == 2
    assert (summary(run)["status"], summary(run)["epochs_done"]) == ("finished", epochs)
    assert_one_rank_per_node(summary(run)["replicas"], multinode)
    rows = [json.loads(r) for r in (run / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "step"] == list(range(1, epochs + 1))


def node_pids(node: str) -> list[str]:
    return subprocess.run(
        ["ip", "netns", "pids", f"clusterhpc-{node}"], capture_output=True, text=True, check=True
    ).stdout.split()


def kill_node(node: str) -> int:
    """What a node crash does to a job: its link goes dead (it sends nothing more, not even a
    TCP reset), then every process of it (its slurmd, the step daemons, the ranks) dies.
    Returns how many processes were killed; `local-cluster.sh start` brings the link back."""
    subprocess.run(["ip", "link", "set", f"chpc-{node}", "down"], check=True)
    pids = node_pids(node)
    subprocess.run(["kill", "-KILL", *pids], check=False)  # one may have exited meanwhile
    deadline = time.monotonic() + 30
    while node_pids(node):
        assert time.monotonic() < deadline, f"processes of {node} survive: {node_pids(node)}"
        time.sleep(0.2)
    return len(pids)


def start_cluster() -> None:
    """`local-cluster.sh start` again: restarts the dead node's slurmd and resumes the node."""
    subprocess.run(
        ["bash", str(ROOT / "tests" / "slurm" / "local-cluster.sh"), "start"],
        check=True,
        capture_output=True,
        timeout=180,
        env={**os.environ, "CLUSTERHPC_SLURM_SKIP_SELFTEST": "1"},
    )


def assert_checkpoint_whole(run: Path) -> int:
    """The latest checkpoint reads whole; returns its step."""
    from clusterhpc.keras_compat import import_keras

    tf, _ = import_keras()
    latest = tf.train.latest_checkpoint(str(run / "checkpoints"))
    assert latest is not None
    reader = tf.train.load_checkpoint(latest)
    names = reader.get_variable_to_shape_map()
    assert len(names) > 10
    for name in names:
        reader.get_tensor(name)
    return int(latest.rsplit("-", 1)[1])


def queue_state(job: str) -> str:
    return subprocess.run(
        ["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True
    ).stdout.strip()


@pytest.mark.timeout(3 * JOB_S)
def test_a_node_dying_mid_training_fails_the_run_and_the_requeue_resumes(tmp_path, jobs, multinode):
    """nsnode2 dies (its link cut, SIGKILL to every process in its namespace) after a
    checkpoint. Slurm
    notices (SlurmdTimeout: 60 s here, 300 s by default), ends the run NODE_FAIL and, the
    script being `--requeue`, queues the job again; it waits for two nodes with the last
    checkpoint whole. With the node back, the job resumes from that checkpoint on two nodes and
    finishes. No rank notices by itself: a dead host sends nothing, as on a real cluster."""
    survey, run = make_packed_survey(tmp_path), tmp_path / "run"
    epochs = 60
    extra = {"train.epochs": epochs, "train.max_steps_per_epoch": 1, "train.keep_checkpoints": 2}
    job = train(tmp_path, survey, run, ["--nodes=2", "--ntasks-per-node=1"], extra)
    jobs.append(job)
    log = run / "logs" / f"train-{job}.log"
    why = lambda: output(tmp_path, job, run / "logs")  # noqa: E731
    wait_for_text(log, "INFO checkpoint", JOB_S, why)
    killed_at = time.monotonic()
    try:
        node_failure_then_resume(tmp_path, job, run, epochs, multinode, killed_at)
    finally:
        start_cluster()  # the node back for the next tests, whatever happened


def node_failure_then_resume(
    tmp_path: Path, job: str, run: Path, epochs: int, multinode: list[str], killed_at: float
) -> None:
    log = run / "logs" / f"train-{job}.log"
    why = lambda: output(tmp_path, job, run / "logs")  # noqa: E731
    assert kill_node(multinode[1]) >= 3  # slurmd, slurmstepd, the rank
    while run_states(job)[:1] != ["NODE_FAIL"] or queue_state(job) != "PENDING":
        assert time.monotonic() - killed_at < JOB_S, (run_states(job), queue_state(job), why())
        time.sleep(1)
    print(f"node killed -> run ended NODE_FAIL, job pending: {time.monotonic() - killed_at:.1f} s")
    assert f"Node failure on {multinode[1]}" in why()
    assert not (run / "train_summary.json").exists()
    resumed_from = assert_checkpoint_whole(run)
    assert 1 <= resumed_from < epochs

    start_cluster()
    assert wait_for_job(job, timeout=JOB_S) == "COMPLETED", why()
    assert run_states(job) == ["NODE_FAIL", "COMPLETED"]
    assert f"resumed from {run / 'checkpoints' / f'ckpt-{resumed_from}'}" in log.read_text()
    assert "(restart 1): 2 ranks on 2 node(s)" in why()
    assert (summary(run)["status"], summary(run)["epochs_done"]) == ("finished", epochs)
    assert_one_rank_per_node(summary(run)["replicas"], multinode)
    rows = [json.loads(r) for r in (run / "train_log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows if r["kind"] == "step"]
    assert steps[-(epochs - resumed_from) :] == list(range(resumed_from + 1, epochs + 1))


def prep_outputs(survey: Path) -> dict[str, object]:
    """What the prep stages produced, by content (image paths relative to the survey)."""
    out: dict[str, object] = {}
    for name in ("boxes.fits", "empty_fields.fits"):
        with fits.open(survey / "prep" / name) as hdus:
            for hdu in hdus[1:]:
                for column in hdu.columns.names:
                    values = np.asarray(hdu.data[column])
                    if column == "PATH":
                        values = np.char.replace(values.astype(str), str(survey), "")
                    out[f"{name}:{hdu.name}.{column}"] = values.tolist()
    out["anchors.txt"] = (survey / "prep" / "anchors.txt").read_text()
    index = json.loads((survey / "packed" / "index.json").read_text())
    out["packed"] = {k: v["shards"] for k, v in index["splits"].items()}
    return out


@pytest.mark.timeout(2 * JOB_S)
def test_preprocess_on_two_nodes_gives_the_one_rank_outputs(tmp_path, jobs, simulated):
    """`sbatch --nodes=2 slurm/preprocess.sbatch`: one MPI rank per node (srun --mpi=pmix
    over TCP between the nodes), the same boxes, empty fields, shards and anchors as one rank."""
    stages = {"STAGES": "boxes empty pack verify anchors"}
    outputs = {}
    for nodes in (2, 1):
        survey = tmp_path / f"survey-{nodes}"
        shutil.copytree(simulated, survey)
        env = {**stages, "DATA_DIR": str(survey)}
        job = sbatch(tmp_path, "preprocess", [f"--nodes={nodes}"], env, [])
        jobs.append(job)
        state = wait_for_job(job, timeout=JOB_S)
        assert state == "COMPLETED", output(tmp_path, job, survey / "logs")
        assert f"prep boxes on {nodes} ranks" in (tmp_path / f"slurm-{job}.out").read_text()
        boxes_log = (survey / "logs" / f"prep-boxes-{job}.log").read_text()
        assert ("[rank 0/2]" in boxes_log) == (nodes == 2), boxes_log
        outputs[nodes] = prep_outputs(survey)
        steps = subprocess.run(
            ["sacct", "-n", "-P", "-o", "JobID,NTasks,NodeList", "-j", job],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        placed = {line.split("|", 1)[1] for line in steps if line.startswith(f"{job}.0|")}
        wanted = [{"2|nsnode[1-2]"}] if nodes == 2 else [{"1|nsnode1"}, {"1|nsnode2"}]
        assert placed in wanted, steps
    assert len(outputs[1]["boxes.fits:BOXES.ID"]) > 0 and len(outputs[1]["packed"]["train"]) > 0
    assert outputs[2] == outputs[1]


@pytest.mark.timeout(JOB_S + 60)
def test_a_sweep_job_runs_on_two_nodes(tmp_path, monkeypatch, multinode):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    survey = make_packed_survey(tmp_path)
    path = write_sweep(
        tmp_path,
        executor="slurm",
        grid={"train.lr_init": [0.001]},
        fixed={**TINY, "data.root": str(survey)},
        commands=["train"],
        resources={
            "nodes": 2,
            "tasks_per_node": 1,
            "mem_gb": 1,
            "time": "10:00",
            "partition": MULTINODE_PARTITION,
        },
    )
    assert submit_main([str(path), "--wait"]) == 0
    job = json.loads((tmp_path / "sweeps" / "s" / "manifest.json").read_text())["jobs"][0]
    run = tmp_path / "sweeps" / "s" / job["name"]
    assert summary(run)["ranks"] == 2
    assert_one_rank_per_node(summary(run)["replicas"], multinode)


@pytest.mark.timeout(JOB_S)
def test_allreduce_benchmark_compares_one_node_with_two(multinode):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "allreduce_nodes.py"), "--steps", "3"],
        capture_output=True,
        text=True,
        timeout=JOB_S,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = proc.stdout.strip().splitlines()[-1]
    fields = dict(item.split("=") for item in result.split()[1:])
    assert (fields["nodes_1"], fields["nodes_2"]) == ("1", "2"), result
    assert float(fields["allreduce_ms_1node"]) > 0 and float(fields["allreduce_ms_2nodes"]) > 0
    assert float(fields["mib"]) > 1  # the tiny detector's gradients: 8 MiB
