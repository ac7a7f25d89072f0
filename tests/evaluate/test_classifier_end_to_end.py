"""train -> evaluate -> detect of a CNN classifier run on a small packed mock."""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from clusterhpc.data.packed import PackedSplit
from clusterhpc.detect.stage import main as detect_main
from clusterhpc.evaluate.stage import main as evaluate_main
from clusterhpc.train.stage import main as train_main
from tests.train.cnn_fixtures import cnn_config, make_classifier_survey, sky_image
from tests.train.fixtures import ROOT

pytestmark = pytest.mark.trained


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cnn_e2e")
    survey = make_classifier_survey(root, {"train": 192, "valid": 64, "test": 64}, size=32)
    cfg = cnn_config(survey, root / "run", "train.epochs=4", "train.lr_init=0.003")
    assert train_main(cfg) == 0
    return cfg


def test_evaluate_writes_classifier_metrics_report_and_figures(trained):
    assert evaluate_main(trained) == 0
    run = Path(trained.run.dir)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["kind"] == "cnn"
    assert metrics["protocol"]["tuned_on"] == "valid"
    assert metrics["protocol"]["reported_on"] == "test"
    assert metrics["auc"] > 0.9 > metrics["baseline_chance_auc"]
    assert metrics["n_images"] == 64
    assert metrics["false_positive_rate"] <= 0.2  # 0.05 chosen on valid; ~30 test fields
    assert metrics["completeness"] > 0.7
    assert metrics["redshift"]["all_clusters"]["n"] == metrics["n_clusters"]
    for name in ("roc_pr", "reliability", "completeness_z", "completeness_lambda", "gradcam"):
        assert (run / "plots" / f"{name}.png").stat().st_size > 0
    report = (run / "report.md").read_text()
    assert "ROC AUC" in report and "Grad-CAM" in report and "Redshift head" in report
    record = json.loads((run / "inference.json").read_text())
    assert record["score_threshold"] == metrics["score_threshold"]


def test_detect_scores_a_packed_split_into_a_fits_table(trained, tmp_path):
    evaluate_main(trained)
    out = tmp_path / "scores.fits"
    d = dataclasses.replace(
        trained.detect,
        images=f"{trained.data.root}/packed",
        splits=["test"],
        out=str(out),
    )
    assert detect_main(dataclasses.replace(trained, detect=d)) == 0
    table = Table.read(out)
    assert len(table) == 64
    assert {"RA", "DEC", "PROB", "IS_CLUSTER", "Z_PRED", "Z_SIGMA"} <= set(table.colnames)
    metrics = json.loads((Path(trained.run.dir) / "metrics.json").read_text())
    np.testing.assert_array_equal(
        table["IS_CLUSTER"], np.asarray(table["PROB"]) >= metrics["score_threshold"]
    )
    assert np.all(np.asarray(table["Z_SIGMA"]) > 0)
    test = PackedSplit(Path(trained.data.root) / "packed", "test")
    np.testing.assert_allclose(table["RA"], test.column("ra"))


def test_gradcam_maps_are_brighter_on_the_cluster_galaxies(tmp_path):
    """64 px cutouts with the cluster anywhere off the edges (a 4 x 4 final map): on held-out
    clusters the map is brighter on the red cluster dots than over the whole image (a map
    blind to the cluster gives a ratio near 1)."""
    from clusterhpc.models.cnn_inference import Classifier
    from clusterhpc.models.gradcam import gradcam

    draw = functools.partial(sky_image, margin=0.2)
    sizes = {"train": 192, "valid": 32, "test": 32}
    survey = make_classifier_survey(tmp_path, sizes, size=64, draw=draw)
    cfg = cnn_config(survey, tmp_path / "run", "model.input_size=64", "train.epochs=4")
    assert train_main(cfg) == 0
    classifier = Classifier(cfg, tmp_path / "run")
    test = PackedSplit(survey / "packed", "test")
    clusters = np.flatnonzero(~test.column("empty").astype(bool))
    images = np.stack([test.item(int(i)).image for i in clusters])
    maps = gradcam(classifier.model, images.astype(np.float32) / 255)
    assert maps.shape == images.shape[:3]
    assert maps.min() >= 0 and maps.max() <= 1
    red = (images[..., 0] > 200) & (images[..., 1] < 100)
    ratios = [m[r].mean() / m.mean() for m, r in zip(maps, red, strict=True) if m.mean() > 0]
    assert len(ratios) >= 10 and np.median(ratios) > 1.5, ratios


def test_detect_scores_a_folder_and_a_cutout_table_like_the_packed_images(trained, tmp_path):
    """The same cutouts as files, listed by RA/Dec sidecars in a folder or by a FITS cutout
    table (its rows in another order), get the scores of their packed copies."""
    from PIL import Image

    test = PackedSplit(Path(trained.data.root) / "packed", "test")
    folder = tmp_path / "cutouts"
    folder.mkdir()
    for i in range(6):
        item = test.item(i)
        Image.fromarray(item.image).save(folder / f"cut{i}.png")
        (folder / f"cut{i}.txt").write_text(f"{item.meta['ra']}\n{item.meta['dec']}\n")
    order = [3, 0, 5, 1, 4, 2]
    listed = Table(
        {
            "FILE": [f"cutouts/cut{i}.png" for i in order],
            "RA": test.column("ra")[order],
            "DEC": test.column("dec")[order],
        }
    )
    listed.write(tmp_path / "cutouts.fits")
    scored = {}
    for name, images in (
        ("folder", str(folder)),
        ("table", str(tmp_path / "cutouts.fits")),
        ("packed", f"{trained.data.root}/packed"),
    ):
        out = tmp_path / f"{name}.fits"
        d = dataclasses.replace(trained.detect, images=images, splits=["test"], out=str(out))
        assert detect_main(dataclasses.replace(trained, detect=d)) == 0
        scored[name] = Table.read(out)
    from_folder, from_table, from_packed = scored["folder"], scored["table"], scored["packed"]
    assert list(from_folder["IMAGE"]) == [f"cut{i}.png" for i in range(6)]
    np.testing.assert_allclose(from_folder["RA"], test.column("ra")[:6])
    np.testing.assert_allclose(from_folder["PROB"], from_packed["PROB"][:6], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(from_folder["Z_PRED"], from_packed["Z_PRED"][:6], atol=1e-5)
    assert list(from_table["IMAGE"]) == list(listed["FILE"])
    np.testing.assert_allclose(from_table["RA"], listed["RA"])
    np.testing.assert_allclose(from_table["PROB"], from_packed["PROB"][order], rtol=1e-5, atol=1e-6)


@pytest.mark.mpi
def test_evaluate_on_two_ranks_gives_the_one_rank_figures(trained, tmp_path):
    from tests.conftest import run_mpi

    places = [f"data.root={trained.data.root}", f"run.dir={trained.run.dir}"]
    config = str(ROOT / "configs" / "cnn_classifier.yaml")
    results = {}
    for ranks in (1, 2):
        out = tmp_path / f"ranks{ranks}"
        args = ["-m", "clusterhpc", "evaluate", config, *places, f"evaluate.out={out}"]
        run_mpi(ranks, *args)
        results[ranks] = json.loads((out / "metrics.json").read_text())
    one, two = results[1], results[2]
    for key in ("auc", "pr_auc", "score_threshold", "completeness", "false_positive_rate"):
        assert two[key] == pytest.approx(one[key], abs=1e-6), key
    assert two["redshift"]["all_clusters"] == pytest.approx(one["redshift"]["all_clusters"])
