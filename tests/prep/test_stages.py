"""`clusterhpc prep boxes|empty` end to end: outputs, exclusions, reruns, 2 MPI ranks = serial."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.table import Table

from clusterhpc.cli import main
from clusterhpc.io.labels import read_labels
from tests.conftest import ROOT, run_mpi
from tests.prep.survey import random_survey, write_footprint

OUTPUTS = ("boxes.fits", "train.txt", "valid.txt", "test.txt", "overlaps.csv", "empty_fields.fits")


def make_survey(root):
    random_survey(root, n_clusters=60)
    write_footprint(root / "footprint.fits", 64, (115, 130), (25, 38))
    empty = root / "empty"
    empty.mkdir()
    positions = {"ok": (127.0, 36.0), "outside": (140.0, 30.0), "near": None, "nopos": None}
    catalog = Table.read(root / "catalog.fits")
    positions["near"] = (catalog["RA"][0], catalog["DEC"][0] + 0.05)
    for name, pos in positions.items():
        (empty / f"{name}.jpeg").write_bytes(b"")
        if pos is not None:
            np.savetxt(empty / f"{name}.txt", pos)
    return root


def overrides(root, out):
    return [
        f"data.root={root}", f"prep.out={out}", "prep.size=1000", "prep.scale=0.6",
        "prep.boxes.split=[0.6,0.2,0.2]", "prep.empty.n=40", "prep.empty.chunk=64",
        "prep.boxes.cutouts=",  # one cutout per cluster: these surveys have no cutout table
    ]  # fmt: skip


def run_serial(root, out):
    for stage in ("boxes", "empty"):
        assert main(["prep", stage, str(ROOT / "configs/tiny.yaml"), *overrides(root, out)]) == 0


def test_stages_write_outputs_and_rerun_replaces(tmp_path):
    root = make_survey(tmp_path / "survey")
    out = tmp_path / "prep"
    run_serial(root, out)
    images = Table.read(out / "boxes.fits", hdu="IMAGES")
    boxes = Table.read(out / "boxes.fits", hdu="BOXES")
    labelled = [line for s in ("train", "valid", "test") for line in read_labels(out / f"{s}.txt")]
    assert len(labelled) == np.sum(images["N_KEPT"] > 0) == 60
    assert sum(len(line.boxes) for line in labelled) == np.sum(boxes["KEEP"])
    assert np.bincount(np.searchsorted(["test", "train", "valid"], images["SPLIT"])).tolist() == [
        12, 36, 12,
    ]  # fmt: skip
    report = json.loads((out / "boxes_report.json").read_text())
    assert report["orphan_members_excluded"] == 0 and report["boxes"] == len(boxes)
    for name in ("overlaps.png", "footprint.png", "boxes_config.yaml", "empty_config.yaml"):
        assert (out / name).stat().st_size > 0
    assert len(Table.read(out / "empty_fields.fits")) == 40
    listed = (out / "valid_empty.txt").read_text().split()
    assert [p.rsplit("/", 1)[1] for p in listed] == ["ok.jpeg"]
    before = {n: (out / n).read_bytes() for n in OUTPUTS}
    run_serial(root, out)  # a rerun replaces every file with the same content
    assert {n: (out / n).read_bytes() for n in OUTPUTS} == before


def test_orphans_are_counted_and_bad_input_exits_2(tmp_path, capsys):
    root = random_survey(tmp_path / "survey", n_clusters=10)
    members = Table.read(root / "members.fits")
    members["ID"][:3] = 999
    members.write(root / "members.fits", overwrite=True)
    args = [
        "prep",
        "boxes",
        str(ROOT / "configs/tiny.yaml"),
        f"data.root={root}",
        "prep.boxes.cutouts=",
    ]
    assert main(args) == 0
    report = json.loads((root / "prep" / "boxes_report.json").read_text())
    assert report["orphan_members_excluded"] == 3 and report["orphan_ids_first"] == [999]
    del members["RA"]
    members.write(root / "members.fits", overwrite=True)
    assert main(args) == 2
    assert "members.fits: HDU 1 has no column 'RA'" in capsys.readouterr().err
    assert main([*args, "prep.boxes.split=[0.5,0.1,0.1]"]) == 2


@pytest.mark.mpi
def test_two_mpi_ranks_write_what_one_process_writes(tmp_path):
    root = make_survey(tmp_path / "survey")
    run_serial(root, tmp_path / "serial")
    worker = str(ROOT / "tests" / "prep" / "stages_worker.py")
    run_mpi(2, worker, *overrides(root, tmp_path / "mpi"))
    for name in OUTPUTS:
        assert (tmp_path / "mpi" / name).read_bytes() == (tmp_path / "serial" / name).read_bytes()
