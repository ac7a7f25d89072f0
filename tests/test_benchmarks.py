"""The benchmark scripts run (on their small CPU settings) and count what they claim to."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

# Every CPU benchmark at a tiny size, so none can rot. allreduce_nodes.py needs the namespaced
# nodes (tests/slurm/test_multinode.py runs it); gpu_train.sh is run below.
TINY_ARGS = {
    "matching.py": ["--config", str(ROOT / "configs" / "tiny.yaml"), "--images", "4"],
    "nms.py": ["--boxes", "300", "--sets", "5"],
    "loader.py": ["--sizes", "64", "--images", "16", "--batch", "4"],
    "handover.py": ["--size", "32", "--large", "64", "--batches", "32", "--rounds", "1"],
    "download.py": ["--cutouts", "12", "--latency", "0.001", "--threads", "2"],
    "empty_fields.py": ["--n", "200"],
    "boxes.py": ["--clusters", "300", "--seed-clusters", "2"],
    "train_throughput.py": ["--input", "64", "--steps", "2", "--global-batch", "4"],
    "detect.py": ["--sizes", "64", "--images", "8", "--batch", "4"],
    "growth.py": ["--clusters", "2000,8000", "--pack-images", "16", "--pack-repeats", "1"],
    "scaling_model.py": ["--quick", "--train-ips", "40"],
    "detector_levers.py": [
        "--config",
        str(ROOT / "configs" / "tiny.yaml"),
        "--out",
        "{tmp}/levers",
        "--set",
        "data.root={tmp}/survey",
        "--lever",
        "one_epoch=train.epochs=1",
    ],
}
RUN_ELSEWHERE = {"allreduce_nodes.py"}
USES_MPIRUN = {"boxes.py", "train_throughput.py", "detect.py", "growth.py", "scaling_model.py"}
# Keys each benchmark's RESULT line must carry (its ratios against the plain alternative).
RESULT_KEYS = {
    "matching.py": {"hungarian_mock_us", "brute_mock_us", "speedup_mock_ratio", "speedup_ratio"},
    "download.py": {"vs_plain_ratio", "vs_serial_ratio"},
    "handover.py": {"handover_13_us", "squeeze_vs_unbatch_ratio", "numpy_output_copied"},
    "empty_fields.py": {"plain_s", "vs_plain_ratio"},
    "detector_levers.py": {
        "baseline_completeness",
        "one_epoch_purity",
        "one_epoch_completeness_vs_baseline_ratio",
    },
    "detect.py": {
        "plain_64_per_s",
        "clusterhpc_64_1rank_vs_plain_ratio",
        "clusterhpc_64_2rank_vs_plain_ratio",
        "clusterhpc_64_scaling_ratio",
    },
}


def result_fields(stdout: str) -> dict[str, float]:
    """The benchmark's last line, `RESULT key=value ...`, as numbers."""
    last = stdout.strip().splitlines()[-1]
    assert last.startswith("RESULT "), last
    return {key: float(value) for key, value in (item.split("=") for item in last.split()[1:])}


def test_every_cpu_benchmark_has_a_tiny_run():
    scripts = {path.name for path in (ROOT / "benchmarks").glob("*.py")}
    assert scripts - RUN_ELSEWHERE == set(TINY_ARGS)


@pytest.mark.slow
@pytest.mark.parametrize(
    "script",
    [
        pytest.param(name, marks=[pytest.mark.mpi] if name in USES_MPIRUN else [])
        for name in TINY_ARGS
    ],
)
def test_cpu_benchmark_runs_tiny_and_ends_with_its_result_line(script, tmp_path):
    args = [arg.format(tmp=tmp_path) for arg in TINY_ARGS[script]]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    fields = result_fields(proc.stdout)
    # Fitted exponents may be slightly negative at tiny sizes (a cost that does not grow).
    assert fields and all(
        math.isfinite(v) and (v >= 0 or k.endswith("exponent")) for k, v in fields.items()
    ), fields
    assert RESULT_KEYS.get(script, set()) <= set(fields), fields
    ratios = [value for key, value in fields.items() if key.endswith("_ratio")]
    assert all(value > 0 for value in ratios), fields


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
