# Sourced by scripts/ensure-*.sh.
#
# `apt_install PACKAGE...` installs Debian packages when we are root with apt-get; returns 1
# (installing nothing) otherwise, for the caller to say what to install.
apt_install() {
  [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1 || return 1
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# `ensure_package PACKAGE WHY HINT COMMAND...` returns when every COMMAND is on PATH; otherwise
# installs Debian's PACKAGE (apt_install), and failing that prints what to install (HINT) and
# exits 1.
ensure_package() {
  local package=$1 why=$2 hint=$3
  shift 3
  all_on_path "$@" && return 0
  echo "$* not found: installing Debian package $package ($why)"
  apt_install "$package" && all_on_path "$@" && return 0
  echo "$package is required: $why. Install it ($hint)" >&2
  exit 1
}

all_on_path() {
  local cmd
  for cmd in "$@"; do command -v "$cmd" >/dev/null 2>&1 || return 1; done
}
