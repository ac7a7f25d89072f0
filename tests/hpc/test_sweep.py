"""Sweep files: schema, key checks, expansion, limits, dry-run sbatch, quoting of values."""

from __future__ import annotations

import re
import shlex

import pytest
import yaml

from clusterhpc.hpc.launch import job_runner, sbatch_text
from clusterhpc.hpc.slurm import safe_name, time_minutes
from clusterhpc.hpc.sweep import load_sweep
from clusterhpc.submit import dry_run, known_stages, main
from clusterhpc.typed_dict import ConfigError
from tests.conftest import ROOT

EVIL = "a b;$(touch /tmp/pwned)"


def write_sweep(tmp_path, **fields):
    data = {
        "base": str(ROOT / "configs" / "tiny.yaml"),
        "out": str(tmp_path / "sweeps"),
        "grid": {"train.lr_init": [0.001, 0.003], "model.width": [0.25, 0.5]},
        **fields,
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def load(tmp_path, **fields):
    return load_sweep(write_sweep(tmp_path, **fields), known_stages())


def test_grid_and_points_expand_in_order_with_named_run_dirs(tmp_path):
    sweep = load(
        tmp_path, points=[{"train.lr_init": 0.01, "model.width": 1.0}], fixed={"train.epochs": 3}
    )
    assert [j.params for j in sweep.jobs] == [
        {"train.lr_init": 0.001, "model.width": 0.25},
        {"train.lr_init": 0.001, "model.width": 0.5},
        {"train.lr_init": 0.003, "model.width": 0.25},
        {"train.lr_init": 0.003, "model.width": 0.5},
        {"train.lr_init": 0.01, "model.width": 1.0},
    ]
    names = [j.name for j in sweep.jobs]
    assert names[1] == "001_lr_init-0.001_width-0.5"
    assert len(set(names)) == 5
    for job in sweep.jobs:
        assert job.run_dir == tmp_path / "sweeps" / "sweep" / job.name
        assert job.config.run.dir == str(job.run_dir)
        assert job.config.train.epochs == 3
        assert job.config.train.lr_init == job.params["train.lr_init"]
        assert job.config.model.width == job.params["model.width"]
    assert sweep.commands == [["train"]] or sweep.commands == [["train"], ["evaluate"]]


def test_the_example_sweep_is_valid():
    sweep = load_sweep(ROOT / "configs" / "sweep_example.yaml", known_stages())
    assert len(sweep.jobs) == 4


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"grid": {"train.lr_int": [1]}}, r"key 'train.lr_int'; did you mean 'train.lr_init'"),
        ({"grid": {"train.lr_init": []}}, r"grid.train.lr_init is an empty list"),
        ({"grid": {}}, r"the sweep has no jobs"),
        ({"points": [{"modle.width": 1}], "grid": {}}, r"did you mean 'model.width'"),
        ({"fixed": {"train.epoch": 2}}, r"did you mean 'train.epochs'"),
        ({"executor": "kubernetes"}, r"executor = 'kubernetes': expected one of 'slurm', 'local'"),
        ({"resources": {"nodez": 2}}, r"'resources.nodez'; did you mean 'resources.nodes'"),
        ({"resources": {"time": "soon"}}, r"time = 'soon': expected a Slurm wall time"),
        ({"grid": {"train.lr_init": [-1]}}, r"train.lr_init = -1.0: expected a number > 0"),
        ({"commands": ["train", "dance"]}, r"commands\[1\]: 'dance' is not a stage"),
        ({"base": "missing.yaml"}, r"missing.yaml: cannot read config file"),
        ({"out": "/tmp/my sweeps"}, r"use only letters, digits"),
        ({"executor": "local", "resources": {"tasks_per_node": 2}}, r"runs one process per job"),
    ],
)
def test_invalid_sweeps_are_refused_with_clear_messages(tmp_path, fields, message):
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, **fields)


def test_too_many_jobs_for_the_array_limit(tmp_path):
    grid = {"train.lr_init": [0.001 * i for i in range(1, 21)], "model.width": [0.25, 0.5]}
    with pytest.raises(ConfigError, match=r"40 jobs, more than the job-array limit.*= 30"):
        load(tmp_path, grid=grid, resources={"max_array_size": 30})


def test_cli_refuses_before_submitting(tmp_path, capsys):
    path = write_sweep(tmp_path, grid={"train.lr": [1]})
    assert main([str(path)]) == 2
    assert "did you mean 'train.lr_init'" in capsys.readouterr().err
    assert not (tmp_path / "sweeps").exists()


def test_dry_run_for_two_nodes_of_four_gpus(tmp_path):
    sweep = load(
        tmp_path,
        resources={
            "nodes": 2,
            "tasks_per_node": 4,
            "gpus_per_task": 1,
            "cpus_per_task": 8,
            "mem_gb": 200,
            "time": "1-12:00:00",
            "partition": "gpu",
            "account": "astro",
        },
        sbatch={"qos": "high"},
        container={"image": "/images/clusterhpc.sif", "binds": ["/scratch"]},
    )
    text = sbatch_text(sweep)
    directives = dict(re.findall(r"^#SBATCH --([\w-]+)(?:=(.*))?$", text, re.M))
    assert directives["nodes"] == "2"
    assert directives["ntasks-per-node"] == "4"
    assert directives["gpus-per-task"] == "1"
    assert directives["cpus-per-task"] == "8"
    assert directives["mem"] == "200GB"
    assert directives["time"] == str(36 * 60)
    assert directives["partition"] == "gpu"
    assert directives["account"] == "astro"
    assert directives["qos"] == "high"
    assert directives["signal"] == "USR2@120"
    assert "requeue" in directives
    assert "array" not in directives  # multi-node jobs are submitted one by one
    srun = next(line for line in text.splitlines() if line.startswith("# each task: srun "))
    assert "--mpi=pmix" in srun.split()
    command = job_runner(sweep, sweep.jobs[0]).commands[0]
    assert command[:3] == ["apptainer", "exec", "--nv"]
    assert command[command.index("/scratch") - 1 :][:2] == ["--bind", "/scratch"]
    assert command[-3:] == ["clusterhpc", "train", str(sweep.jobs[0].run_dir / "job.yaml")]
    printed = dry_run(sweep)
    assert printed.count("## job ") == 4 and "#SBATCH --nodes=2" in printed


def test_single_node_jobs_form_one_array(tmp_path):
    text = sbatch_text(load(tmp_path, resources={"array_parallelism": 3}))
    assert "#SBATCH --array=0-3%3" in text


def test_shell_metacharacters_never_reach_a_shell_unquoted(tmp_path):
    sweep = load(tmp_path, grid={"prep.boxes.image_dir": [EVIL, "plain"]})
    job = sweep.jobs[0]
    assert job.config.prep.boxes.image_dir == EVIL  # the value arrives intact
    assert re.fullmatch(r"[A-Za-z0-9._+-]+", job.name)
    runner = job_runner(sweep, job)
    assert all(EVIL not in arg for cmd in runner.commands for arg in cmd)  # only in job.yaml
    assert "$(" not in sbatch_text(sweep)
    printed = [shlex.split(line[4:]) for line in dry_run(sweep).splitlines() if line[:4] == "  $ "]
    assert printed == [cmd for j in sweep.jobs for cmd in job_runner(sweep, j).commands]


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("30", 30), ("1:30", 2), ("01:00:00", 60), ("1-00:00:00", 1440), ("2-12", 3600)],
)
def test_time_minutes(text, minutes):
    assert time_minutes(text) == minutes


def test_safe_name():
    assert safe_name(EVIL) == "a_b_touch_tmp_pwned"
