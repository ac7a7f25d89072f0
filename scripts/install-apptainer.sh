#!/usr/bin/env bash
# Give this machine an `apptainer` for building and testing clusterhpc's images.
#
#   scripts/install-apptainer.sh      prints the apptainer program's path on its last line
#
# An apptainer already on PATH (a site module, a distribution package) is used as it is.
# Otherwise, on a Debian host (Debian 12 has no apptainer package): Debian's apptainer package
# from the unstable suite and the newer glibc it needs are unpacked into
# ${APPTAINER_PREFIX:-/opt/clusterhpc/apptainer}, its two programs are pointed at that glibc,
# and its non-setuid configuration is made relocatable. The system's apt lists and glibc are
# untouched; what changes on the system: a few small Debian 12 packages (squashfs-tools,
# debootstrap, ...) installed with apt-get, and a subordinate id range for root in /etc/subuid
# and /etc/subgid (for `build --fakeroot`). Needs root; the mirror is the one this host's apt
# already uses.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prefix=${APPTAINER_PREFIX:-/opt/clusterhpc/apptainer}
program=$prefix/root/usr/bin/apptainer

if found=$(command -v apptainer) && "$found" --version >/dev/null 2>&1; then
  echo "$found"
  exit 0
fi
# subuid_for_root FILE: give root a subordinate id range after every existing one, so that
# `apptainer build --fakeroot` works as a root that lacks capabilities %post asks for.
subuid_for_root() {
  local file=$1 start
  grep -q '^root:' "$file" 2>/dev/null && return
  start=$(awk -F: '{ end = $2 + $3; if (end > top) top = end } END { print (top > 1000000 ? top : 1000000) }' \
    "$file" 2>/dev/null || echo 1000000)
  echo "root:$start:65536" >>"$file"
}

if "$program" --version >/dev/null 2>&1; then
  [[ $(id -u) -ne 0 ]] || { subuid_for_root /etc/subuid; subuid_for_root /etc/subgid; }
  echo "$program"
  exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "install-apptainer: no apptainer on PATH; install it as your site recommends" \
    "(https://apptainer.org/docs/admin/main/installation.html), or run this as root on Debian" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt_get=(apt-get -o DPkg::Lock::Timeout=600 -q)
"${apt_get[@]}" update >/dev/null
"${apt_get[@]}" install -y --no-install-recommends patchelf squashfs-tools uidmap fakeroot \
  e2fsprogs libseccomp2 libsqlite3-0 libcap2-bin debootstrap >/dev/null

# Private package lists for the newer suites, so the system's apt never sees them.
mirror=$(bash "$here/debian-mirror.sh")
apt_dir=$prefix/apt
rm -rf "$apt_dir" "$prefix/root" "$prefix/glibc"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/sources" "$apt_dir/debs"
printf 'Types: deb\nURIs: %s\nSuites: trixie sid\nComponents: main\nSigned-By: %s\n' \
  "$mirror" /usr/share/keyrings/debian-archive-keyring.gpg >"$apt_dir/sources/newer.sources"
private=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt_dir/sources"
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache")
"${apt_get[@]}" "${private[@]}" update >/dev/null
(cd "$apt_dir/debs" && "${apt_get[@]}" "${private[@]}" download apptainer/sid libc6/trixie >/dev/null)
dpkg-deb -x "$apt_dir"/debs/apptainer_*.deb "$prefix/root"
dpkg-deb -x "$apt_dir"/debs/libc6_*.deb "$prefix/glibc"

glibc=$prefix/glibc/usr/lib/x86_64-linux-gnu
for binary in "$program" "$prefix/root/usr/lib/x86_64-linux-gnu/apptainer/bin/starter"; do
  # An RPATH (not RUNPATH) so that the re-executed starter keeps the newer glibc too.
  patchelf --set-interpreter "$glibc/ld-linux-x86-64.so.2" --force-rpath \
    --set-rpath "$glibc:/lib/x86_64-linux-gnu" "$binary"
done

# Non-setuid apptainer finds its configuration and state relative to its own binary.
mkdir -p "$prefix/root/usr/etc" "$prefix/root/usr/lib/var/lib/apptainer/mnt/session" \
  "$prefix/root/usr/var/lib/apptainer/mnt/session"
cp -a "$prefix/root/etc/apptainer" "$prefix/root/usr/etc/"
ln -sfn ../etc "$prefix/root/usr/lib/etc"
# Root in some sandboxes lacks capabilities (CAP_SYS_RESOURCE here) that apptainer asks for
# by default: grant root exactly the bounding set it has.
config=$prefix/root/usr/etc/apptainer/apptainer.conf
sed -i 's/^root default capabilities = full/root default capabilities = file/' "$config"
bounding=$(awk '/^CapBnd/ {print $2}' /proc/self/status)
capabilities=$(capsh --decode="$bounding" | cut -d= -f2 | tr '[:lower:]' '[:upper:]')
"$program" capability add --user root "$capabilities" >/dev/null 2>&1 || true
chmod 755 "$prefix"
subuid_for_root /etc/subuid
subuid_for_root /etc/subgid
"$program" --version >&2
echo "$program"
