#!/usr/bin/env bash
# Install the system packages clusterhpc needs, with apt-get, only when missing.
#   scripts/install-system.sh          MPI (OpenMPI + PMIx) and the Horovod build tools
#   scripts/install-system.sh --test   also munge, Slurm (ctld, d, dbd, client), MariaDB, and
#                                      iproute2 + util-linux (the namespaced nodes) for the tests
# Idempotent: a second run installs nothing. Needs root (or sudo) when something is missing.
set -euo pipefail

packages=(openmpi-bin libopenmpi-dev libpmix-dev cmake g++ make)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server iproute2 util-linux)
fi

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-system: all system packages present"
  exit 0
fi

if ! command -v apt-get >/dev/null; then
  echo "install-system: missing ${missing[*]} and no apt-get here; install them with your package manager" >&2
  exit 1
fi
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-system: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-system: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
