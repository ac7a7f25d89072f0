"""A run scores its survey by content, from its own directory and the packed shards alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from astropy.io import fits

from clusterhpc.config import load_config
from clusterhpc.models import inference_record
from tests.evaluate.fixtures import trained_run
from tests.train.fixtures import ROOT

pytestmark = pytest.mark.slow
SCORING = ["evaluate.recalibrate_bn=16", "evaluate.criterion=centre", "evaluate.centre_arcmin=0.25"]
PLACE_KEYS = ("seconds", "survey", "run")  # where and how long, not what was measured


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One short training shared by the module's tests."""
    directory = tmp_path_factory.mktemp("self_contained")
    return trained_run(directory, epochs=3)


def evaluated(cfg, survey, out) -> dict:
    from clusterhpc.evaluate.stage import main as evaluate_main

    where = [f"data.root={survey}", f"run.dir={cfg.run.dir}", f"evaluate.out={out}"]
    assert evaluate_main(load_config(ROOT / "configs" / "tiny.yaml", [*where, *SCORING])) == 0
    return json.loads((out / "metrics.json").read_text())


def without_place(value):
    if isinstance(value, dict):
        return {k: without_place(v) for k, v in value.items() if k not in PLACE_KEYS}
    return value


def test_a_copied_survey_is_the_same_survey_with_the_same_numbers(trained, tmp_path):
    original = evaluated(trained, trained.data.root, tmp_path / "original")
    staged = tmp_path / "scratch" / "survey"
    shutil.copytree(trained.data.root, staged)
    copied = evaluated(trained, staged, tmp_path / "copied")
    assert copied["protocol"]["trained_on_survey"] and copied["protocol"]["tuned_on"] == "valid"
    assert copied["protocol"]["reported_on"] == "test"  # no training image among the reported
    assert without_place(copied) == without_place(original)
    # evaluations written outside the run directory do not set the run's threshold
    assert "score_threshold" not in inference_record.read(trained.run.dir)


def test_evaluate_and_detect_without_the_surveys_prep_files(trained, tmp_path):
    from clusterhpc.detect.stage import main as detect_main

    survey, run = trained.data.root, trained.run.dir
    shutil.rmtree(f"{survey}/prep")  # anchors.txt went with it
    metrics = evaluated(trained, survey, Path(run))  # into the run: its threshold for detect
    assert metrics["protocol"]["tuned_on"] == "valid"
    recorded = inference_record.read(run)
    assert recorded["score_threshold"] == metrics["score_threshold"]
    assert len(recorded["anchors"]) == 9 and recorded["input_size"] == 64

    catalog = tmp_path / "catalog.fits"
    det = load_config(
        ROOT / "configs" / "tiny.yaml",
        [
            f"data.root={survey}",
            f"run.dir={run}",
            f"detect.images={survey}/packed",
            f"detect.out={catalog}",
            "evaluate.recalibrate_bn=16",
        ],
    )
    assert detect_main(det) == 0
    assert fits.getheader(catalog, 1)["SCORETHR"] == pytest.approx(metrics["score_threshold"])
