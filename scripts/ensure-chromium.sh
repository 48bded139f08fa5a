#!/usr/bin/env bash
# Makes sure a Chromium is there for the browser WebRTC test (test/webrtc/browser.test.ts, which
# fails loudly without one). Uses CHROMIUM_PATH or `chromium` when present; installs Debian's
# package when missing and we are root with apt-get; otherwise says what to install.
set -euo pipefail
if [ -n "${CHROMIUM_PATH:-}" ] || command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "chromium not found: installing Debian package chromium (the browser WebRTC test needs it)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  command -v chromium >/dev/null 2>&1 && exit 0
fi
echo "chromium is required by the browser WebRTC test: install it (e.g. 'sudo apt-get install chromium') or set CHROMIUM_PATH" >&2
exit 1
