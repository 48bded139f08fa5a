#!/usr/bin/env bash
# Makes sure coturn (turnserver, turnutils_uclient) is installed for the TURN test, which starts
# its own turnserver on a free loopback port.
set -euo pipefail
source "$(dirname "$0")/lib/ensure-package.sh"
ensure_package coturn "the TURN test needs it" "e.g. 'sudo apt-get install coturn' or 'brew install coturn'" turnserver turnutils_uclient
