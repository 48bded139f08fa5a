#!/usr/bin/env bash
# Makes sure a Chromium is there for the browser WebRTC test (test/webrtc/browser.test.ts, which
# fails loudly without one): CHROMIUM_PATH, or `chromium` on PATH, or Debian's package.
set -euo pipefail
[ -n "${CHROMIUM_PATH:-}" ] && exit 0
source "$(dirname "$0")/lib/ensure-package.sh"
ensure_package chromium "the browser WebRTC test needs it" "e.g. 'sudo apt-get install chromium', or set CHROMIUM_PATH" chromium
