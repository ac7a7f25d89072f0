#!/usr/bin/env bash
# Build Horovod 0.28.1 against the TensorFlow already installed in a venv, once, and reuse the wheel.
#   scripts/install-horovod.sh [PYTHON]         CPU: MPI + Gloo (what the tests use)
#   HOROVOD_GPU_OPERATIONS=NCCL scripts/install-horovod.sh [PYTHON]   GPU nodes (needs CUDA + NCCL)
# The wheel is cached in ${CLUSTERHPC_WHEEL_CACHE:-~/.cache/clusterhpc/wheels}, keyed by the
# Horovod, TensorFlow and Python versions and the GPU operations, so a second venv skips the build.
# Idempotent: nothing happens when this Horovod already imports with TensorFlow and MPI built in.
set -euo pipefail

python=${1:-python}
version=0.28.1
gpu_ops=${HOROVOD_GPU_OPERATIONS:-none}

if "$python" - "$version" "$gpu_ops" <<'PY' 2>/dev/null; then
import sys
import horovod
import horovod.tensorflow as hvd
ok = horovod.__version__ == sys.argv[1] and hvd.mpi_built() and hvd.gloo_built()
ok = ok and (sys.argv[2] == "none" or hvd.nccl_built())
sys.exit(0 if ok else 1)
PY
  echo "install-horovod: horovod $version already built with TensorFlow + MPI + Gloo"
  exit 0
fi

tf_version=$("$python" -c 'import tensorflow as tf; print(tf.__version__)') || {
  echo "install-horovod: TensorFlow must be installed in $python's environment first" >&2; exit 1; }
py_tag=$("$python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
cache=${CLUSTERHPC_WHEEL_CACHE:-$HOME/.cache/clusterhpc/wheels}/horovod-$version-tf$tf_version-$py_tag-$gpu_ops
mkdir -p "$cache"

if ! ls "$cache"/horovod-*.whl >/dev/null 2>&1; then
  echo "install-horovod: building horovod $version for TensorFlow $tf_version (a few minutes)"
  export HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_MPI=1 HOROVOD_WITH_GLOO=1
  export HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1
  [[ "$gpu_ops" == none ]] && unset HOROVOD_GPU_OPERATIONS
  MAKEFLAGS=${MAKEFLAGS:--j$(nproc)} "$python" -m pip wheel --no-cache-dir --no-build-isolation \
    --no-deps -w "$cache.tmp" "horovod==$version"
  mv "$cache.tmp"/horovod-*.whl "$cache"/ && rm -rf "$cache.tmp"
fi
"$python" -m pip install --no-deps --force-reinstall "$cache"/horovod-*.whl
"$python" -m pip install -q "cloudpickle" "psutil" "pyyaml" "packaging"
"$python" -c 'import horovod.tensorflow as hvd; assert hvd.mpi_built() and hvd.gloo_built(); print("install-horovod: ok")'
