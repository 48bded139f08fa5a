#!/usr/bin/env bash
# Makes sure redis-server is installed for the cluster tests (they start their own instances on
# random loopback ports; no service is used; the package may start a system service on 6379,
# which the tests do not use).
set -euo pipefail
source "$(dirname "$0")/lib/ensure-package.sh"
ensure_package redis-server "the cluster tests need it" "e.g. 'sudo apt-get install redis-server' or 'brew install redis'" redis-server
