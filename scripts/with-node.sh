#!/usr/bin/env bash
# Runs a command with a given Node.js major first on PATH: `scripts/with-node.sh 24 make test`.
#
# The Node binary comes from the npm registry's `node` package (npm exec caches it under
# ~/.npm/_npx), so CI proves each declared major (package.json "engines") on a machine that has
# only one Node installed, with nothing installed by hand. npm itself is the machine's; it runs on
# whichever node comes first on PATH, i.e. the requested one.
set -euo pipefail
if [[ $# -lt 2 || ! "$1" =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/with-node.sh MAJOR COMMAND [ARGS...]   (e.g. scripts/with-node.sh 22 npm test)" >&2
  exit 2
fi
major=$1
shift
if [[ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || true)" != "$major" ]]; then
  exec_path=$(npm exec --yes --package="node@$major" -- node -p 'process.execPath' | tail -n 1)
  [[ -x "$exec_path" ]] || { echo "with-node: could not fetch Node $major from the npm registry (got: $exec_path)" >&2; exit 1; }
  export PATH="$(dirname "$exec_path"):$PATH"
fi
exec "$@"
