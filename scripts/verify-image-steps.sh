#!/usr/bin/env bash
# Reproduces what docker/Dockerfile does, without Docker, and checks the result end to end:
#   0. Dockerfile    — reads docker/Dockerfile: three stages (build, deps, runtime); the runtime
#                      stage installs nothing with npm (it removes npm, npx, corepack and yarn),
#                      copies node_modules from deps and dist/ from build, runs as a non-root USER,
#                      has a HEALTHCHECK, and an init (tini) as ENTRYPOINT; .dockerignore lets the
#                      files the stages COPY through; deploy/k8s/deployment.yaml names the image tag
#                      `make gateway-build` makes (aiconexus-gateway:<package.json version>).
#   1. build stage   — a clean copy of what the build stage COPYs, then its compile RUN (tsc);
#                      plus a package check (`npm pack --dry-run`; not an image step)
#   2. deps stage    — package.json + package-lock.json alone, then its RUN (npm ci --omit=dev)
#   3. runtime stage — the runtime layout: package.json, node_modules copied from 2, dist/ from 1
#   4. run           — the image's ENTRYPOINT + CMD as written in the Dockerfile (tini -s -- env
#                      LD_PRELOAD=libjemalloc.so.2 … node dist/server.js; without tini or libjemalloc2
#                      on this host that part is left out, with a warning), with the runtime stage's
#                      ENV only (env -i) and a free ephemeral port, as the unprivileged user `nobody`
#                      when run as root, in a directory it cannot write, with npm, npx, corepack and
#                      yarn on PATH replaced by traps that fail the run if anything calls them
#   5. check         — /health within a bounded wait, then scripts/verify-gateway.mjs --hold (real
#                      handshake, signed OFFER delivered byte for byte, DISCOVER)
#   6. shutdown      — SIGTERM to the init, as `docker stop` does: it forwards it to node, both held
#                      agents are closed with 1001, exit status 0 within 10 s, "shutting down" and
#                      "shutdown complete" logged, nothing at error/fatal
# Not reproduced here (checked by reading the Dockerfile): the base image, the apt packages and the
# removal of npm inside it, and tini reaping zombies as PID 1.
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
DOCKERFILE="$ROOT/docker/Dockerfile"
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
DEPS="$WORK/deps"
APP="$WORK/app"
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

# ---- 0. read the Dockerfile ----------------------------------------------------------------------
step "Dockerfile: stages, runtime stage without npm, non-root USER, HEALTHCHECK, init ENTRYPOINT"
# Prints bash assignments (sourced below) of what the next steps reproduce, or FAIL lines.
# shellcheck disable=SC2016 # JavaScript, not shell
node -e '
  const fs = require("fs");
  const [dockerfile, root] = process.argv.slice(1);
  const fails = [];
  const fail = (m) => fails.push(m);
  // Instructions, with continuation lines joined and comment lines dropped (also inside a continuation).
  const instrs = [];
  let cur = "";
  for (const raw of fs.readFileSync(dockerfile, "utf8").split("\n")) {
    const line = raw.trim();
    if (line.startsWith("#") || (line === "" && cur === "")) continue;
    cur += (cur ? " " : "") + line.replace(/\\$/, "").trim();
    if (!line.endsWith("\\")) { if (cur) instrs.push(cur); cur = ""; }
  }
  const stages = [];
  for (const i of instrs) {
    const [, kw, rest] = i.match(/^(\S+)\s*(.*)$/);
    const k = kw.toUpperCase();
    if (k === "FROM") { stages.push({ name: (rest.match(/\sAS\s+(\S+)/i) ?? [])[1], from: rest.split(/\s+/)[0], ins: [] }); continue; }
    if (stages.length) stages.at(-1).ins.push([k, rest]);
  }
  const stage = (n) => stages.find((s) => s.name === n) ?? (fail(`no stage named "${n}"`), { ins: [] });
  const names = stages.map((s) => s.name).join(", ");
  if (names !== "build, deps, runtime") fail(`stages are [${names}], expected [build, deps, runtime] (the runtime stage last)`);
  const build = stage("build"), deps = stage("deps"), runtime = stage("runtime");
  const of = (s, k) => s.ins.filter(([kw]) => kw === k).map(([, r]) => r);
  const json = (s, k) => { const r = of(s, k).at(-1); if (r === undefined) { fail(`the runtime stage has no ${k}`); return []; } try { return JSON.parse(r); } catch { fail(`${k} is not in exec (JSON array) form: ${r}`); return []; } };
  const copies = (s) => of(s, "COPY").map((r) => r.split(/\s+/)).map((w) => ({ from: (w.find((x) => x.startsWith("--from=")) ?? "").slice(7), args: w.filter((x) => !x.startsWith("--")) }));
  for (const s of [build, deps, runtime]) if (of(s, "WORKDIR").at(-1) !== "/app") fail(`stage ${s.name}: WORKDIR is not /app`);

  // Build stage: what it copies from the context, and its last RUN (the compile).
  const buildCopy = copies(build).filter((c) => !c.from).flatMap((c) => c.args.slice(0, -1));
  const buildRun = of(build, "RUN").at(-1) ?? "";
  if (!/\btsc\b/.test(buildRun)) fail(`the build stage does not end with its compile step (RUN … tsc …): ${buildRun}`);
  // Deps stage: package.json and package-lock.json only, npm ci --omit=dev.
  const depsCopy = copies(deps).filter((c) => !c.from).flatMap((c) => c.args.slice(0, -1));
  if (depsCopy.sort().join(" ") !== "package-lock.json package.json") fail(`the deps stage copies ${depsCopy.join(" ")}, expected package.json package-lock.json only`);
  const depsRun = of(deps, "RUN").find((r) => /\bnpm ci\b/.test(r)) ?? "";
  if (!/--omit=dev\b/.test(depsRun)) fail(`the deps stage has no RUN npm ci --omit=dev`);
  // Runtime stage.
  const pm = /(^|[\s;&|(])(npm|npx|yarn|yarnpkg|corepack|pnpm)\s+(ci|install|i|add|run|run-script|exec|rebuild|prune|update|enable|prepare|start)\b/;
  for (const r of of(runtime, "RUN")) if (pm.test(r)) fail(`the runtime stage runs a package manager: RUN ${r}`);
  const runs = of(runtime, "RUN").join(" ");
  for (const p of ["/usr/local/bin/npm", "/usr/local/bin/npx", "/usr/local/bin/corepack", "/usr/local/lib/node_modules/npm"]) {
    if (!runs.includes(p)) fail(`the runtime stage does not remove ${p}`);
  }
  const rc = copies(runtime);
  const fromStage = rc.filter((c) => c.from).map((c) => ({ from: c.from, src: c.args[0], dest: c.args[1] }));
  if (!fromStage.some((c) => c.from === "deps" && /\/node_modules$/.test(c.src))) fail("the runtime stage does not COPY --from=deps …/node_modules");
  if (!fromStage.some((c) => c.from === "build" && /\/dist$/.test(c.src))) fail("the runtime stage does not COPY --from=build …/dist");
  const runtimeCopy = rc.filter((c) => !c.from).flatMap((c) => c.args.slice(0, -1));
  const user = of(runtime, "USER").at(-1);
  if (!user || /^(root|0)(:|$)/.test(user)) fail(`the runtime stage runs as ${user ?? "root (no USER)"}, expected a non-root USER`);
  if (!of(runtime, "HEALTHCHECK").some((h) => /\/health/.test(h))) fail("the runtime stage has no HEALTHCHECK on /health");
  const entrypoint = json(runtime, "ENTRYPOINT"), cmd = json(runtime, "CMD");
  if (!/(^|\/)(tini|dumb-init)$/.test(entrypoint[0] ?? "")) fail(`ENTRYPOINT is not an init (tini or dumb-init): ${JSON.stringify(entrypoint)}`);
  if (!cmd.includes("dist/server.js")) fail(`CMD does not run dist/server.js: ${JSON.stringify(cmd)}`);
  const env = of(runtime, "ENV").flatMap((r) => r.split(/\s+/)).filter((x) => x.includes("="));

  // .dockerignore (an allowlist): every file the stages COPY from the context must pass it.
  const ignore = fs.existsSync(root + "/.dockerignore") ? fs.readFileSync(root + "/.dockerignore", "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")) : [];
  if (ignore[0] === "*") {
    for (const f of new Set([...buildCopy, ...depsCopy, ...runtimeCopy])) {
      if (!ignore.includes("!" + f)) fail(`.dockerignore leaves ${f} out of the build context, but docker/Dockerfile COPYs it`);
    }
  }
  // The k8s manifest names the tag `make gateway-build` makes besides GATEWAY_IMAGE.
  const version = require(root + "/package.json").version;
  const k8s = fs.readFileSync(root + "/deploy/k8s/deployment.yaml", "utf8").match(/^\s*image:\s*(\S+)/m)?.[1];
  if (k8s !== `aiconexus-gateway:${version}`) fail(`deploy/k8s/deployment.yaml uses image ${k8s}, but make gateway-build tags aiconexus-gateway:${version} (package.json version): update the manifest`);

  if (fails.length) { for (const f of fails) console.error("    " + f); process.exit(1); }
  const q = (s) => "\x27" + String(s).replace(/\x27/g, "\x27\\\x27\x27") + "\x27";
  const arr = (a) => "(" + a.map(q).join(" ") + ")";
  console.log(`BUILD_COPY=${arr(buildCopy)}`);
  console.log(`BUILD_RUN=${q(buildRun)}`);
  console.log(`DEPS_RUN=${q(depsRun)}`);
  console.log(`RUNTIME_COPY=${arr(runtimeCopy)}`);
  console.log(`RUNTIME_FROM=${arr(fromStage.map((c) => `${c.from} ${c.src.replace(/^\/app\//, "")} ${c.dest.replace(/^\.\//, "")}`))}`);
  console.log(`RUNTIME_ENV=${arr(env)}`);
  console.log(`RUNTIME_USER=${q(user)}`);
  console.log(`ENTRYPOINT=${arr(entrypoint)}`);
  console.log(`CMD=${arr(cmd)}`);
' "$DOCKERFILE" "$ROOT" >"$WORK/dockerfile.sh" || die "docker/Dockerfile does not have the expected layout (see above)"
# shellcheck disable=SC1091
source "$WORK/dockerfile.sh"
info "stages build → deps → runtime; runtime: USER $RUNTIME_USER, ENV ${RUNTIME_ENV[*]}"
info "ENTRYPOINT ${ENTRYPOINT[*]}; CMD ${CMD[*]}"
info "no package manager in the runtime stage; node_modules from deps, dist/ from build"

# ---- 1. build stage ------------------------------------------------------------------------------
step "build stage: clean copy of ${BUILD_COPY[*]} → $BUILD_RUN  ($WORK)"
mkdir -p "$BUILD"
for f in "${BUILD_COPY[@]}"; do
  [[ -e "$ROOT/$f" ]] || die "the build stage copies $f, which does not exist"
  cp -R "$ROOT/$f" "$BUILD/"
done
if [[ $BUILD_NPM_CI == 1 || ! -d "$ROOT/node_modules/typescript" ]]; then
  info "npm ci (with dev dependencies)"
  (cd "$BUILD" && npm ci "${NPM_FLAGS[@]}") || die "npm ci in the build stage failed"
else
  # Reuse the repository's install (same lockfile) to spare a full dev install; BUILD_NPM_CI=1 to redo it.
  ln -s "$ROOT/node_modules" "$BUILD/node_modules"
  info "reusing $ROOT/node_modules for the build (BUILD_NPM_CI=1 for a fresh npm ci)"
fi
(cd "$BUILD" && sh -c "$BUILD_RUN") || die "the build stage's compile step failed: $BUILD_RUN"
[[ -f "$BUILD/dist/server.js" ]] || die "the build stage produced no dist/server.js"

# Not an image step: what `npm pack` would publish versus what package.json "files" promises.
# Files the package.json "files" field names besides dist/, when they exist, so the check sees them.
node -e '
  const pkg = require(process.argv[1] + "/package.json");
  for (const f of pkg.files ?? []) if (!/^!?dist(\/|$)/.test(f)) console.log(f);
' "$ROOT" | while IFS= read -r f; do
  if [[ -e "$ROOT/$f" && ! -e "$BUILD/$f" ]]; then cp -R "$ROOT/$f" "$BUILD/"; fi
done
PACK_JSON=$(cd "$BUILD" && npm pack --dry-run --json 2>/dev/null) || die "npm pack --dry-run failed"
# shellcheck disable=SC2016 # JavaScript, not shell
printf '%s' "$PACK_JSON" | node -e '
  let s = "";
  process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const [pack] = JSON.parse(s);
    const files = new Set(pack.files.map((f) => f.path));
    const pkg = require(process.argv[1] + "/package.json");
    let missing = 0;
    for (const need of ["package.json", "dist/server.js", "dist/app.js"]) {
      if (!files.has(need)) { console.log(`    MISSING from the package: ${need}`); missing++; }
    }
    for (const entry of pkg.files ?? []) {
      if (entry.startsWith("!")) continue;
      const e = entry.replace(/\/$/, "");
      if (![...files].some((f) => f === e || f.startsWith(e + "/"))) {
        console.log(`    WARNING: package.json "files" lists "${entry}" but the package has no such file (it does not exist in the repository)`);
      }
    }
    console.log(`    package check (npm pack --dry-run, not an image step): ${pack.entryCount} files`);
    process.exit(missing ? 1 : 0);
  });
' "$BUILD" || die "the package (npm pack) lacks files the runtime needs"

# ---- 2. deps stage -------------------------------------------------------------------------------
step "deps stage: package.json + package-lock.json → $DEPS_RUN"
mkdir -p "$DEPS"
cp "$ROOT/package.json" "$ROOT/package-lock.json" "$DEPS/"
(cd "$DEPS" && npm_config_loglevel=error sh -c "$DEPS_RUN") || die "the deps stage failed: $DEPS_RUN (is package-lock.json in sync with package.json?)"
for dev in typescript vitest tsx eslint; do
  [[ ! -e "$DEPS/node_modules/$dev" ]] || die "dev dependency '$dev' was installed by the deps stage"
done
for dep in ws @noble/ed25519 @noble/hashes @scure/base fastify; do
  [[ -d "$DEPS/node_modules/$dep" ]] || die "runtime dependency '$dep' is missing after the deps stage"
done
info "production node_modules: $(du -sh "$DEPS/node_modules" | cut -f1), no dev dependencies"

# ---- 3. runtime stage ----------------------------------------------------------------------------
step "runtime stage: ${RUNTIME_COPY[*]} from the context, ${#RUNTIME_FROM[@]} copies from earlier stages, no install"
mkdir -p "$APP"
for f in "${RUNTIME_COPY[@]}"; do cp -R "$ROOT/$f" "$APP/"; done
for c in "${RUNTIME_FROM[@]}"; do
  read -r from src dest <<<"$c"
  case $from in
    build) dir=$BUILD ;;
    deps) dir=$DEPS ;;
    *) die "COPY --from=$from: unknown stage" ;;
  esac
  [[ -e "$dir/$src" ]] || die "COPY --from=$from $src: the $from stage has no $src"
  cp -R "$dir/$src" "$APP/$dest"
  info "COPY --from=$from $src → $dest"
done
[[ ! -e "$APP/node_modules/.bin/npm" && ! -d "$APP/node_modules/npm" ]] || die "the runtime's node_modules holds npm"
# The handshake check runs from inside the runtime tree so its bare imports resolve from node_modules there.
cp "$ROOT/scripts/verify-gateway.mjs" "$APP/verify-gateway.mjs"
# The runtime's PATH: node, and traps where npm, npx, corepack, yarn and pnpm would be (the image has none).
mkdir -p "$WORK/bin"
ln -s "$NODE_BIN" "$WORK/bin/node"
for pm in npm npx corepack yarn yarnpkg pnpm; do
  printf '#!/bin/sh\necho "PACKAGE-MANAGER-CALLED: %s $*" >&2\nexit 127\n' "$pm" >"$WORK/bin/$pm"
  chmod 755 "$WORK/bin/$pm"
done

# ---- 4. run as in the image ----------------------------------------------------------------------
step "run: the image's ENTRYPOINT + CMD with the runtime stage's environment"
PORT=$(node -e 'const s=require("net").createServer();s.listen(0,"0.0.0.0",()=>{console.log(s.address().port);s.close()})')
[[ $PORT =~ ^[0-9]+$ ]] || die "could not pick a free port"
RUN_AS=()
RUN_USER=$(id -un)
if [[ $(id -u) -eq 0 ]]; then
  id "$RUN_AS_USER" >/dev/null 2>&1 || die "user '$RUN_AS_USER' does not exist (set RUN_AS_USER)"
  if command -v setpriv >/dev/null; then
    # setpriv execs the init (or node) in place: $! is its pid, so SIGTERM and the exit status are its own.
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
# The image's command line: ENTRYPOINT (the init) + CMD, as written in docker/Dockerfile, with the
# parts this host lacks left out. Here, as in the image, jemalloc is preloaded into node only, after
# setpriv (jemalloc's background thread in a process that switches user aborts it).
INIT=()
if [[ ${#ENTRYPOINT[@]} -gt 0 ]]; then
  if [[ -x ${ENTRYPOINT[0]} ]] || command -v "${ENTRYPOINT[0]##*/}" >/dev/null; then
    [[ -x ${ENTRYPOINT[0]} ]] || ENTRYPOINT[0]=$(command -v "${ENTRYPOINT[0]##*/}")
    INIT=("${ENTRYPOINT[@]}")
    info "init: ${INIT[*]} (ENTRYPOINT), as in the image"
  else
    warn "${ENTRYPOINT[0]##*/} is not installed here: running without the image's init, so its signal forwarding is not checked (apt-get install ${ENTRYPOINT[0]##*/})"
  fi
fi
COMMAND=()
for arg in "${CMD[@]}"; do
  if [[ $arg == LD_PRELOAD=*jemalloc* || $arg == MALLOC_CONF=* ]] && ! ldconfig -p 2>/dev/null | grep -q 'libjemalloc\.so\.2 '; then
    [[ $arg == MALLOC_CONF=* ]] || warn "libjemalloc2 is not installed here: running on glibc malloc, unlike the image (apt-get install libjemalloc2)"
    continue
  fi
  COMMAND+=("$arg")
done
[[ " ${COMMAND[*]} " != *" LD_PRELOAD=libjemalloc"* ]] || info "malloc: jemalloc (LD_PRELOAD=libjemalloc.so.2), as in the image"
info "command: ${INIT[*]}${INIT[*]:+ }${COMMAND[*]}"

(
  cd "$APP"
  # PATH: node, then the package-manager traps, then the system's (env, and the init's own path).
  exec env -i PATH="$WORK/bin:/usr/local/bin:/usr/bin:/bin" HOME=/nonexistent "${RUNTIME_ENV[@]}" GATEWAY_PORT="$PORT" \
    ${RUN_AS[@]+"${RUN_AS[@]}"} ${INIT[@]+"${INIT[@]}"} "${COMMAND[@]}"
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
NODE_PID=$SERVER_PID
if [[ ${#INIT[@]} -gt 0 ]]; then
  NODE_PID=$(ps -o pid= --ppid "$SERVER_PID" | tr -d ' ' | head -n 1)
  [[ -n $NODE_PID ]] || die "the init (pid $SERVER_PID) has no child process"
  [[ $(ps -o comm= -p "$NODE_PID") == node* ]] || die "the init's child is $(ps -o comm= -p "$NODE_PID"), not node"
  info "init pid $SERVER_PID runs node as pid $NODE_PID"
fi
for pid in $SERVER_PID $NODE_PID; do
  actual_user=$(ps -o user= -p "$pid" | tr -d ' ')
  [[ $actual_user == "$RUN_USER" ]] || die "pid $pid ($(ps -o comm= -p "$pid")) runs as '$actual_user', expected '$RUN_USER'"
done
grep -q '"url":"ws://0.0.0.0:' "$SERVER_OUT" || warn "no 'gateway ready' log line with ws://0.0.0.0 (GATEWAY_HOST not applied?)"
info "node runs as $actual_user, listening on 0.0.0.0:$PORT"

# ---- 5. real handshake ---------------------------------------------------------------------------
step "check: scripts/verify-gateway.mjs --hold against ws://127.0.0.1:$PORT/ws (from the runtime tree)"
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

# ---- 6. graceful shutdown ------------------------------------------------------------------------
if [[ ${#INIT[@]} -gt 0 ]]; then target="the init (pid $SERVER_PID), as docker stop sends it"; else target="node (pid $SERVER_PID)"; fi
step "shutdown: SIGTERM to $target, with two agents connected"
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
! kill -0 "$NODE_PID" 2>/dev/null || die "node (pid $NODE_PID) is still running after its init exited"
info "exited with status 0 after ${elapsed} ms${INIT[0]:+ (the init forwarded SIGTERM to node and passed on its status)}"

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
if grep -q 'PACKAGE-MANAGER-CALLED' "$SERVER_ERR"; then
  grep 'PACKAGE-MANAGER-CALLED' "$SERVER_ERR" | head -n 3 >&2
  die "the runtime called a package manager, which the image does not have"
fi
if [[ -s $SERVER_ERR ]]; then
  warn "the gateway (or its init) wrote to stderr:"
  head -n 3 "$SERVER_ERR" | sed 's/^/      /'
fi
info "logs: 'shutting down' (SIGTERM) and 'shutdown complete', nothing at error/fatal level"

printf '\nverify-image-steps: PASS (build stage → deps stage (npm ci --omit=dev) → runtime layout, no npm → %s as %s → health → handshake → SIGTERM exit 0 in %s ms)\n' "${INIT[0]:+${INIT[0]##*/} + }node" "$RUN_USER" "$elapsed"
