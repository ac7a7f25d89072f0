#!/usr/bin/env bash
# GPU training benchmark for users' clusters: what `clusterhpc train configs/sdss_yolo.yaml`
# runs (its Trainer and train settings: Darknet-53 at 1024², mixed precision, deterministic
# ops, synchronised batch norm) on synthetic data, 1 GPU vs all GPUs of the node through
# Horovod. Prints images/s,
# achieved TFLOP/s (model FLOPs from the TensorFlow profiler, training step = 3 x forward)
# against the card's peak, the all-reduce time per step and the scaling efficiency.
#
#   benchmarks/gpu_train.sh                      # on a GPU node (or inside `srun --gpus=N`)
#   NGPUS=4 PEAK_TFLOPS=312 benchmarks/gpu_train.sh
#
# Settings (environment): CONFIG (configs/sdss_yolo.yaml), NGPUS (default: GPUs seen by
# nvidia-smi), BACKBONE (darknet53), WIDTH (1.0), INPUT (1024), BATCH_PER_GPU (1, as the
# config), STEPS (30), PEAK_TFLOPS (per GPU; default from the card's name for
# A100/H100/H200/V100/A40/L40S, else unknown), PYTHON (python), and MIXED_PRECISION (1). On a CPU-only machine NGPUS=0 runs 1 vs 2 CPU ranks at the given sizes,
# which is how this script is tested (tiny sizes).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python}

if [[ -z "${NGPUS:-}" ]]; then
  NGPUS=$(command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | wc -l || echo 0)
fi
if [[ -z "${PEAK_TFLOPS:-}" && "$NGPUS" -gt 0 ]]; then
  card=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n1)
  case "$card" in  # dense FP16/BF16 tensor-core peak, TFLOP/s
    *H100*|*H200*) PEAK_TFLOPS=989 ;;
    *A100*) PEAK_TFLOPS=312 ;;
    *L40S*) PEAK_TFLOPS=362 ;;
    *A40*) PEAK_TFLOPS=150 ;;
    *V100*) PEAK_TFLOPS=125 ;;
    *) PEAK_TFLOPS=0; echo "gpu_train: unknown peak for '$card'; set PEAK_TFLOPS" >&2 ;;
  esac
fi
ranks="1,$(( NGPUS > 1 ? NGPUS : 2 ))"
args=(--ranks "$ranks" --config "${CONFIG:-$here/../configs/sdss_yolo.yaml}"
      --backbone "${BACKBONE:-darknet53}" --width "${WIDTH:-1.0}" --input "${INPUT:-1024}" --global-batch $(( ${BATCH_PER_GPU:-1} * (NGPUS > 1 ? NGPUS : 2) ))
      --steps "${STEPS:-30}" --peak-tflops "${PEAK_TFLOPS:-0}")
if [[ "${MIXED_PRECISION:-1}" == 1 ]]; then args+=(--mixed-precision)
else args+=(--no-mixed-precision); fi
echo "gpu_train: $NGPUS GPU(s), ranks $ranks, peak ${PEAK_TFLOPS:-0} TFLOP/s per GPU"
exec "$python" "$here/train_throughput.py" "${args[@]}"
