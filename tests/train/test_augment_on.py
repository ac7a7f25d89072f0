"""`train.augment_on`: the training step applying the flips and translations on its device
trains the same weights, bit for bit, as the input pipeline applying them on the host."""

from __future__ import annotations

import numpy as np

from clusterhpc.keras_compat import import_keras
from clusterhpc.train.cnn_task import CnnTask
from clusterhpc.train.packed_task import augment_on_device
from clusterhpc.train.stage import main as train_main
from tests.train.cnn_fixtures import cnn_config, make_classifier_survey
from tests.train.test_identity import weights

AUGMENT = ("train.augment_prob=0.5", "train.augment_shift=0.2", "train.epochs=1")


def test_device_and_host_augmentation_train_identical_weights(tmp_path):
    survey = make_classifier_survey(tmp_path / "survey", {"train": 32, "valid": 16})
    runs = {}
    for where in ("host", "device"):
        cfg = cnn_config(survey, tmp_path / where, *AUGMENT, f"train.augment_on={where}")
        first = next(iter(CnnTask(cfg).train_batches(0, 0, 0, 1)))
        assert ("flips" in first) == (where == "device")
        assert first["image"].dtype.name == ("uint8" if where == "device" else "float32")
        assert train_main(cfg) == 0
        runs[where] = weights(tmp_path / where)
    assert runs["host"].keys() == runs["device"].keys()
    for name, value in runs["host"].items():
        np.testing.assert_array_equal(runs["device"][name], value, err_msg=name)


def test_auto_means_device_exactly_when_tensorflow_sees_a_gpu():
    tf, _ = import_keras()
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    assert augment_on_device("auto") == has_gpu
    assert augment_on_device("device") and not augment_on_device("host")
