# Lumigram developer commands. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Serving needs only the package; the tests, linters and real test servers are dev extras.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
# The Node packages of the masto.js client test and the axe-core page check, at the lockfile's exact versions.
NODE_DIR := tests/clients/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed

.DEFAULT_GOAL := help
.PHONY: help install compile run test lint typecheck unit worker bench clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/pip:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/pip
	$(BIN)/pip install --quiet -e .
	touch $(RUN_STAMP)

$(DEV_STAMP): pyproject.toml | $(BIN)/pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(RUN_STAMP) $(DEV_STAMP)

install: $(DEV_STAMP)  ## Create .venv and install Lumigram with its development tools

$(NODE_STAMP): $(NODE_DIR)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(NODE_DIR) --silent --no-audit --no-fund && touch $(NODE_STAMP); \
	else \
		echo "npm not found: the masto.js client test will be skipped (and fail in CI)"; \
	fi

# Bytecode written ahead for the source tree (only what changed is compiled again): where
# PYTHONDONTWRITEBYTECODE is set, every process would otherwise compile each module it imports.
compile: $(RUN_STAMP)
	@$(BIN)/python -m compileall -q src >/dev/null

run: $(RUN_STAMP) compile  ## Migrate and serve the embedded shape on http://127.0.0.1:8000 (installs only what serving needs)
	$(BIN)/lumigram migrate
	$(BIN)/lumigram serve --no-migrate

worker: $(RUN_STAMP) compile  ## Run a bus consumer process (scaled-out shape)
	$(BIN)/lumigram worker

lint: install  ## ruff (lint and formatting) and the import contracts (lint-imports)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: install  ## mypy --strict on src/
	$(BIN)/mypy

# Two workers, each with its own servers: much of a test's time is spent waiting on them.
# --dist loadgroup: a module marked xdist_group runs on one worker, sharing its live servers.
test: lint typecheck compile $(NODE_STAMP)  ## ruff, import contracts, mypy and the whole pytest suite (both shapes, real servers)
	$(BIN)/pytest -n 2 --dist loadgroup

unit: install  ## Only the fast tests that start no server
	$(BIN)/pytest tests/unit

bench: install  ## Start-up time and idle memory of `lumigram serve`
	$(BIN)/python bench/startup.py

clean:  ## Remove the virtualenv and caches (keeps ./data)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
