# AIConexus Gateway — developer and operator targets. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules


.PHONY: help install build start dev test redis-server chromium coturn nftables python test-python test-unit test-integration lint typecheck clean bench \
	gateway-build gateway-start gateway-stop gateway-restart gateway-status gateway-logs gateway-verify gateway-test

# Target of `make gateway-verify` (a running gateway's WebSocket URL).
GATEWAY_URL ?= ws://127.0.0.1:8000/ws

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

install: node_modules ## Install dependencies (npm ci)

build: node_modules ## Compile TypeScript to dist/
	npm run build

start: node_modules ## Build and start the gateway on ws://127.0.0.1:8000/ws
	npm start

dev: node_modules ## Start with tsx in watch mode
	npm run dev

test: node_modules redis-server chromium coturn nftables python ## Install and run the whole test suite: vitest, then the Python client's pytest suite (installs redis-server, chromium, coturn, nftables and python3-* packages if missing)
	npm test
	/usr/bin/python3 -m pytest clients/python/tests -q

nftables: ## Install nftables and iproute2 if missing (the NAT test builds network namespaces with NAT routers)
	@bash scripts/ensure-nftables.sh

python: ## Install Debian's python3-* packages of the Python client (clients/python) if missing
	@bash scripts/ensure-python.sh

test-python: node_modules python ## Python client tests (real gateways, a TypeScript SDK agent, aiortc <-> werift)
	/usr/bin/python3 -m pytest clients/python/tests -q

redis-server: ## Install redis-server if missing (cluster tests start their own instances)
	@bash scripts/ensure-redis.sh

chromium: ## Install chromium if missing (the browser WebRTC test drives it)
	@bash scripts/ensure-chromium.sh

coturn: ## Install coturn if missing (the TURN test checks the gateway's credentials with a real turnserver)
	@bash scripts/ensure-coturn.sh

test-unit: node_modules ## Unit tests only
	npm run test:unit

test-integration: node_modules redis-server ## Integration tests (real gateways on port 0, real ws clients, real redis-server)
	npm run test:integration

lint: node_modules ## ESLint (typescript-eslint flat config)
	npm run lint

typecheck: node_modules ## tsc --noEmit over src, test, bench, scripts
	npm run typecheck

clean: ## Remove build output
	rm -rf dist coverage

bench: node_modules ## Load benchmark (npm run bench)
	npm run bench

# ---- Docker and operations (docker/, scripts/, deploy/) --------------------------------------------

gateway-build: ## Build the Docker image as GATEWAY_IMAGE (aiconexus-gateway:local) and aiconexus-gateway:<version> (deploy/k8s)
	@bash scripts/gateway-docker.sh build

gateway-start: ## Run the image as container GATEWAY_CONTAINER on GATEWAY_PUBLISH (127.0.0.1:8000)
	@bash scripts/gateway-docker.sh start

gateway-stop: ## Stop (graceful SIGTERM drain) and remove the container
	@bash scripts/gateway-docker.sh stop

gateway-restart: ## Stop, then start the container (picks up a rebuilt image)
	@bash scripts/gateway-docker.sh restart

# make exits 2 whenever a recipe fails, so the script's own code (3 = not running, 1 = Docker
# problem) cannot be make's: it is printed, and `scripts/gateway-docker.sh status; echo $?` gives it.
gateway-status: ## Container state and health (make exits 0 when running, 2 otherwise; the script's code is printed)
	@bash scripts/gateway-docker.sh status || { rc=$$?; \
	  if [ $$rc -eq 3 ]; then what='the container is not running'; else what='Docker or the script failed'; fi; \
	  echo "gateway-status: scripts/gateway-docker.sh status exited $$rc ($$what); make exits 2 on any failure" >&2; exit $$rc; }

gateway-logs: ## Container logs (FOLLOW=1 to follow)
	@bash scripts/gateway-docker.sh logs $(if $(FOLLOW),-f)

gateway-verify: node_modules ## Handshake + signed OFFER + DISCOVER against a running gateway (GATEWAY_URL)
	node scripts/verify-gateway.mjs "$(GATEWAY_URL)"

gateway-test: node_modules ## Image steps without Docker: Dockerfile checks, build, deps (npm ci --omit=dev), run under tini unprivileged, verify, SIGTERM
	@bash scripts/ensure-image-tools.sh
	bash scripts/verify-image-steps.sh
