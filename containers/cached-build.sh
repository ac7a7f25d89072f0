#!/usr/bin/env bash
# The CPU image for CI and for repeated local checks, rebuilt only when what goes into it
# changes. Prints the image's path on its last line.
#
#   containers/cached-build.sh [CACHE_DIR]      [${CLUSTERHPC_IMAGE_CACHE:-/var/cache/clusterhpc/images}]
#   containers/cached-build.sh --keys           print the two keys and build nothing
#
# Two images, each named by the SHA-256 of its inputs (content, never paths or dates):
#   env-KEY.sif   containers/build.sh --cpu: the whole definition and recipe; KEY covers the
#                 definition, the recipe, the scripts it runs, and the package's dependency
#                 list (setup.cfg). 10-15 minutes on 2 cores.
#   cpu-KEY.sif   env-KEY.sif with this checkout's package reinstalled (package-layer.def);
#                 KEY also covers the package's files and pyproject.toml. About 3 minutes.
# The two newest images of each kind are kept; older ones are removed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
keys_only=0
if [[ ${1:-} == --keys ]]; then
  keys_only=1
  shift
fi
cache=${1:-${CLUSTERHPC_IMAGE_CACHE:-/var/cache/clusterhpc/images}}

# digest FILE...: one SHA-256 over the files' names and contents, in the order given
digest() {
  (cd "$repo" && for file in "$@"; do printf '%s\0' "$file" && sha256sum <"$file" || exit 1; done) |
    sha256sum | cut -c1-16
}

env_inputs=(containers/clusterhpc-cpu.def containers/install.sh scripts/install-horovod.sh
  scripts/install-tf-keras.sh scripts/debian-mirror.sh setup.cfg)
for file in "${env_inputs[@]}"; do
  [[ -f $repo/$file ]] || { echo "cached-build: missing $file" >&2; exit 1; }
done
env_key=$(digest "${env_inputs[@]}")
mapfile -t package_files < <(git -C "$repo" ls-files --cached --others --exclude-standard -- \
  clusterhpc containers/package-layer.def pyproject.toml | sort -u)
package_key=$(digest "${env_inputs[@]}" "${package_files[@]}")
if [[ $keys_only == 1 ]]; then
  echo "env $env_key"
  echo "cpu $package_key"
  exit 0
fi
mkdir -p "$cache"

env_image=$cache/env-$env_key.sif
image=$cache/cpu-$package_key.sif
if [[ -s $image ]]; then
  echo "cached-build: reusing $image (same definition, recipe and package)" >&2
else
  if [[ -s $env_image ]]; then
    echo "cached-build: reusing $env_image (same definition and recipe)" >&2
  else
    bash "$here/build.sh" --cpu "$env_image.part" --force >&2
    mv "$env_image.part" "$env_image"
  fi
  bash "$here/build.sh" --package-on "$env_image" "$image.part" --force >&2
  mv "$image.part" "$image"
fi
touch "$image" "$env_image"  # most recently used first when pruning
for kind in env cpu; do
  ls -1t "$cache/$kind-"*.sif 2>/dev/null | tail -n +3 | xargs -r rm -f
done
echo "$image"
