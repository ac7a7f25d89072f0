#!/usr/bin/env bash
# Build a clusterhpc Apptainer image.
#
#   containers/build.sh [--cpu | --package-on BASE.sif] [OUTPUT.sif] [extra apptainer build options...]
#
#   (default)  the GPU image, containers/clusterhpc.def, on NVIDIA's TensorFlow container: run it
#              on a machine that reaches nvcr.io (e.g. a login node) [clusterhpc.sif]
#   --cpu      the CPU image, containers/clusterhpc-cpu.def, bootstrapped with debootstrap from
#              the Debian mirror this host's apt uses (read now, never stored) [clusterhpc-cpu.sif]
#   --package-on BASE.sif   BASE (a CPU image) with this checkout's package reinstalled
#              (containers/package-layer.def; what containers/cached-build.sh does)
#
# Both run the same recipe, containers/install.sh. Without root (or as a root without the full
# capability set) it uses --fakeroot, which needs /etc/subuid and /etc/subgid entries for the
# user (scripts/install-apptainer.sh adds root's). Environment:
#   APPTAINER      apptainer program [apptainer on PATH]
#   BASE_IMAGE     GPU base image [the %arguments default in clusterhpc.def]
#   DEBIAN_MIRROR  Debian mirror for --cpu [the one this host's apt uses]
#   APPTAINER_CACHEDIR / APPTAINER_TMPDIR  put these on a large filesystem (the GPU base is ~8 GB)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
definition=clusterhpc.def
default_out=clusterhpc.sif
base=
if [[ ${1:-} == --cpu ]]; then
  definition=clusterhpc-cpu.def
  default_out=clusterhpc-cpu.sif
  shift
elif [[ ${1:-} == --package-on ]]; then
  definition=package-layer.def
  default_out=clusterhpc-cpu.sif
  base=$(realpath "${2:?--package-on needs an image}")
  shift 2
fi
out=$(realpath -m "${1:-$default_out}")
shift || true
apptainer=${APPTAINER:-apptainer}
command -v "$apptainer" >/dev/null || { echo "build.sh: error: $apptainer not found" >&2; exit 64; }

# Without root, or as a root that lacks capabilities (in some sandboxes) which %post asks
# for: build in a user namespace (--fakeroot, which needs a /etc/subuid entry).
full_set=$(printf '%x' $(((1 << ($(cat /proc/sys/kernel/cap_last_cap) + 1)) - 1)))
bounding_set=$(awk '/^CapBnd/ {sub(/^0+/, "", $2); print $2}' /proc/self/status)
args=()
if [[ $(id -u) -ne 0 || $bounding_set != "$full_set" ]]; then
  args+=(--fakeroot)
fi
if [[ $definition == clusterhpc-cpu.def ]]; then
  command -v debootstrap >/dev/null || {
    echo "build.sh: error: --cpu needs debootstrap (apt-get install debootstrap)" >&2; exit 64; }
  args+=(--build-arg "MIRROR=$(bash "$repo/scripts/debian-mirror.sh")")
elif [[ $definition == package-layer.def ]]; then
  args+=(--build-arg "BASE=$base")
elif [[ -n ${BASE_IMAGE:-} ]]; then
  args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
fi

# Stage a clean copy of the source (no venv, runs or data): %files copies the build context.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
git -C "$repo" ls-files -z --cached --others --exclude-standard |
  (cd "$repo" && xargs -0 cp --parents -t "$stage" 2>/dev/null || true)
mkdir -p "$stage/.build"
# pip inside the build trusts what this host trusts (a site proxy's CA); removed with the source.
for bundle in "${PIP_CERT:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt \
  /etc/pki/tls/certs/ca-bundle.crt; do
  if [[ -n $bundle && -s $bundle ]]; then
    cp "$bundle" "$stage/.build/host-ca.crt"
    break
  fi
done
cp "$here/$definition" "$stage/.build/image.def"
started=$SECONDS
(cd "$stage" && "$apptainer" build "${args[@]}" "$@" "$out" .build/image.def)
echo "build.sh: built $out ($(du -h "$out" | cut -f1)) in $((SECONDS - started)) s;" \
  "test it: $apptainer test $out"
