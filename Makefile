# Lumigram developer commands. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install run test lint typecheck unit worker bench clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## Create .venv and install Lumigram with its development tools

run: install  ## Migrate and serve the embedded shape on http://127.0.0.1:8000
	$(BIN)/lumigram migrate
	$(BIN)/lumigram serve --no-migrate

worker: install  ## Run a bus consumer process (scaled-out shape)
	$(BIN)/lumigram worker

lint: install  ## ruff
	$(BIN)/ruff check src tests bench

typecheck: install  ## mypy --strict on src/
	$(BIN)/mypy

test: lint typecheck  ## ruff, mypy and the whole pytest suite (both shapes, real servers)
	$(BIN)/pytest

unit: install  ## Only the fast tests that start no server
	$(BIN)/pytest tests/unit

bench: install  ## Start-up time and idle memory of `lumigram serve`
	$(BIN)/python bench/startup.py

clean:  ## Remove the virtualenv and caches (keeps ./data)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
