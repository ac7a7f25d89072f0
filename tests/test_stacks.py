"""The two supported software stacks: what `clusterhpc doctor` calls them, and which interpreter
scripts/pick-python.sh and the Makefile choose (fake interpreters on a temporary PATH)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clusterhpc.doctor import FAIL, OK, WARN, check_stack, installed_version
from clusterhpc.keras_compat import (
    installed_tensorflow_release,
    installed_tensorflow_version,
    tf_keras_requirement,
)
from tests.conftest import ROOT

PICK = ROOT / "scripts" / "pick-python.sh"
REFUSAL = "is not supported by TensorFlow+Horovod here"


def test_the_running_interpreter_is_one_of_the_two_stacks():
    row = check_stack(
        sys.version_info[:2],
        installed_tensorflow_release(),
        installed_version("tf_keras"),
        installed_version("horovod"),
    )
    assert row.status == OK, row
    expected = {(3, 11): "reference: Python 3.11", (3, 12): "second: Python 3.12"}
    assert row.detail.startswith(expected[sys.version_info[:2]]), row.detail
    assert "Horovod 0.28.1" in row.detail


@pytest.mark.parametrize(
    ("python", "tensorflow", "tf_keras", "horovod", "status", "detail"),
    [
        (
            (3, 11),
            "2.15.1",
            None,
            "0.28.1",
            OK,
            "reference: Python 3.11, TensorFlow 2.15.1 (Keras 2 built in), Horovod 0.28.1",
        ),
        (
            (3, 12),
            "2.17.1",
            "2.17.0",
            "0.28.1",
            OK,
            "second: Python 3.12, TensorFlow 2.17.1 (tf_keras 2.17.0), Horovod 0.28.1",
        ),
        ((3, 12), "2.18.1", "2.18.0", "0.28.1", OK, "second: Python 3.12, TensorFlow 2.18.1"),
        ((3, 12), "2.17.1", None, "0.28.1", FAIL, "Keras 3, no tf_keras"),
        ((3, 12), "2.17.1", "2.16.0", "0.28.1", FAIL, "Keras 2 API of TensorFlow's minor"),
        ((3, 12), "2.19.0", "2.19.0", "0.28.1", FAIL, "does not build on TF >= 2.19"),
        ((3, 13), "2.17.1", "2.17.0", "0.28.1", FAIL, "Python 3.13 " + REFUSAL),
        ((3, 12), None, None, None, FAIL, "no TensorFlow"),
        ((3, 11), "2.17.1", "2.17.0", "0.28.1", WARN, "untested: Python 3.11, TensorFlow 2.17"),
        ((3, 10), "2.15.1", None, "0.28.1", WARN, "untested: Python 3.10"),
        ((3, 11), "2.15.1", None, "0.27.0", WARN, "reference with untested Horovod"),
    ],
)
def test_stack_row_for_version_combinations(python, tensorflow, tf_keras, horovod, status, detail):
    row = check_stack(python, tensorflow, tf_keras, horovod)
    assert row.component == "stack"
    assert row.status == status, row
    assert detail in row.detail, row.detail
    assert (row.fix != "") == (status != OK)


def test_tf_keras_follows_tensorflows_minor_release():
    assert tf_keras_requirement(None) is None
    assert tf_keras_requirement((2, 15)) is None
    assert tf_keras_requirement((2, 17)) == "tf_keras~=2.17.0"
    assert tf_keras_requirement((2, 18)) == "tf_keras~=2.18.0"


def test_seeded_layers_are_reproducible():
    """On Python 3.12 tf_keras < 2.19 draws layer seeds with a float bound after
    `set_random_seed`; keras_compat must keep that working and deterministic."""
    from clusterhpc.keras_compat import import_keras

    _, keras = import_keras()
    kernels = []
    for _ in range(2):
        keras.utils.set_random_seed(7)
        layer = keras.layers.Dense(3)
        layer.build((None, 4))
        kernels.append(layer.kernel.numpy())
    assert (kernels[0] == kernels[1]).all()


def test_horovod_imported_before_keras_compat():
    """Importing horovod.tensorflow first makes tf.keras Keras 3 on TF >= 2.16: Horovod's
    Keras classes would then not average tf_keras gradients, so import_horovod_keras raises."""
    code = (
        "import horovod.tensorflow\n"
        "from clusterhpc.keras_compat import import_horovod_keras\n"
        "import_horovod_keras()\n"
    )
    # A process that ran import_keras passes TF_USE_LEGACY_KERAS=1 on, which hides the order.
    inherited = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**inherited, "PYTHONPATH": str(ROOT)},
    )
    if tf_keras_requirement(installed_tensorflow_version()) is None:
        assert proc.returncode == 0, proc.stderr[-2000:]
    else:
        assert proc.returncode != 0
        assert "call it before importing horovod.tensorflow" in proc.stderr


@pytest.mark.slow
def test_doctor_prints_the_stack_row():
    proc = subprocess.run(
        [sys.executable, "-m", "clusterhpc", "doctor"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line.split(None, 2) for line in proc.stdout.splitlines() if line.startswith("stack ")]
    assert len(rows) == 1, proc.stdout
    _, status, detail = rows[0]
    assert status == OK
    assert detail.startswith(("reference: Python 3.11", "second: Python 3.12")), detail


# --- interpreter choice -------------------------------------------------------------------------


def fake_python(directory: Path, name: str, version: str | None) -> Path:
    """An executable `name` that reports Python `version`, or fails like an inactive pyenv shim."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    failing = f"echo 'pyenv: {name}: command not found' >&2; exit 127"
    body = f"echo {version}" if version else failing
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def fake_env(tmp_path):
    """PATH with only bash and make (plus what a test adds), HOME and PYENV_ROOT empty."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "make"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path / "pyenv")}
    return bin_dir, env


def pick(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [shutil.which("bash"), str(PICK), *args], capture_output=True, text=True, env=env
    )


def test_pick_prefers_the_reference_stack(fake_env):
    bin_dir, env = fake_env
    for name, version in (("python3", "3.13"), ("python3.12", "3.12"), ("python3.11", "3.11")):
        fake_python(bin_dir, name, version)
    assert pick(env).stdout.split() == [str(bin_dir / "python3.11"), "3.11"]


def test_pick_skips_a_python_that_does_not_run(fake_env):
    bin_dir, env = fake_env
    fake_python(bin_dir, "python3.11", None)
    fake_python(bin_dir, "python3.12", "3.12")
    assert pick(env).stdout.split() == [str(bin_dir / "python3.12"), "3.12"]


def test_pick_takes_python3_when_it_is_supported(fake_env):
    bin_dir, env = fake_env
    fake_python(bin_dir, "python3", "3.12")
    assert pick(env).stdout.split() == [str(bin_dir / "python3"), "3.12"]


def test_pick_finds_pyenvs_python_behind_an_inactive_shim(fake_env, tmp_path):
    bin_dir, env = fake_env
    fake_python(bin_dir, "python3.12", None)
    real = fake_python(tmp_path / "pyenv" / "versions" / "3.12.1" / "bin", "python3.12", "3.12")
    assert pick(env, "python3.12").stdout.split() == [str(real), "3.12"]
    assert pick(env).stdout.split() == [str(real), "3.12"]


def test_pick_refuses_python_3_13_and_says_what_to_install(fake_env):
    bin_dir, env = fake_env
    fake_python(bin_dir, "python3", "3.13")
    proc = pick(env)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "Python 3.13 " + REFUSAL in proc.stderr
    assert "apt install python3.12-venv" in proc.stderr and "pyenv install 3.12" in proc.stderr
    assert "PYTHON=python3.12" in proc.stderr


def test_pick_refuses_an_unsupported_explicit_python(fake_env):
    bin_dir, env = fake_env
    fake_python(bin_dir, "python3.11", "3.11")
    fake_python(bin_dir, "python3.13", "3.13")
    proc = pick(env, "python3.13")
    assert proc.returncode == 1 and "Python 3.13 " + REFUSAL in proc.stderr
    proc = pick(env, "python3.9")
    assert proc.returncode == 1 and "PYTHON=python3.9 does not run" in proc.stderr


def make_dry_run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [shutil.which("make"), "-n", "--no-print-directory", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        env=env,
    )


def test_make_builds_a_venv_per_stack_with_the_chosen_python(fake_env, tmp_path):
    bin_dir, env = fake_env
    fake_python(bin_dir, "python3.12", "3.12")
    proc = make_dry_run(env, "demo")
    assert proc.returncode == 0, proc.stderr
    assert ".venv-py312/bin/clusterhpc run configs/quickstart.yaml" in proc.stdout
    venv = tmp_path / "venv"
    proc = make_dry_run(env, "demo", f"VENV={venv}")
    assert f"{bin_dir / 'python3.12'} -m venv {venv}" in proc.stdout
    assert f"{venv}/bin/clusterhpc run" in proc.stdout
    fake_python(bin_dir, "python3.11", "3.11")
    assert ".venv/bin/clusterhpc run" in make_dry_run(env, "demo").stdout


def test_make_stops_on_python_3_13_with_the_message(fake_env):
    bin_dir, env = fake_env
    fake_python(bin_dir, "python3", "3.13")
    proc = make_dry_run(env, "test")
    assert proc.returncode != 0 and proc.stdout == ""
    assert "Python 3.13 " + REFUSAL in proc.stderr
    assert "no supported Python" in proc.stderr
