#!/usr/bin/env bash
# Makes sure `nft` (Debian package nftables) and `ip` (iproute2) are installed: the NAT test
# (test/nat/) and `npm run demo:nat` build network namespaces with routers doing nftables NAT.
set -euo pipefail
source "$(dirname "$0")/lib/ensure-package.sh"
ensure_package iproute2 "the NAT test builds network namespaces with ip" "e.g. 'sudo apt-get install iproute2'" ip
ensure_package nftables "the NAT test's routers masquerade with nftables" "e.g. 'sudo apt-get install nftables'" nft
