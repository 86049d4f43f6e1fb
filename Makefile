# Hypercare developer entry points. `make` alone lists them.
# The local stack (Kafka, PostgreSQL, Redis) runs without Docker: see deploy/stack/stack.py.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
STACK := $(PYTHON) deploy/stack/stack.py
STACK_DIR ?= $(or $(HYPERCARE_STACK_DIR),.stack)
PYTEST_ARGS ?=

# Where everything started from this Makefile (tests, services) finds the stack; the same defaults as
# deploy/stack/stack.py. Values already in the environment win.
export HYPERCARE_KAFKA_BOOTSTRAP ?= 127.0.0.1:9092
export HYPERCARE_DATABASE_URL ?= postgresql://hypercare:hypercare@127.0.0.1:5432/hypercare
export HYPERCARE_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: help install stack-up stack-down stack-status up down run test lint typecheck fmt bench clean-stack

help: ## List the targets
	@echo "Usage: make <target>"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: ## Install what the project needs: Debian packages, uv, Kafka jars, `uv sync` (idempotent)
	$(STACK) install

stack-up: install ## Start (or reuse) Kafka, PostgreSQL and Redis and create the topics
	$(STACK) up

stack-down: ## Stop what stack-up / up started (by recorded pid; reused servers are left alone)
	$(STACK) down

stack-status: ## Show, for each part of the stack, whether it is ours, reused or down
	$(STACK) status

# `up` runs `uv run honcho start -f Procfile` detached in its own session (output in
# $(STACK_DIR)/logs/services.log, pid in $(STACK_DIR)/pids/services.pid) and waits until every
# service's /healthz answers. If that pid is alive already it says so and only waits.
up: stack-up ## Start the stack and every service (detached), wait for their /healthz
	$(STACK) services-up

# `down` stops honcho's whole process group (honcho forwards SIGTERM to the services), then the stack.
down: ## Stop the services started by `up`, then the stack
	$(STACK) services-down
	$(STACK) down

# `run` (deploy/run/run.py) starts the services under honcho in their own process group, output on this
# terminal, waits for every /healthz, plays `uv run hypercare demo` (extra args: HYPERCARE_DEMO_ARGS) and
# prints its summary; then keeps the services up until Ctrl-C, or stops them at once with
# HYPERCARE_RUN_EXIT=1 or without a terminal. It stops only the honcho it started (by pid); the stack
# keeps running (`make down` stops it).
run: stack-up ## Start the stack and every service, play the one-minute launch-day demo (Ctrl-C stops)
	$(PYTHON) deploy/run/run.py

test: stack-up ## Start the stack, then run the test suite (extra args: PYTEST_ARGS=...)
	uv run pytest $(PYTEST_ARGS)

lint: ## ruff check and ruff format --check
	uv run ruff check .
	uv run ruff format --check .

typecheck: ## mypy (strict) over libs, services and tests
	uv run mypy libs services tests

fmt: ## Format and autofix with ruff
	uv run ruff format . && uv run ruff check --fix .

bench: ## Run the benchmark (python -m bench)
	uv run python -m bench

clean-stack: down ## Stop everything, then delete the stack's data and logs
	rm -rf -- "$(STACK_DIR)"
