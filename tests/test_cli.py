"""The command line: help for every stage, config errors as exit code 2, and the doctor."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from clusterhpc.cli import PREP_STAGES, STAGES, main
from clusterhpc.keras_compat import installed_tensorflow_version
from tests.conftest import ROOT


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clusterhpc", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_top_level_help_lists_stages():
    proc = cli("--help")
    assert proc.returncode == 0
    for stage in ("doctor", *(s.name for s in STAGES)):
        assert stage in proc.stdout


STAGE_ARGVS = [[s.name] for s in STAGES] + [["prep", s.name] for s in PREP_STAGES] + [["doctor"]]


@pytest.mark.parametrize("argv", STAGE_ARGVS)
def test_every_stage_has_help(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    assert "usage: clusterhpc" in capsys.readouterr().out


def test_config_error_exits_2_with_message(capsys):
    assert STAGES, "no CONFIG stage registered"
    code = main([STAGES[0].name, str(ROOT / "configs" / "tiny.yaml"), "resources.nodez=2"])
    assert code == 2
    err = capsys.readouterr().err
    assert "command line: unknown key 'resources.nodez'; did you mean 'resources.nodes'?" in err


def test_doctor_reports_the_stack(tmp_path):
    proc = cli("doctor")
    table = proc.stdout
    assert proc.returncode == 0, table + proc.stderr
    rows = {line.split()[0]: line for line in table.splitlines() if line.strip()}
    major, minor = installed_tensorflow_version()
    assert f"{major}.{minor}." in rows["tensorflow"] and " ok " in rows["tensorflow"]
    assert " ok " in rows["stack"], rows["stack"]
    assert "built with mpi+gloo" in rows["horovod"]
    assert "Open MPI" in rows["mpi4py"]
    assert "all required pieces work" in table
