"""The benchmark scripts run (on their small CPU settings) and count what they claim to."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def test_forward_flops_of_a_known_convolution():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from train_throughput import count_forward_flops

    from clusterhpc.keras_compat import import_keras

    _, keras = import_keras()
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs))
    assert count_forward_flops(model, 8) == 2 * 3 * 3 * 3 * 4 * 8 * 8


@pytest.mark.slow
@pytest.mark.horovod
def test_gpu_benchmark_script_cpu_path_prints_its_result_line():
    env = {
        **os.environ,
        "NGPUS": "0",
        "BACKBONE": "tiny",
        "WIDTH": "0.25",
        "INPUT": "64",
        "STEPS": "2",
        "BATCH_PER_GPU": "2",
        "MIXED_PRECISION": "0",
        "PYTHON": sys.executable,
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_train.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = proc.stdout.strip().splitlines()[-1]
    assert result.startswith("RESULT ")
    fields = dict(item.split("=") for item in result.split()[1:])
    assert {"images_per_s_1", "images_per_s_2", "allreduce_ms", "speedup_ratio"} <= set(fields)
    assert float(fields["images_per_s_1"]) > 0 and float(fields["allreduce_ms"]) > 0
