#!/usr/bin/env bash
# Makes sure this host has what `make gateway-test` (scripts/verify-image-steps.sh) runs the image's
# command with, as the image does: tini as the init, and jemalloc preloaded into node
# (Debian packages tini and libjemalloc2). Without them the image steps would run differently
# from the image and only warn.
set -euo pipefail
source "$(dirname "$0")/lib/ensure-package.sh"
ensure_package tini "make gateway-test runs the image's ENTRYPOINT, tini" "e.g. 'sudo apt-get install tini'" tini
if ! ldconfig -p 2>/dev/null | grep -q 'libjemalloc\.so\.2 '; then
  echo "libjemalloc.so.2 not found: installing Debian package libjemalloc2 (the image preloads it into node)"
  apt_install libjemalloc2 ||
    echo "libjemalloc2 is not installed: make gateway-test runs node on glibc malloc, unlike the image (e.g. 'sudo apt-get install libjemalloc2')" >&2
fi
