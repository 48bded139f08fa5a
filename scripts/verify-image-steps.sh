#!/usr/bin/env bash
# Reproduces what docker/Dockerfile does, without Docker, and checks the result end to end:
#   1. build stage   — a clean copy of the build context (package.json, package-lock.json,
#                      tsconfig*.json, src/), `npm run build` there, then `npm pack`
#   2. runtime stage — extract the tarball, put package-lock.json beside it (npm pack leaves it
#                      out), `npm ci --omit=dev`
#   3. run           — `node dist/server.js` with the image's environment only (env -i:
#                      NODE_ENV=production GATEWAY_HOST=0.0.0.0, a free ephemeral port, and the
#                      image's CMD: `env LD_PRELOAD=libjemalloc.so.2 MALLOC_CONF=background_thread:true
#                      node …` when this host has libjemalloc2, with a warning otherwise), as the
#                      unprivileged user `nobody` when run as root, in a directory it cannot write
#   4. check         — /health within a bounded wait, then scripts/verify-gateway.mjs --hold (real
#                      handshake, signed OFFER delivered byte for byte, DISCOVER)
#   5. shutdown      — SIGTERM: both held agents closed with 1001, exit status 0 within 10 s,
#                      "shutting down" and "shutdown complete" logged, nothing at error/fatal
# The build runs in a temporary copy so the repository's dist/ is neither used (it may hold stale
# files) nor touched. Everything is cleaned up on exit (KEEP_TMP=1 keeps the temp dir).
#
# Env: HEALTH_WAIT_S (30) bound on start-up · STOP_WAIT_S (10) bound on the graceful exit ·
#      BUILD_NPM_CI=1 to `npm ci` the build stage instead of reusing the repository's node_modules ·
#      KEEP_TMP=1 · RUN_AS_USER (nobody) used when running as root.
# Exit status 0 when every step passes; non-zero with a "FAIL:" line naming the step otherwise.
set -euo pipefail
umask 022

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HEALTH_WAIT_S=${HEALTH_WAIT_S:-30}
STOP_WAIT_S=${STOP_WAIT_S:-10}
RUN_AS_USER=${RUN_AS_USER:-nobody}
KEEP_TMP=${KEEP_TMP:-0}
BUILD_NPM_CI=${BUILD_NPM_CI:-0}
NPM_FLAGS=(--no-audit --no-fund --loglevel=error)

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
warn() { printf '    WARNING: %s\n' "$*"; }
die() {
  printf '\nverify-image-steps: FAIL: %s\n' "$*" >&2
  exit 1
}
# Milliseconds since the epoch (GNU date; whole seconds where date has no %N, e.g. macOS).
if [[ $(date +%3N) =~ ^[0-9]+$ ]]; then now_ms() { date +%s%3N; }; else now_ms() { echo $(($(date +%s) * 1000)); }; fi

command -v node >/dev/null || die "node is not installed"
command -v npm >/dev/null || die "npm is not installed"
NODE_BIN=$(command -v node)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gateway-image.XXXXXX")
BUILD="$WORK/build"
APP="$WORK/run/package"
SERVER_OUT="$WORK/server.stdout.log"
SERVER_ERR="$WORK/server.stderr.log"
VERIFY_OUT="$WORK/verify.log"
SERVER_PID=""
VERIFY_PID=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $VERIFY_PID ]] && kill -0 "$VERIFY_PID" 2>/dev/null; then kill "$VERIFY_PID" 2>/dev/null || true; fi
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ $rc -ne 0 ]]; then
    for f in "$SERVER_OUT" "$SERVER_ERR" "$VERIFY_OUT"; do
      if [[ -s $f ]]; then
        printf '\n--- last lines of %s ---\n' "${f#"$WORK"/}" >&2
        tail -n 30 "$f" >&2
      fi
    done
  fi
  if [[ $KEEP_TMP == 1 ]]; then
    printf '\n(temp dir kept: %s)\n' "$WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- 1. build stage ------------------------------------------------------------------------------
step "build stage: clean copy of the build context → npm run build → npm pack  ($WORK)"
mkdir -p "$BUILD"
# The same files docker/Dockerfile copies into its build stage.
cp "$ROOT/package.json" "$ROOT/package-lock.json" "$ROOT/tsconfig.json" "$ROOT/tsconfig.build.json" "$BUILD/"
cp -R "$ROOT/src" "$BUILD/src"
# Files the package.json "files" field names besides dist/, when they exist (npm pack adds them).
node -e '
  const pkg = require(process.argv[1] + "/package.json");
  for (const f of pkg.files ?? []) if (!/^dist\/?$/.test(f)) console.log(f);
' "$ROOT" | while IFS= read -r f; do
  if [[ -e "$ROOT/$f" ]]; then cp -R "$ROOT/$f" "$BUILD/"; fi
done
for f in LICENSE LICENSE.md NOTICE; do
  if [[ -e "$ROOT/$f" ]]; then cp "$ROOT/$f" "$BUILD/"; fi
done

if [[ $BUILD_NPM_CI == 1 || ! -d "$ROOT/node_modules/typescript" ]]; then
  info "npm ci (with dev dependencies)"
  (cd "$BUILD" && npm ci "${NPM_FLAGS[@]}") || die "npm ci in the build stage failed"
else
  # Reuse the repository's install (same lockfile) to spare a full dev install; BUILD_NPM_CI=1 to redo it.
  ln -s "$ROOT/node_modules" "$BUILD/node_modules"
  info "reusing $ROOT/node_modules for the build (BUILD_NPM_CI=1 for a fresh npm ci)"
fi
(cd "$BUILD" && npm run build --silent) || die "npm run build failed"
[[ -f "$BUILD/dist/server.js" ]] || die "npm run build produced no dist/server.js"

PACK_JSON=$(cd "$BUILD" && npm pack --json --pack-destination "$WORK" 2>/dev/null) || die "npm pack failed"
TARBALL="$WORK/$(printf '%s' "$PACK_JSON" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].filename))')"
[[ -f $TARBALL ]] || die "npm pack did not produce a tarball"
info "packed $(basename "$TARBALL") ($(du -k "$TARBALL" | cut -f1) KiB)"

# What the tarball holds versus what the image needs and what package.json "files" promises.
# shellcheck disable=SC2016 # JavaScript, not shell
printf '%s' "$PACK_JSON" | node -e '
  let s = "";
  process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const [pack] = JSON.parse(s);
    const files = new Set(pack.files.map((f) => f.path));
    const pkg = require(process.argv[1] + "/package.json");
    let missing = 0;
    for (const need of ["package.json", "dist/server.js", "dist/app.js"]) {
      if (!files.has(need)) { console.log(`    MISSING from the tarball: ${need}`); missing++; }
    }
    for (const entry of pkg.files ?? []) {
      const e = entry.replace(/\/$/, "");
      if (![...files].some((f) => f === e || f.startsWith(e + "/"))) {
        console.log(`    WARNING: package.json "files" lists "${entry}" but the tarball has no such file (it does not exist in the repository)`);
      }
    }
    const maps = [...files].filter((f) => f.endsWith(".js.map")).length;
    if (maps > 0) console.log(`    note: ${maps} source maps are packed but src/ is not, so they point at files that are absent`);
    console.log(`    tarball: ${pack.entryCount} files; package-lock.json is not packed (npm never packs it): copied beside it for npm ci`);
    process.exit(missing ? 1 : 0);
  });
' "$BUILD" || die "the packed package lacks files the runtime needs"

# ---- 2. runtime stage ----------------------------------------------------------------------------
step "runtime stage: extract → package-lock.json beside it → npm ci --omit=dev"
mkdir -p "$WORK/run"
tar -xzf "$TARBALL" -C "$WORK/run"
cp "$ROOT/package-lock.json" "$APP/"
(cd "$APP" && NODE_ENV=production npm ci --omit=dev "${NPM_FLAGS[@]}") || die "npm ci --omit=dev failed (is package-lock.json in sync with package.json?)"
for dev in typescript vitest tsx eslint; do
  [[ ! -e "$APP/node_modules/$dev" ]] || die "dev dependency '$dev' was installed by npm ci --omit=dev"
done
for dep in ws @noble/ed25519 @noble/hashes @scure/base fastify; do
  [[ -d "$APP/node_modules/$dep" ]] || die "runtime dependency '$dep' is missing after npm ci --omit=dev"
done
info "runtime node_modules: $(du -sh "$APP/node_modules" | cut -f1), no dev dependencies"
# The handshake check runs from inside the install so its bare imports resolve from node_modules there.
cp "$ROOT/scripts/verify-gateway.mjs" "$APP/verify-gateway.mjs"

# ---- 3. run as in the image ----------------------------------------------------------------------
step "run: node dist/server.js with the image environment"
PORT=$(node -e 'const s=require("net").createServer();s.listen(0,"0.0.0.0",()=>{console.log(s.address().port);s.close()})')
[[ $PORT =~ ^[0-9]+$ ]] || die "could not pick a free port"
RUN_AS=()
RUN_USER=$(id -un)
if [[ $(id -u) -eq 0 ]]; then
  id "$RUN_AS_USER" >/dev/null 2>&1 || die "user '$RUN_AS_USER' does not exist (set RUN_AS_USER)"
  if command -v setpriv >/dev/null; then
    # setpriv execs node in place: $! is node's pid, so SIGTERM and the exit status are node's own.
    RUN_AS=("$(command -v setpriv)" --reuid="$(id -u "$RUN_AS_USER")" --regid="$(id -g "$RUN_AS_USER")" --clear-groups --)
  else
    die "running as root needs setpriv (util-linux) to drop to '$RUN_AS_USER'"
  fi
  RUN_USER=$RUN_AS_USER
  chmod 755 "$WORK"
  # The unprivileged user must be able to run node and read the app, and must not be able to write it.
  "${RUN_AS[@]}" "$NODE_BIN" -e 'require("fs").accessSync(process.argv[1] + "/dist/server.js", require("fs").constants.R_OK)' "$APP" \
    || die "user '$RUN_AS_USER' cannot run $NODE_BIN or read $APP"
  if "${RUN_AS[@]}" "$NODE_BIN" -e 'require("fs").accessSync(process.argv[1], require("fs").constants.W_OK)' "$APP" 2>/dev/null; then
    warn "user '$RUN_AS_USER' can write $APP (the read-only check is not meaningful)"
  fi
else
  info "not root: the gateway runs as the current user ($RUN_USER)"
fi
info "user $RUN_USER, port $PORT, cwd $APP"
# The image's CMD preloads jemalloc into node only (docker/Dockerfile); here too, after setpriv
# (jemalloc's background thread in a process that switches user aborts it).
MALLOC_ENV=()
if ldconfig -p 2>/dev/null | grep -q 'libjemalloc\.so\.2 '; then
  MALLOC_ENV=(LD_PRELOAD=libjemalloc.so.2 MALLOC_CONF=background_thread:true)
  info "malloc: jemalloc (LD_PRELOAD=libjemalloc.so.2), as in the image"
else
  warn "libjemalloc2 is not installed here: running on glibc malloc, unlike the image (apt-get install libjemalloc2)"
fi

(
  cd "$APP"
  exec env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/nonexistent NODE_ENV=production GATEWAY_HOST=0.0.0.0 GATEWAY_PORT="$PORT" \
    ${RUN_AS[@]+"${RUN_AS[@]}"} env ${MALLOC_ENV[@]+"${MALLOC_ENV[@]}"} "$NODE_BIN" dist/server.js
) >"$SERVER_OUT" 2>"$SERVER_ERR" &
SERVER_PID=$!

started=$(now_ms)
deadline=$((started + HEALTH_WAIT_S * 1000))
until "$NODE_BIN" -e '
  fetch(process.argv[1]).then((r) => r.json().then((b) => process.exit(r.status === 200 && b.status === "healthy" ? 0 : 1)), () => process.exit(1));
' "http://127.0.0.1:$PORT/health" 2>/dev/null; do
  kill -0 "$SERVER_PID" 2>/dev/null || { wait "$SERVER_PID" && rc=0 || rc=$?; die "the gateway exited with status $rc before becoming healthy"; }
  [[ $(now_ms) -lt $deadline ]] || die "/health not healthy within ${HEALTH_WAIT_S} s"
  sleep 0.25
done
info "/health healthy after $(($(now_ms) - started)) ms"
actual_user=$(ps -o user= -p "$SERVER_PID" | tr -d ' ')
[[ $actual_user == "$RUN_USER" ]] || die "the gateway runs as '$actual_user', expected '$RUN_USER'"
grep -q '"url":"ws://0.0.0.0:' "$SERVER_OUT" || warn "no 'gateway ready' log line with ws://0.0.0.0 (GATEWAY_HOST not applied?)"
info "pid $SERVER_PID runs as $actual_user, listening on 0.0.0.0:$PORT"

# ---- 4. real handshake ---------------------------------------------------------------------------
step "check: scripts/verify-gateway.mjs --hold against ws://127.0.0.1:$PORT/ws (from the packed install)"
: >"$VERIFY_OUT"
(cd "$APP" && exec "$NODE_BIN" verify-gateway.mjs "ws://127.0.0.1:$PORT/ws" --hold) >"$VERIFY_OUT" 2>&1 &
VERIFY_PID=$!
deadline=$(($(now_ms) + 30000))
until grep -q '^HOLDING' "$VERIFY_OUT"; do
  if ! kill -0 "$VERIFY_PID" 2>/dev/null; then
    VERIFY_PID=""
    die "the handshake check failed before the shutdown test"
  fi
  [[ $(now_ms) -lt $deadline ]] || die "the handshake check did not finish within 30 s"
  sleep 0.1
done
sed -e '/^HOLDING/d' -e 's/^/    /' "$VERIFY_OUT"

# ---- 5. graceful shutdown ------------------------------------------------------------------------
step "shutdown: SIGTERM with two agents connected"
kill -0 "$SERVER_PID" 2>/dev/null || die "the gateway died during the handshake check"
t0=$(now_ms)
kill -TERM "$SERVER_PID"
while kill -0 "$SERVER_PID" 2>/dev/null; do
  [[ $(( $(now_ms) - t0 )) -lt $((STOP_WAIT_S * 1000)) ]] || die "the gateway did not exit within ${STOP_WAIT_S} s of SIGTERM"
  sleep 0.05
done
elapsed=$(( $(now_ms) - t0 ))
server_rc=0
wait "$SERVER_PID" || server_rc=$?
SERVER_PID=""
[[ $server_rc -eq 0 ]] || die "the gateway exited with status $server_rc after SIGTERM (expected 0)"
info "exited with status 0 after ${elapsed} ms"

verify_rc=0
wait "$VERIFY_PID" || verify_rc=$?
VERIFY_PID=""
sed -n -e '/^HOLDING/,$p' "$VERIFY_OUT" | sed -e '/^HOLDING/d' -e 's/^/    /'
[[ $verify_rc -eq 0 ]] || die "the agents were not closed with 1001 on shutdown (verify-gateway exit $verify_rc)"

grep -q '"signal":"SIGTERM".*shutting down' "$SERVER_OUT" || die "no 'shutting down' log line naming SIGTERM"
grep -q '"msg":"shutdown complete"' "$SERVER_OUT" || die "no 'shutdown complete' log line"
if grep -qE '"level":(50|60)' "$SERVER_OUT"; then
  grep -E '"level":(50|60)' "$SERVER_OUT" | head -n 5 >&2
  die "the gateway logged at error/fatal level"
fi
if grep -qv '^{' "$SERVER_OUT"; then
  warn "stdout has non-JSON lines (log collectors expect JSON lines only):"
  grep -v '^{' "$SERVER_OUT" | head -n 3 | sed 's/^/      /'
fi
if [[ -s $SERVER_ERR ]]; then
  warn "the gateway wrote to stderr:"
  head -n 3 "$SERVER_ERR" | sed 's/^/      /'
fi
info "logs: 'shutting down' (SIGTERM) and 'shutdown complete', nothing at error/fatal level"

printf '\nverify-image-steps: PASS (build → pack → npm ci --omit=dev → run as %s → health → handshake → SIGTERM exit 0 in %s ms)\n' "$RUN_USER" "$elapsed"
