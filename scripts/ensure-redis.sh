#!/usr/bin/env bash
# Makes sure redis-server is installed for the cluster tests (they start their own instances on
# random loopback ports; no service is used). Installs Debian's package when missing and we are
# root with apt-get; otherwise says what to install.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "redis-server not found: installing Debian package redis-server (cluster tests need it)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  # The package may start a system service on 6379; the tests do not use it.
  command -v redis-server >/dev/null 2>&1 && exit 0
fi
echo "redis-server is required by the cluster tests: install it (e.g. 'sudo apt-get install redis-server' or 'brew install redis')" >&2
exit 1
