#!/usr/bin/env bash
# Build and run the gateway image with plain docker (see docker/Dockerfile).
#
#   scripts/gateway-docker.sh build | start | stop | restart | logs [-f] | status
#
# Env (all optional):
#   GATEWAY_IMAGE      image tag                       (aiconexus-gateway:local); `build` also tags
#                      <name>:<package.json version>, the tag deploy/k8s/deployment.yaml uses
#   GATEWAY_NODE_IMAGE base image for `build`          (the Dockerfile's default, node:22-bookworm-slim;
#                      release builds pin it: node:22-bookworm-slim@sha256:…, see docs/operations.md)
#   GATEWAY_CONTAINER  container name                  (aiconexus-gateway)
#   GATEWAY_PUBLISH    host side of the port mapping   (127.0.0.1:8000; 0.0.0.0:8000 for other hosts)
#   GATEWAY_ENV_FILE   settings passed to the gateway  (<repo>/.env.gateway, used when it exists)
#   GATEWAY_LOG_TAIL   lines shown by `logs`           (200)
# Exit status: 0 ok · 1 error (Docker missing or unreachable, build/run failure, port in use) ·
# 3 container not running (status) · 2 usage. Through make every failure is make's exit status 2;
# the script's own code is in make's "Error N" line (Makefile, gateway-status).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGE=${GATEWAY_IMAGE:-aiconexus-gateway:local}
NODE_IMAGE=${GATEWAY_NODE_IMAGE:-}
CONTAINER=${GATEWAY_CONTAINER:-aiconexus-gateway}
PUBLISH=${GATEWAY_PUBLISH:-127.0.0.1:8000}
ENV_FILE=${GATEWAY_ENV_FILE:-$ROOT/.env.gateway}
LOG_TAIL=${GATEWAY_LOG_TAIL:-200}
# Longer than the gateway's own 10 s shutdown bound, so docker never has to SIGKILL it.
STOP_TIMEOUT=15
HEALTH_WAIT_S=30

me=$(basename "$0")
usage() {
  cat >&2 <<EOF
usage: $me build | start | stop | restart | logs [-f] | status
  build    build $IMAGE (and <name>:<version>) from docker/Dockerfile (context: the repository root)
  start    run container $CONTAINER from $IMAGE on $PUBLISH and wait until it is healthy
  stop     stop (SIGTERM, graceful drain) and remove the container; the image stays
  restart  stop, then start (picks up a rebuilt image and a changed env file)
  logs     show the last $LOG_TAIL log lines; -f to follow
  status   container state, health and address (exit 3 when not running)
EOF
  exit "${1:-2}"
}
die() {
  printf '%s: %s\n' "$me" "$*" >&2
  exit 1
}

require_docker() {
  command -v docker >/dev/null 2>&1 ||
    die "Docker is not installed (no 'docker' command on PATH). Install Docker Engine or Docker Desktop, or run the gateway without Docker: make start"
  local err
  if ! err=$(docker info 2>&1 >/dev/null); then
    err=$(printf '%s\n' "$err" | grep -v '^[[:space:]]*$' | tail -n 1)
    die "the Docker daemon is not reachable ('docker info' failed${err:+: $err}). Start Docker, or check DOCKER_HOST / DOCKER_CONTEXT and your permission on the Docker socket."
  fi
}

container_exists() { docker container inspect "$CONTAINER" >/dev/null 2>&1; }
container_state() { docker container inspect -f '{{.State.Status}}' "$CONTAINER" 2>/dev/null; }
container_health() { docker container inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$CONTAINER" 2>/dev/null; }
no_container() {
  printf '%s: container %s does not exist (not started, or stopped and removed). Start it: make gateway-start\n' "$me" "$CONTAINER" >&2
}

# The image name without its tag (registry host:port kept): aiconexus-gateway:local → aiconexus-gateway.
image_name() {
  local ref=${1%%@*}
  if [[ ${ref##*/} == *:* ]]; then ref=${ref%:*}; fi
  printf '%s' "$ref"
}

cmd_build() {
  local version revision names base="the Dockerfile's default (unpinned)" tags=() base_args=() name
  version=$(node -p 'require(process.argv[1]).version' "$ROOT/package.json" 2>/dev/null || echo unknown)
  revision=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)
  names=("$IMAGE")
  # The version tag too (aiconexus-gateway:0.1.0 by default): the one deploy/k8s/deployment.yaml names.
  if [[ $version != unknown && $(image_name "$IMAGE"):$version != "$IMAGE" ]]; then
    names+=("$(image_name "$IMAGE"):$version")
  fi
  for name in "${names[@]}"; do tags+=(-t "$name"); done
  if [[ -n $NODE_IMAGE ]]; then
    base_args=(--build-arg NODE_IMAGE="$NODE_IMAGE")
    base=$NODE_IMAGE
  fi
  echo "building ${names[*]} (version $version, revision ${revision:0:12}, base $base)"
  docker build -f "$ROOT/docker/Dockerfile" "${tags[@]}" ${base_args[@]+"${base_args[@]}"} \
    --build-arg VERSION="$version" --build-arg REVISION="$revision" "$ROOT"
}

cmd_start() {
  if container_exists; then
    if [[ $(container_state) == running ]]; then
      echo "container $CONTAINER is already running (make gateway-restart to recreate it)"
      return 0
    fi
    # A leftover stopped container: recreate it so the current image and env file are used.
    docker rm "$CONTAINER" >/dev/null
  fi
  docker image inspect "$IMAGE" >/dev/null 2>&1 || die "image $IMAGE not found: build it first (make gateway-build)"

  local env_args=()
  if [[ -f $ENV_FILE ]]; then
    env_args=(--env-file "$ENV_FILE")
    echo "settings from $ENV_FILE"
  fi
  # -e after --env-file wins: the container always listens on 0.0.0.0:8000 (EXPOSE, healthcheck).
  # No --init: the image's ENTRYPOINT is an init (tini) already.
  local err
  if ! err=$(docker run -d --name "$CONTAINER" --restart unless-stopped \
    --stop-signal SIGTERM --stop-timeout "$STOP_TIMEOUT" \
    --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
    ${env_args[@]+"${env_args[@]}"} -e GATEWAY_HOST=0.0.0.0 -e GATEWAY_PORT=8000 \
    -p "$PUBLISH:8000" "$IMAGE" 2>&1 >/dev/null); then
    # docker run creates the container before it binds the port: a failed start leaves it behind
    # ("Created"), and the next start would trip over it. Remove it.
    [[ $(container_state) != created ]] || docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
    if grep -qiE 'port is already allocated|address already in use|bind: ' <<<"$err"; then
      local host=127.0.0.1 other=8080
      [[ $PUBLISH != *:* ]] || host=${PUBLISH%:*}
      [[ ${PUBLISH##*:} != 8080 ]] || other=8081
      die "cannot publish the gateway on $PUBLISH: that port is in use on this host (another container or process). Free it, or choose another host port with GATEWAY_PUBLISH, e.g. GATEWAY_PUBLISH=$host:$other make gateway-start"
    fi
    err=$(printf '%s\n' "$err" | grep -v '^[[:space:]]*$' | tail -n 1)
    die "docker run failed: ${err:-no message} (the container was removed)"
  fi
  echo "started $CONTAINER ($IMAGE) on $PUBLISH; waiting for it to be healthy…"

  local health i url=$PUBLISH
  [[ $url == *:* ]] || url="127.0.0.1:$url"
  url=${url/#0.0.0.0:/127.0.0.1:}
  for ((i = 0; i < HEALTH_WAIT_S * 2; i++)); do
    [[ $(container_state) == running ]] || {
      docker logs --tail 20 "$CONTAINER" >&2 || true
      die "container $CONTAINER stopped during start-up (logs above; status: $me status)"
    }
    health=$(container_health)
    if [[ $health == healthy || $health == none ]]; then
      echo "healthy: ws://$url/ws  (http://$url/health)"
      return 0
    fi
    sleep 0.5
  done
  die "container $CONTAINER not healthy after ${HEALTH_WAIT_S} s (health: $health); see: $me logs"
}

cmd_stop() {
  if ! container_exists; then
    echo "container $CONTAINER does not exist: nothing to stop"
    return 0
  fi
  echo "stopping $CONTAINER (SIGTERM, up to ${STOP_TIMEOUT} s)…"
  docker stop -t "$STOP_TIMEOUT" "$CONTAINER" >/dev/null
  local code
  code=$(docker container inspect -f '{{.State.ExitCode}}' "$CONTAINER" 2>/dev/null || echo '?')
  docker rm "$CONTAINER" >/dev/null
  echo "stopped and removed $CONTAINER (exit code $code)"
}

cmd_logs() {
  local follow=()
  [[ -z ${1:-} ]] || follow=(--follow)
  container_exists || {
    no_container
    exit 1
  }
  docker logs --tail "$LOG_TAIL" ${follow[@]+"${follow[@]}"} "$CONTAINER"
}

cmd_status() {
  if ! container_exists; then
    no_container
    exit 3
  fi
  local state
  state=$(container_state)
  docker container inspect -f 'container {{.Name}}: {{.State.Status}}{{if .State.Health}} ({{.State.Health.Status}}){{end}}, image {{.Config.Image}}, started {{.State.StartedAt}}, restarts {{.RestartCount}}' "$CONTAINER" | sed 's#^container /#container #'
  docker port "$CONTAINER" 8000/tcp 2>/dev/null | sed 's#^#published on #' || true
  [[ $state == running ]] || exit 3
}

[[ $# -ge 1 ]] || usage
action=$1
shift
case "$action" in
  build | start | stop | restart | logs | status) ;;
  -h | --help | help) usage 0 ;;
  *) usage ;;
esac
case "$action $*" in
  "$action " | "logs -f" | "logs --follow") ;;
  *) usage ;;
esac

require_docker
case "$action" in
  build) cmd_build ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart)
    cmd_stop
    cmd_start
    ;;
  logs) cmd_logs "$@" ;;
  status) cmd_status ;;
esac
