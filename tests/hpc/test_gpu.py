"""GPU pinning: one GPU per local rank with memory growth; nothing to do without GPUs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from clusterhpc.hpc import gpu
from clusterhpc.keras_compat import import_keras


@dataclass(frozen=True)
class FakeGPU:
    name: str
    device_type: str = "GPU"


def test_local_ranks_get_gpus_round_robin():
    gpus = [FakeGPU(f"/physical_device:GPU:{i}") for i in range(4)]
    assert [gpu.local_gpu(gpus, r).name[-1] for r in range(6)] == list("012301")


def test_no_gpus_is_a_no_op():
    tf, _ = import_keras()
    assert tf.config.list_physical_devices("GPU") == []  # the CPU machine the tests run on
    assert gpu.pin_local_gpu(3) is None


@pytest.fixture
def fake_tf(monkeypatch):
    """tf.config with two fake GPUs, recording what is asked of it."""
    tf, _ = import_keras()
    gpus = [FakeGPU("/physical_device:GPU:0"), FakeGPU("/physical_device:GPU:1")]
    calls: dict[str, list] = {"visible": [], "growth": []}
    state = {"visible": list(gpus)}

    def set_visible(device, kind):
        calls["visible"].append((device, kind))
        state["visible"] = [device]

    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind: list(gpus))
    monkeypatch.setattr(tf.config, "get_visible_devices", lambda kind: state["visible"])
    monkeypatch.setattr(tf.config, "set_visible_devices", set_visible)
    monkeypatch.setattr(
        tf.config.experimental,
        "set_memory_growth",
        lambda device, on: calls["growth"].append((device, on)),
    )
    return gpus, calls


def test_pins_the_local_ranks_gpu_with_memory_growth_once(fake_tf, monkeypatch):
    gpus, calls = fake_tf
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "3")
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    monkeypatch.setenv("OMPI_COMM_WORLD_LOCAL_RANK", "1")
    assert gpu.pin_local_gpu() == "/physical_device:GPU:1"  # the launcher's local rank
    assert calls == {"visible": [(gpus[1], "GPU")], "growth": [(gpus[1], True)]}
    # a later stage in the same process (clusterhpc run): already pinned, nothing to redo
    assert gpu.pin_local_gpu() == "/physical_device:GPU:1"
    assert len(calls["visible"]) == 1


def test_a_process_whose_devices_are_initialised_keeps_them_with_a_warning(
    fake_tf, monkeypatch, caplog
):
    tf, _ = import_keras()

    def initialised(device, kind):
        raise RuntimeError("Visible devices cannot be modified after being initialized")

    monkeypatch.setattr(tf.config, "set_visible_devices", initialised)
    assert gpu.pin_local_gpu(0) is None
    assert "cannot pin this rank to /physical_device:GPU:0" in caplog.text
