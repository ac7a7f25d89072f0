"""The sbatch scripts without Slurm: syntax, documented settings, refusal of missing values."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.conftest import ROOT

SLURM = ROOT / "slurm"
SCRIPTS = sorted(SLURM.glob("*.sbatch"))
REQUIRED = {
    "train_yolo.sbatch": ["CONFIG", "RUN_DIR"],
    "preprocess.sbatch": ["CONFIG", "STAGES"],
    "simulate.sbatch": ["CONFIG"],
    "stage_array.sbatch": ["CONFIG", "STAGE", "TASKS_FILE"],
    "download.sbatch": ["CONFIG"],
}


def run_script(script, **env):
    """Run a script as the batch shell of a (pretend) job, with only the given variables."""
    base = {"PATH": os.environ["PATH"], "SLURM_JOB_ID": "1", "CLUSTERHPC_SLURM_DIR": str(SLURM)}
    return subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, env={**base, **env}, timeout=30
    )


def test_every_script_is_listed_and_valid_bash():
    assert {s.name for s in SCRIPTS} == set(REQUIRED)
    for path in [*SCRIPTS, SLURM / "common.sh", ROOT / "containers" / "build.sh"]:
        subprocess.run(["bash", "-n", str(path)], check=True)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_no_site_settings_and_every_variable_documented(script):
    text = script.read_text()
    header = text[: text.index("set -euo pipefail")]
    assert not re.search(r"#SBATCH --(partition|account|qos|time)", text)
    for name in REQUIRED[script.name]:
        assert re.search(rf"^#\s+{name}\s+\(required\)", header, re.M), name
    used = set(re.findall(r"\$\{?([A-Z][A-Z_]+)", text)) - {"EXIT_REQUEUE", "CHPC_CMD"}
    documented = set(re.findall(r"[A-Z][A-Z_]{2,}", header))
    slurm = {v for v in used if v.startswith(("SLURM_", "CHPC_"))} | {"OMP_NUM_THREADS"}
    assert used - slurm <= documented, used - slurm - documented


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_refuses_to_start_when_a_required_value_is_missing(script, tmp_path):
    proc = run_script(script)
    first = REQUIRED[script.name][0]
    assert proc.returncode == 64
    assert f"{script.name}: error: {first} is not set" in proc.stderr


def test_refuses_outside_slurm_and_with_bad_paths(tmp_path):
    train = SLURM / "train_yolo.sbatch"
    proc = run_script(train, SLURM_JOB_ID="")
    assert proc.returncode == 64 and "submit me with sbatch" in proc.stderr
    proc = run_script(train, CONFIG=str(tmp_path / "nope.yaml"), RUN_DIR=str(tmp_path))
    assert proc.returncode == 64 and "nope.yaml is not a readable file" in proc.stderr
    config = ROOT / "configs" / "tiny.yaml"
    proc = run_script(train, CONFIG=str(config), RUN_DIR=str(tmp_path), IMAGE="/no/such.sif")
    assert proc.returncode == 64 and "IMAGE=/no/such.sif is not a readable file" in proc.stderr
    proc = run_script(SLURM / "preprocess.sbatch", CONFIG=str(config), STAGES="boxes dance")
    assert proc.returncode == 64 and "unknown prep stage 'dance'" in proc.stderr


def test_every_step_ends_when_one_task_fails():
    """Each srun of the scripts goes through chpc_step, which runs srun --kill-on-bad-exit=1."""
    for script in SCRIPTS:
        assert not re.search(r"^\s*srun\b", script.read_text(), re.M), script.name
        assert "chpc_step " in script.read_text(), script.name
    assert re.search(
        r"^\s*srun --kill-on-bad-exit=1 \"\$@\" &$", (SLURM / "common.sh").read_text(), re.M
    )


@pytest.mark.parametrize(
    ("warned", "rc", "requeued", "exit_code"),
    [
        (0, 75, True, 0),
        (0, 143, False, 143),
        (0, 1, False, 1),
        (1, 138, True, 0),  # the warning killed a rank still starting
        (1, 137, True, 0),  # Slurm ended a rank still exiting after another exited 75
        (1, 143, True, 0),
        (1, 1, False, 1),  # a rank raised: a failure even after the warning
        (1, 139, False, 139),
    ],
)
def test_finish_requeues_only_checkpointed_or_warned_stops(
    tmp_path, warned, rc, requeued, exit_code
):
    fake = tmp_path / "scontrol"
    fake.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/requeue\n')
    fake.chmod(0o755)
    script = f"source {SLURM / 'common.sh'}; CHPC_WARNED={warned}; chpc_finish {rc}"
    env = {"PATH": f"{tmp_path}:{os.environ['PATH']}", "SLURM_JOB_ID": "7"}
    proc = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=env, timeout=30
    )
    assert proc.returncode == exit_code, proc.stderr
    assert (tmp_path / "requeue").exists() == requeued
    if requeued:
        assert (tmp_path / "requeue").read_text().split() == ["requeue", "7"]
