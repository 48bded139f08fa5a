# AIConexus Gateway — developer and operator targets. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

.PHONY: help install build start dev test test-unit test-integration lint typecheck clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

install: node_modules ## Install dependencies (npm ci)

build: node_modules ## Compile TypeScript to dist/
	npm run build

start: node_modules ## Build and start the gateway on ws://127.0.0.1:8000/ws
	npm start

dev: node_modules ## Start with tsx in watch mode
	npm run dev

test: node_modules ## Install and run the whole test suite
	npm test

test-unit: node_modules ## Unit tests only
	npm run test:unit

test-integration: node_modules ## Integration tests (real gateways on port 0, real ws clients)
	npm run test:integration

lint: node_modules ## ESLint (typescript-eslint flat config)
	npm run lint

typecheck: node_modules ## tsc --noEmit over src, test, bench, scripts
	npm run typecheck

clean: ## Remove build output
	rm -rf dist coverage
