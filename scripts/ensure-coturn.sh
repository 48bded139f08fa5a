#!/usr/bin/env bash
# Makes sure coturn (turnserver, turnutils_uclient) is installed for the TURN test, which starts
# its own turnserver on a free loopback port. Installs Debian's package when missing and we are
# root with apt-get; otherwise says what to install.
set -euo pipefail
if command -v turnserver >/dev/null 2>&1 && command -v turnutils_uclient >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "turnserver not found: installing Debian package coturn (the TURN test needs it)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends coturn >/dev/null
  command -v turnserver >/dev/null 2>&1 && exit 0
fi
echo "coturn is required by the TURN test: install it (e.g. 'sudo apt-get install coturn' or 'brew install coturn')" >&2
exit 1
