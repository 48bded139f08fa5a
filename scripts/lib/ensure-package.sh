# Sourced by scripts/ensure-*.sh: `ensure_package PACKAGE WHY HINT COMMAND...` returns when every
# COMMAND is on PATH; otherwise installs Debian's PACKAGE when we are root with apt-get, and
# failing that prints what to install (HINT) and exits 1.
ensure_package() {
  local package=$1 why=$2 hint=$3
  shift 3
  local missing=0 cmd
  for cmd in "$@"; do command -v "$cmd" >/dev/null 2>&1 || missing=1; done
  [ "$missing" = 0 ] && return 0
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "$* not found: installing Debian package $package ($why)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >/dev/null
    missing=0
    for cmd in "$@"; do command -v "$cmd" >/dev/null 2>&1 || missing=1; done
    [ "$missing" = 0 ] && return 0
  fi
  echo "$package is required: $why. Install it ($hint)" >&2
  exit 1
}
