#!/usr/bin/env bash
# Makes sure Debian's Python 3 and the Python packages of the Python client's tests
# (clients/python) are installed: websockets, cryptography, PyNaCl, aiortc, pytest,
# pytest-asyncio. Debian 12 packages them as python3-*; only /usr/bin/python3 sees them (a python3
# from pyenv or a venv does not), so that is the interpreter checked and used by `make test-python`.
set -euo pipefail
source "$(dirname "$0")/lib/ensure-package.sh"
PYTHON=/usr/bin/python3
ensure_package python3 "the Python client's tests run on Debian's Python 3" "e.g. 'sudo apt-get install python3'" "$PYTHON"

# module:package pairs
wanted=(websockets:python3-websockets cryptography:python3-cryptography nacl:python3-nacl aiortc:python3-aiortc
  pytest:python3-pytest pytest_asyncio:python3-pytest-asyncio)
missing_packages() {
  local pair
  for pair in "${wanted[@]}"; do
    "$PYTHON" -c "import ${pair%%:*}" >/dev/null 2>&1 || echo "${pair#*:}"
  done
}
mapfile -t missing < <(missing_packages)
[ "${#missing[@]}" = 0 ] && exit 0
echo "Python modules missing: installing Debian packages ${missing[*]} (the Python client's tests need them)"
if apt_install "${missing[@]}"; then
  mapfile -t missing < <(missing_packages)
  [ "${#missing[@]}" = 0 ] && exit 0
fi
echo "${missing[*]} required: the Python client's tests (clients/python) need them for $PYTHON. Install them (e.g. 'sudo apt-get install ${missing[*]}')" >&2
exit 1
