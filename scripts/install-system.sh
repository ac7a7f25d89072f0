#!/usr/bin/env bash
# Install the system packages clusterhpc needs, with apt-get, only when missing.
#   scripts/install-system.sh          MPI (OpenMPI) and the Horovod build tools: no services
#   scripts/install-system.sh --test   also munge, Slurm (ctld, d, dbd, client), MariaDB, PMIx's
#                                      libpmix.so for Slurm's pmix plugin, and iproute2 +
#                                      util-linux (the namespaced nodes), for the tests
# Idempotent: a second run installs nothing. Needs root (or sudo) when something is missing.
# Without root: when mpicc, mpicxx, mpirun, g++, cmake and make are already on PATH (another
# package manager, `module load`), nothing is installed; SYSTEM_PACKAGES=skip skips this step.
set -euo pipefail

test_mode=""
[[ "${1:-}" == "--test" ]] && test_mode=1
packages=(openmpi-bin libopenmpi-dev cmake g++ make)
[[ -n "$test_mode" ]] &&
  packages+=(libpmix-dev munge slurmctld slurmd slurm-client slurmdbd mariadb-server iproute2 util-linux)

if [[ "${SYSTEM_PACKAGES:-auto}" == skip ]]; then
  echo "install-system: SYSTEM_PACKAGES=skip, not checking ${packages[*]}"
  exit 0
fi

missing=()
for pkg in "${packages[@]}"; do
  [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" == "install ok installed" ]] ||
    missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-system: all system packages present"
  exit 0
fi

tools=(mpicc mpicxx mpirun g++ cmake make)
absent=()
for tool in "${tools[@]}"; do command -v "$tool" >/dev/null || absent+=("$tool"); done
if [[ -z "$test_mode" && ${#absent[@]} -eq 0 ]]; then
  echo "install-system: ${tools[*]} found on PATH, installing no system packages"
  exit 0
fi

# Say what to install when this user cannot, and how to go on without root.
cannot_install() {
  printf >&2 '%s\n' "install-system: missing ${missing[*]}; $1." \
    "  Ask an administrator: apt-get install -y --no-install-recommends ${missing[*]}"
  if [[ -z "$test_mode" ]]; then
    printf >&2 '%s\n' \
      "  Or put an MPI and compilers on PATH (not found: ${absent[*]}), e.g. module load openmpi" \
      "  gcc cmake, and rerun; or, when they are there under other names: make demo SYSTEM_PACKAGES=skip"
  fi
  exit 1
}

command -v apt-get >/dev/null || cannot_install "no apt-get here, install them with your package manager"
sudo=""
if [[ $EUID -ne 0 ]]; then
  command -v sudo >/dev/null || cannot_install "installing needs root, and there is no sudo"
  sudo -n true 2>/dev/null || [[ -t 0 ]] ||
    cannot_install "installing needs root, and sudo wants a password but there is no terminal"
  sudo="sudo"
fi
echo "install-system: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
