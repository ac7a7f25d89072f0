#!/bin/sh
# The one install recipe of clusterhpc's images, run by the %post of both definitions
# (clusterhpc.def on NVIDIA's TensorFlow image, clusterhpc-cpu.def on Debian), so the recipe
# CI builds is the recipe users build. It expects the source staged at $SRC and a Python with
# pip at $PYTHON, and installs:
#   - TensorFlow: kept when the base image has one (NVIDIA's, with CUDA); else the CPU pins of
#     the package's `cpu` extra;
#   - mpi4py, built against the image's own OpenMPI (the one Horovod uses);
#   - on TensorFlow >= 2.16, the Keras 2 API Horovod needs (scripts/install-tf-keras.sh);
#   - Horovod 0.28.1: kept when the base image has it; else built by scripts/install-horovod.sh
#     (MPI + Gloo; NCCL too when HOROVOD_GPU_OPERATIONS=NCCL);
#   - the clusterhpc package;
# then checks that Horovod has MPI (and NCCL when REQUIRE_NCCL=1) and removes the source.
set -eu
SRC=${SRC:-/opt/clusterhpc/src}
PYTHON=${PYTHON:-python}
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
# A site's TLS-intercepting proxy: build.sh stages the building host's CA bundle here.
if [ -s "$SRC/.build/host-ca.crt" ]; then
    export PIP_CERT="$SRC/.build/host-ca.crt"
fi

"$PYTHON" -m pip install --upgrade pip
if "$PYTHON" -c "import tensorflow" 2>/dev/null; then
    echo "install.sh: keeping the base image's TensorFlow"
    MPICC="$(command -v mpicc)" "$PYTHON" -m pip install "$SRC"
else
    MPICC="$(command -v mpicc)" "$PYTHON" -m pip install "$SRC[cpu]"
fi
bash "$SRC/scripts/install-tf-keras.sh" "$PYTHON"
CLUSTERHPC_WHEEL_CACHE=/tmp/clusterhpc-wheels bash "$SRC/scripts/install-horovod.sh" "$PYTHON"
rm -rf /tmp/clusterhpc-wheels

REQUIRE_NCCL=${REQUIRE_NCCL:-0} "$PYTHON" - <<'PY'
import os

import horovod.tensorflow as hvd
import mpi4py.MPI
import tensorflow as tf

import clusterhpc

assert hvd.mpi_built(), "Horovod was built without MPI"
if os.environ["REQUIRE_NCCL"] == "1":
    assert hvd.nccl_built(), "Horovod was built without NCCL"
print(f"install.sh: clusterhpc {clusterhpc.__version__}, TensorFlow {tf.__version__},",
      f"{mpi4py.MPI.Get_library_version().splitlines()[0]}")
PY
rm -rf "$SRC"
