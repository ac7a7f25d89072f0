"""The CPU image CI builds from containers/clusterhpc-cpu.def, exercised the way users run it:
`apptainer test`, the tiny pipeline inside it, 2 Slurm ranks in it (hybrid MPI: the host's
`srun --mpi=pmix` starts the ranks, the image's OpenMPI runs them), and a sweep with
`container.image`."""

from __future__ import annotations

import csv
import json
import subprocess

import pytest
from astropy.io import fits

from clusterhpc.submit import main as submit_main
from tests.conftest import ROOT
from tests.containers.conftest import container_env
from tests.hpc.fixtures import TINY, write_sweep
from tests.slurm.conftest import overrides, sbatch_script, wait_for_job
from tests.train.fixtures import make_packed_survey

pytestmark = [pytest.mark.image, pytest.mark.slow]

CONFIGS = ROOT / "configs"


def test_apptainer_test_runs_the_doctor_inside(apptainer, cpu_image):
    proc = subprocess.run(
        [apptainer, "test", str(cpu_image)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = {line.split()[0]: line for line in proc.stdout.splitlines() if line.strip()}
    for name in ("tensorflow", "horovod", "mpi4py", "stack"):
        assert name in rows and " ok " in rows[name], proc.stdout
    assert "built with mpi" in rows["horovod"], rows["horovod"]
    assert "/opt/clusterhpc/venv/bin/python" in rows["python"], rows["python"]


def test_the_image_runs_its_own_package_not_the_hosts(apptainer, cpu_image, tmp_path):
    proc = subprocess.run(
        [
            apptainer,
            "exec",
            str(cpu_image),
            "python",
            "-c",
            "import clusterhpc; print(clusterhpc.__file__)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=container_env(apptainer),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith("/opt/clusterhpc/venv/"), proc.stdout


def test_tiny_pipeline_runs_end_to_end_inside_the_image(apptainer, cpu_image, tmp_path):
    data, run = tmp_path / "data", tmp_path / "run"
    command = [
        apptainer,
        "exec",
        "--bind",
        f"{CONFIGS}:{CONFIGS}:ro,{tmp_path}",
        str(cpu_image),
        "clusterhpc",
        "run",
        str(CONFIGS / "tiny.yaml"),
        f"data.root={data}",
        f"run.dir={run}",
    ]
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=tmp_path,
        env=container_env(apptainer),
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads((run / "train_summary.json").read_text())
    assert (summary["status"], summary["ranks"]) == ("finished", 1)
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0 <= metrics["completeness"] <= 1 and 0 <= metrics["purity"] <= 1
    assert len(fits.getdata(data / "catalog.fits", 1)) > 0
    assert {"RA", "DEC", "SCORE"} <= set(fits.getdata(run / "detections.fits", 1).names)


@pytest.mark.slurm
@pytest.mark.usefixtures("slurm")
@pytest.mark.timeout(600)
def test_train_yolo_sbatch_runs_two_ranks_inside_the_image(apptainer, cpu_image, tmp_path, jobs):
    """IMAGE set: each of the 2 tasks is `apptainer exec IMAGE clusterhpc train`, wired up by
    the host's PMIx; PYTHON names nothing, so no host Python can stand in for the image."""
    survey, run = make_packed_survey(tmp_path), tmp_path / "run"
    env = container_env(
        apptainer,
        CONFIG=str(CONFIGS / "tiny.yaml"),
        RUN_DIR=str(run),
        DATA_DIR=str(survey),
        IMAGE=str(cpu_image),
        NV="0",
        PYTHON="/nonexistent/python",
    )
    extra = {**TINY, "train.epochs": 2, "train.batch_size": 2}
    job = sbatch_script(tmp_path, "train_yolo", ["--ntasks-per-node=2"], env, overrides(extra))
    jobs.append(job)
    state = wait_for_job(job, timeout=540)
    logs = [tmp_path / f"slurm-{job}.out", *sorted((run / "logs").glob("*.log"))]
    output = "\n".join(p.read_text()[-3000:] for p in logs if p.exists())
    assert state == "COMPLETED", output
    summary = json.loads((run / "train_summary.json").read_text())
    assert (summary["status"], summary["ranks"], summary["epochs_done"]) == ("finished", 2, 2)
    replicas = summary["replicas"]
    assert [r["rank"] for r in replicas] == [0, 1], replicas
    assert replicas[0]["weights_sha256"] == replicas[1]["weights_sha256"], replicas
    assert summary["replicas_identical"] is True


@pytest.mark.slurm
@pytest.mark.usefixtures("slurm")
@pytest.mark.timeout(600)
def test_sweep_with_container_image_runs_its_jobs_in_the_image(
    apptainer, cpu_image, tmp_path, monkeypatch, capsys
):
    for key, value in container_env(apptainer).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    survey = make_packed_survey(tmp_path)
    path = write_sweep(
        tmp_path,
        executor="slurm",
        grid={"train.lr_init": [0.001, 0.01]},
        fixed={**TINY, "data.root": str(survey)},
        commands=["train"],
        resources={"nodes": 1, "tasks_per_node": 1, "mem_gb": 2, "time": "10:00"},
        container={
            "image": str(cpu_image),
            "apptainer": apptainer,
            "nv": False,
            "binds": [str(CONFIGS)],
        },
    )
    assert submit_main([str(path), "--wait"]) == 0, capsys.readouterr()
    assert submit_main(["collect", str(path)]) == 0
    rows = list(csv.DictReader((tmp_path / "sweeps" / "s" / "results.csv").open()))
    assert len(rows) == 2 and {r["state"] for r in rows} == {"COMPLETED"}, rows
    for run in (tmp_path / "sweeps" / "s").glob("*/train_summary.json"):
        assert json.loads(run.read_text())["status"] == "finished"
