"""containers/clusterhpc.def: parsed and checked (it cannot be built here: no registry)."""

from __future__ import annotations

import re

from tests.conftest import ROOT

DEF = ROOT / "containers" / "clusterhpc.def"
SECTIONS = {"arguments", "labels", "files", "post", "environment", "runscript", "test", "help"}


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


def test_definition_has_the_required_sections_and_commands():
    header, sections = parse_def(DEF.read_text())
    assert header["Bootstrap"] == "docker"
    assert header["From"] == "{{ BASE_IMAGE }}"
    assert set(sections) >= SECTIONS, SECTIONS - set(sections)
    base = re.search(r"BASE_IMAGE=(\S+)", sections["arguments"]).group(1)
    assert re.fullmatch(r"nvcr\.io/nvidia/tensorflow:\d\d\.\d\d-tf2-py3", base)
    assert "pip install" in sections["post"] and "mpi4py" in sections["post"]
    assert "nccl_built()" in sections["post"] and "mpi_built()" in sections["post"]
    assert "clusterhpc doctor" in sections["test"]
    assert 'exec clusterhpc "$@"' in sections["runscript"]
    labels = dict(line.split(None, 1) for line in sections["labels"].split("\n") if line.strip())
    assert {"clusterhpc.tensorflow", "clusterhpc.horovod", "clusterhpc.base_image"} <= set(labels)
    assert "--mpi=pmix" in sections["help"] and "--nv" in sections["help"]


def test_no_credentials_or_site_paths_in_the_container_files():
    for path in (ROOT / "containers").iterdir():
        text = path.read_text()
        assert not re.search(r"(?i)(password|token|secret)\s*[=:]", text), path
        assert "/work/" not in text and "/home/" not in text, path
