"""The image definitions, parsed: the GPU one cannot be built here (no registry), and both
must run the one shared recipe that CI builds for real (tests/containers/test_cpu_image.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

CONTAINERS = ROOT / "containers"
SECTIONS = {"arguments", "labels", "files", "post", "environment", "runscript", "test", "help"}
RECIPE_CALL = "sh /opt/clusterhpc/src/containers/install.sh"


def parse_def(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """Header keywords (Bootstrap, From, ...) and section bodies of an Apptainer definition."""
    header: dict[str, str] = {}
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        match = re.match(r"^%(\w+)\s*$", line)
        if match:
            current = sections.setdefault(match.group(1), [])
        elif current is not None:
            current.append(line)
        elif re.match(r"^\w+:", line):
            key, _, value = line.partition(":")
            header[key.strip()] = value.strip()
    return header, {name: "\n".join(body) for name, body in sections.items()}


def read_def(name: str) -> tuple[dict[str, str], dict[str, str]]:
    return parse_def((CONTAINERS / name).read_text())


def test_gpu_definition_runs_the_shared_recipe_on_nvidias_tensorflow():
    header, sections = read_def("clusterhpc.def")
    assert (header["Bootstrap"], header["From"]) == ("docker", "{{ BASE_IMAGE }}")
    assert set(sections) >= SECTIONS, SECTIONS - set(sections)
    base = re.search(r"BASE_IMAGE=(\S+)", sections["arguments"]).group(1)
    assert re.fullmatch(r"nvcr\.io/nvidia/tensorflow:\d\d\.\d\d-tf2-py3", base)
    assert RECIPE_CALL in sections["post"] and "REQUIRE_NCCL=1" in sections["post"]
    assert "clusterhpc doctor" in sections["test"]
    assert 'exec clusterhpc "$@"' in sections["runscript"]
    labels = dict(line.split(None, 1) for line in sections["labels"].split("\n") if line.strip())
    assert {"clusterhpc.tensorflow", "clusterhpc.horovod", "clusterhpc.base_image"} <= set(labels)
    assert "--mpi=pmix" in sections["help"] and "--nv" in sections["help"]


def test_cpu_definition_bootstraps_debian_from_a_mirror_given_at_build_time():
    header, sections = read_def("clusterhpc-cpu.def")
    assert header["Bootstrap"] == "debootstrap"
    assert header["MirrorURL"] == "{{ MIRROR }}"
    assert re.fullmatch(r"\s*MIRROR=\s*", sections["arguments"]), "no mirror in the repository"
    assert RECIPE_CALL in sections["post"]
    for package in ("openmpi-bin", "libpmix-dev", "python3-venv"):
        assert package in sections["post"], package
    assert "clusterhpc doctor" in sections["test"]
    assert "/opt/clusterhpc/venv/bin" in sections["environment"]


def test_recipe_checks_what_it_built():
    recipe = (CONTAINERS / "install.sh").read_text()
    assert "scripts/install-horovod.sh" in recipe
    assert "hvd.mpi_built()" in recipe and "hvd.nccl_built()" in recipe
    assert 'rm -rf "$SRC"' in recipe


def test_no_credentials_mirrors_or_site_paths_in_the_container_files():
    for path in (*CONTAINERS.iterdir(), ROOT / "scripts" / "install-apptainer.sh"):
        text = path.read_text()
        assert not re.search(r"(?i)(password|token|secret)\s*[=:]", text), path
        assert "/work/" not in text and "/home/" not in text, path
        assert "debian.org" not in text, f"{path}: the mirror is read from the host's apt"


def test_debian_mirror_is_read_from_the_hosts_apt_sources(tmp_path):
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "debian-mirror.sh")],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "DEBIAN_MIRROR": "http://mirror.example/debian/"},
    )
    assert (proc.returncode, proc.stdout.strip()) == (0, "http://mirror.example/debian")
    if not Path("/etc/apt").is_dir():
        pytest.skip("no /etc/apt on this host")
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "debian-mirror.sh")], capture_output=True, text=True
    )
    assert proc.returncode == 0 and re.fullmatch(r"\S+://\S+/debian", proc.stdout.strip())


INPUTS = (
    "containers/cached-build.sh",
    "containers/clusterhpc-cpu.def",
    "containers/install.sh",
    "containers/package-layer.def",
    "scripts/debian-mirror.sh",
    "scripts/install-horovod.sh",
    "scripts/install-tf-keras.sh",
    "setup.cfg",
    "pyproject.toml",
)


def image_keys(repo: Path) -> dict[str, str]:
    proc = subprocess.run(
        ["bash", "containers/cached-build.sh", "--keys"],
        capture_output=True,
        text=True,
        check=True,
        cwd=repo,
    )
    return dict(line.split() for line in proc.stdout.splitlines())


@pytest.mark.skipif(shutil.which("git") is None, reason="no git")
def test_image_cache_is_keyed_by_content_not_by_path_or_date(tmp_path):
    repo = tmp_path / "a"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(repo)], check=True)
    for name in (*INPUTS, "clusterhpc/__init__.py"):
        shutil.copy(ROOT / name, repo / name)  # this checkout's, committed or not
    keys = image_keys(repo)
    moved = tmp_path / "b"
    repo.rename(moved)
    (moved / "clusterhpc" / "__init__.py").touch()
    assert image_keys(moved) == keys, "same content elsewhere, touched: same keys"

    with (moved / "clusterhpc" / "__init__.py").open("a") as f:
        f.write("\n# a package change\n")
    package_changed = image_keys(moved)
    assert package_changed["env"] == keys["env"] and package_changed["cpu"] != keys["cpu"]

    with (moved / "pyproject.toml").open("a") as f:
        f.write("\n# a build or test setting\n")
    settings_changed = image_keys(moved)
    assert (
        settings_changed["env"] == keys["env"] and settings_changed["cpu"] != package_changed["cpu"]
    )

    with (moved / "containers" / "install.sh").open("a") as f:
        f.write("\n# a recipe change\n")
    recipe_changed = image_keys(moved)
    assert recipe_changed["env"] != keys["env"] and recipe_changed["cpu"] != package_changed["cpu"]
