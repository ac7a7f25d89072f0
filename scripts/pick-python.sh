#!/usr/bin/env bash
# Choose the Python interpreter for the venv: print "PATH MAJOR.MINOR" of a supported one, or
# say on stderr what to install and exit 1.
#   scripts/pick-python.sh            python3.11, python3.12, python3 on PATH, in that order
#                                     (3.11 is the reference stack), then pyenv's 3.11 / 3.12
#   scripts/pick-python.sh NAME       exactly NAME (make's PYTHON=...); a python3.X whose pyenv
#                                     shim is not active falls back to pyenv's 3.X
# Supported: 3.11 (TensorFlow 2.15) and 3.12 (TensorFlow 2.17 + tf_keras), see setup.cfg.
set -euo pipefail

supported=(3.11 3.12)
pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}

# "MAJOR.MINOR" of interpreter $1, or nothing when it does not run (e.g. an inactive pyenv shim).
version_of() {
  "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
}

is_supported() {
  local v
  for v in "${supported[@]}"; do [[ "$1" == "$v" ]] && return 0; done
  return 1
}

# The interpreters named $1 (python3.X) that pyenv has installed.
pyenv_candidates() {
  [[ "$1" =~ ^python([0-9]+\.[0-9]+)$ ]] || return 0
  local found
  for found in "$pyenv_root"/versions/"${BASH_REMATCH[1]}".*/bin/"$1"; do
    [[ -x "$found" ]] && echo "$found"
  done
  return 0
}

refuse() {
  printf >&2 '%s\n' "pick-python: $1" \
    "  TensorFlow + Horovod run here on Python 3.11 (reference stack) or 3.12 (second stack)." \
    "  Install one (apt install python3.12-venv, or pyenv install 3.12) and rerun with" \
    "  PYTHON=python3.12 (e.g. PYTHON=python3.12 make demo)."
  exit 1
}

# Print the chosen interpreter when $1 runs and is supported; return 1 when it does not run.
try() {
  local path version
  path=$(command -v "$1" 2>/dev/null) || return 1
  version=$(version_of "$path")
  [[ -n "$version" ]] || return 1
  if ! is_supported "$version"; then
    [[ -n "$explicit" ]] && refuse "Python $version is not supported by TensorFlow+Horovod here ($path)."
    return 1
  fi
  echo "$path $version"
}

explicit=${1:-}
if [[ -n "$explicit" ]]; then
  try "$explicit" && exit 0
  for found in $(pyenv_candidates "$explicit"); do try "$found" && exit 0; done
  refuse "PYTHON=$explicit does not run."
fi

for name in python3.11 python3.12 python3; do try "$name" && exit 0; done
for name in python3.11 python3.12; do
  for found in $(pyenv_candidates "$name"); do try "$found" && exit 0; done
done
python3_version=$(version_of python3)
refuse "no Python 3.11 or 3.12 found (python3 is ${python3_version:-missing}); Python ${python3_version:-3.13+} is not supported by TensorFlow+Horovod here."
