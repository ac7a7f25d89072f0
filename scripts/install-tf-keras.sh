#!/usr/bin/env bash
# Install the Keras 2 API that Horovod needs on TensorFlow >= 2.16 (where tf.keras is Keras 3):
# tf_keras of TensorFlow's minor release, with --no-deps (its dependencies would pull the full
# 645 MB `tensorflow` wheel next to tensorflow-cpu). Nothing to do on TensorFlow <= 2.15.
#   scripts/install-tf-keras.sh [PYTHON]     (clusterhpc and TensorFlow installed there first)
# Idempotent: pip keeps a tf_keras that already fits.
set -euo pipefail

python=${1:-python}
requirement=$("$python" -c '
from clusterhpc.keras_compat import installed_tensorflow_version, tf_keras_requirement
print(tf_keras_requirement(installed_tensorflow_version()) or "")')
if [[ -z "$requirement" ]]; then
  echo "install-tf-keras: TensorFlow has Keras 2 built in, nothing to install"
  exit 0
fi
"$python" -m pip install -q --no-deps "$requirement"
echo "install-tf-keras: $requirement installed"
