#!/usr/bin/env bash
# Build the clusterhpc Apptainer image from containers/clusterhpc.def.
#
#   containers/build.sh [OUTPUT.sif] [extra apptainer build options...]
#
# Run it from anywhere on a machine that reaches nvcr.io (e.g. a login node); without root it
# uses --fakeroot (needs subuid/subgid entries for your user: ask the admins, or build on a
# workstation and copy the .sif). Environment:
#   APPTAINER   apptainer or singularity command [apptainer]
#   BASE_IMAGE  base image [the %arguments default in clusterhpc.def]
#   APPTAINER_CACHEDIR / APPTAINER_TMPDIR  put these on a large filesystem (the base is ~8 GB)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
out="$(realpath -m "${1:-clusterhpc.sif}")"
shift || true
apptainer="${APPTAINER:-apptainer}"
command -v "$apptainer" >/dev/null || { echo "build.sh: error: $apptainer not found" >&2; exit 64; }
args=()
[ "$(id -u)" -eq 0 ] || args+=(--fakeroot)
[ -z "${BASE_IMAGE:-}" ] || args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
# stage a clean copy of the source (no venv, runs or data): %files copies the build context
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
git -C "$repo" ls-files -z --cached --others --exclude-standard |
    (cd "$repo" && xargs -0 cp --parents -t "$stage")
cp "$here/clusterhpc.def" "$stage/.clusterhpc.def"
(cd "$stage" && "$apptainer" build "${args[@]}" "$@" "$out" .clusterhpc.def)
echo "built $out; test it: $apptainer test $out"
