"""A rehearsal of the real-data path at tiny scale: a local stand-in SkyServer serves the mock
universe (cutouts rendered on demand, SQL queries from its members), and a survey directory
holding only the public-style catalogues goes, with `data.simulated: false` and
`configs/sdss_yolo.yaml` at tiny sizes, through prep footprint, prep empty, prep download (as
a 2-task job array of slurm/download.sbatch, then once more in-process: nothing left to fetch),
prep query, prep boxes, prep pack, prep anchors, train and evaluate."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from astropy.table import Table

from clusterhpc.cli import main as cli_main
from clusterhpc.config import load_config
from clusterhpc.sky.footprint import Footprint
from tests.conftest import ROOT
from tests.mock_skyserver import mock_skyserver
from tests.slurm.test_download_array import submit_download_array, task_states

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.usefixtures("slurm")]
TINY = str(ROOT / "configs" / "tiny.yaml")
SDSS = str(ROOT / "configs" / "sdss_yolo.yaml")


def settings(root, run, sky, stub) -> list[str]:
    """sdss_yolo.yaml at the tiny config's sizes, against the stand-in server."""
    return [
        f"data.root={root}", f"run.dir={run}",
        "prep.size=128", "prep.scale=6.338032", "prep.pack.image_size=0", "prep.pack.shard_size=16",
        "prep.empty.n=16", "prep.boxes.split=[0.6,0.2,0.2]",
        f"prep.footprint.source={sky / 'footprint.fits'}", "prep.footprint.nside=256",
        f"download.base_url={stub.url}", "download.rate=0", "download.threads=4",
        f"query.url={stub.sql_url}", "query.rate=0", "query.batch=50",
        "model.backbone=tiny", "model.width=0.25", "model.input_size=128", "model.max_boxes=8",
        "train.epochs=2", "train.batch_size=4", "train.lr_init=0.001", "train.warmup_epochs=0.5",
        "train.mixed_precision=false", "train.checkpoint_every=0", "evaluate.score_steps=20",
    ]  # fmt: skip


@pytest.mark.timeout(900)
def test_public_catalogues_to_a_trained_detector_against_a_local_skyserver(tmp_path):
    sky, root, run = tmp_path / "sky", tmp_path / "sdss", tmp_path / "run"
    assert cli_main(["simulate", TINY, f"data.root={sky}", "simulate.images=false"]) == 0
    root.mkdir()
    for name in ("catalog.fits", "members.fits"):  # what a user downloads from the web
        shutil.copy(sky / name, root / name)
    sky_cfg = load_config(TINY, [f"data.root={sky}"])
    members = Table.read(sky / "members.fits")
    with mock_skyserver(sky_cfg, Footprint.read(sky / "footprint.fits"), members) as stub:
        args = settings(root, run, sky, stub)
        for stage in ("footprint", "empty"):
            assert cli_main(["prep", stage, SDSS, *args]) == 0, stage
        job = submit_download_array(tmp_path, SDSS, root, args)
        states = task_states(job, timeout=600)
        logs = [*tmp_path.glob("dl-*.out"), *(root / "logs").glob("download-*.log")]
        assert states == ["COMPLETED", "COMPLETED"], "".join(p.read_text() for p in logs)[-4000:]
        fetched = stub.served.count("rendered")
        assert cli_main(["prep", "download", SDSS, *args]) == 0
        assert stub.served.count("rendered") == fetched  # the array left nothing to fetch
        for stage in ("query", "empty", "boxes", "pack", "anchors"):
            assert cli_main(["prep", stage, SDSS, *args]) == 0, stage
        for stage in ("train", "evaluate"):
            assert cli_main([stage, SDSS, *args]) == 0, stage

    clusters = Table.read(root / "catalog.fits")
    with (root / "download" / "manifest.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(clusters) + 16 == fetched
    assert {r["status"] for r in rows} == {"present"}
    assert all((root / "cutouts" / f"{i}.jpeg").exists() for i in clusters["ID"])
    assert len(list((root / "empty").glob("*.txt"))) == 16
    assert len((root / "prep" / "valid_empty.txt").read_text().splitlines()) == 16
    galaxies = Table.read(root / "galaxies" / "galaxies.fits")
    assert set(np.unique(galaxies["CLUSTER_ID"])) == set(clusters["ID"])  # every BCG at least
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["status"] == "finished"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["protocol"]["reported_on"] == "test" and np.isfinite(metrics["completeness"])
