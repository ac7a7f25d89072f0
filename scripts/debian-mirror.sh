#!/usr/bin/env bash
# Print the Debian archive mirror this host's apt already uses (the first `.../debian` URI of
# its sources, deb822 or one-line format). Read at build time so that nothing site-specific is
# written into the repository. Exit 1 when the host has no Debian source configured.
set -euo pipefail
if [[ -n ${DEBIAN_MIRROR:-} ]]; then
  echo "${DEBIAN_MIRROR%/}"
  exit 0
fi
shopt -s nullglob
mirror=$(
  {
    for file in /etc/apt/sources.list.d/*.sources; do
      awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$file"
    done
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      if [[ -f $file ]]; then
        awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; break } }' "$file"
      fi
    done
  } | grep -E '/debian/?$' | head -n 1 || true
)
if [[ -z $mirror ]]; then
  echo "debian-mirror: no Debian archive in /etc/apt sources; set DEBIAN_MIRROR" >&2
  exit 1
fi
echo "${mirror%/}"
