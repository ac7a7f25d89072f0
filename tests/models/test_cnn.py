"""The CNN classifier task: labels stay with their pixels, shifts never wrap, it learns."""

from __future__ import annotations

import numpy as np
import pytest

from clusterhpc.data.packed import PackedSplit
from clusterhpc.train.cnn_task import CnnTask
from clusterhpc.train.trainer import Trainer
from tests.train.cnn_fixtures import cnn_config, make_classifier_survey

SIZE = 32


def coded_image(rng, size, cluster, index):
    """A flat image whose colour encodes its number (R, G) and its class (B)."""
    image = np.empty((size, size, 3), np.uint8)
    image[...] = (index % 256, index // 256, 255 if cluster else 0)
    return image


def test_labels_and_redshifts_stay_with_their_images_through_packing_and_shuffling(tmp_path):
    survey = make_classifier_survey(
        tmp_path, {"train": 40, "valid": 16}, size=SIZE, draw=coded_image
    )
    cfg = cnn_config(survey, tmp_path / "run", "train.augment_prob=0.5")
    task = CnnTask(cfg)
    seen = []
    for epoch in (0, 1):
        for batch in task.train_batches(epoch, 0, 0, 1):
            pixels = np.rint(batch["image"].numpy()[:, 0, 0] * 255).astype(int)
            number = pixels[:, 0] + 256 * pixels[:, 1]
            np.testing.assert_array_equal(batch["label"].numpy(), pixels[:, 2] == 255)
            expected_z = np.where(pixels[:, 2] == 255, 0.1 + 0.5 * (number % 50) / 50, 0.0)
            np.testing.assert_allclose(batch["z"].numpy(), expected_z, rtol=1e-6)
            seen.append(number)
    first, second = seen[: len(seen) // 2], seen[len(seen) // 2 :]
    assert not np.array_equal(np.concatenate(first), np.arange(40))  # really shuffled
    assert not np.array_equal(np.concatenate(first), np.concatenate(second))
    assert sorted(np.concatenate(first)) == list(range(40))  # every image once per epoch


def striped_image(rng, size, cluster, index):
    """Dim noise with a saturated last column (x = size - 1)."""
    image = rng.integers(0, 50, (size, size, 3)).astype(np.uint8)
    image[:, -1] = 255
    return image


def test_random_shifts_fill_with_blank_sky_and_never_wrap(tmp_path):
    survey = make_classifier_survey(
        tmp_path, {"train": 48, "valid": 8}, size=SIZE, draw=striped_image
    )
    cfg = cnn_config(survey, tmp_path / "run", "train.augment_prob=0", "train.augment_shift=0.25")
    task = CnnTask(cfg)
    plan = PackedSplit(survey / "packed", "train").epoch_plan(
        cfg.seed, 0, 0, 1, cfg.train.batch_size, aug_prob=0.0, max_shift=0.25
    )
    shifts = iter(plan.shifts)
    moved_right = 0
    for batch in task.train_batches(0, 0, 0, 1):
        for image in batch["image"].numpy():
            dx, _ = next(shifts)
            bright = np.flatnonzero((image == 1.0).any(axis=(0, 2)))  # columns with 255
            if dx > 0:  # the stripe left the image: with wrap-around it would be at dx - 1
                moved_right += 1
                assert len(bright) == 0
            else:
                assert list(bright) == [SIZE - 1 + dx]
    assert moved_right > 5


@pytest.mark.trained
@pytest.mark.parametrize("architecture", ["small", "residual"])
def test_classifier_beats_chance_by_a_wide_margin_on_held_out_cutouts(tmp_path, architecture):
    from clusterhpc.evaluate.classifier_metrics import roc_curve

    survey = make_classifier_survey(tmp_path, {"train": 192, "valid": 32, "test": 64}, size=SIZE)
    cfg = cnn_config(
        survey,
        tmp_path / "run",
        "train.epochs=4",
        "train.lr_init=0.003",
        f"model.cnn.architecture={architecture}",
    )
    task = CnnTask(cfg)
    trainer = Trainer(task, cfg.train, tmp_path / "run", cfg.seed)
    assert trainer.fit().status == "finished"
    test = PackedSplit(survey / "packed", "test")
    images = np.stack([test.item(i).image for i in range(len(test))]).astype(np.float32) / 255
    logits = trainer.model(images, training=False).numpy()[:, 0]
    labels = ~test.column("empty").astype(bool)
    auc = roc_curve(labels, logits)["auc"]
    assert auc > 0.9, auc  # chance: 0.5


def test_unbalanced_classes_are_weighted_not_dropped(tmp_path):
    survey = make_classifier_survey(
        tmp_path, {"train": 80, "valid": 8}, size=SIZE, positive_fraction=0.2
    )
    task = CnnTask(cnn_config(survey, tmp_path / "run"))
    labels, weights = [], []
    for batch in task.train_batches(0, 0, 0, 1):
        labels.append(batch["label"].numpy())
        weights.append(batch["weight"].numpy())
    labels, weights = np.concatenate(labels), np.concatenate(weights)
    assert len(labels) == 80  # every image (80 = 10 batches of 8)
    n_pos = int(labels.sum())
    assert 5 < n_pos < 30
    w_pos, w_neg = weights[labels == 1], weights[labels == 0]
    assert np.ptp(w_pos) == 0 and np.ptp(w_neg) == 0
    assert w_pos.sum() == pytest.approx(w_neg.sum()) == pytest.approx(40.0)


def test_both_architectures_build_with_the_configured_width_and_heads():
    from clusterhpc.models.cnn import CnnSpec, build_cnn

    for architecture in ("small", "residual"):
        for redshift, outputs in ((False, 1), (True, 3)):
            spec = CnnSpec(48, architecture, width=0.125, redshift=redshift)
            model = build_cnn(spec)
            assert model.output_shape == (None, outputs)
            convs = [layer for layer in model.layers if layer.name.startswith("conv")]
            assert convs[-1].filters == 64  # 512 x 0.125
    with pytest.raises(ValueError, match="multiple of 16"):
        build_cnn(CnnSpec(40))
