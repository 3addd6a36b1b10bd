# hakit: the targets the README names. `make demo` and `make test` are the quick start.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/.venv
RUN := $(UV) run --frozen --no-sync
PYTEST_ARGS ?=

.PHONY: help venv demo test test-fast lint typecheck system-deps bench clean

help:
	@echo "make demo | test | test-fast | lint | system-deps | bench | clean"

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv .tools || { echo "python3-venv is missing: run 'sudo make system-deps' first" >&2; exit 1; }
	.tools/bin/pip install --quiet 'uv>=0.5,<1'

.venv/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --all-extras --quiet
	@touch $@

venv: .venv/.synced

## The main job on the embedded default: render examples/inventory.yaml into ./out (validated when daemons exist).
demo: venv
	$(RUN) hakit render examples/inventory.yaml -o out --validate=auto

## The test suite (unit, render with real daemons, labs, ops). HAKIT_REQUIRE_BINARIES=1 turns skips into failures.
test: venv
	$(RUN) pytest $(PYTEST_ARGS)

test-fast: venv
	$(RUN) pytest -m "not lab and not db and not slow" $(PYTEST_ARGS)

lint: venv
	$(RUN) ruff check infra tests bench scripts examples
	$(RUN) ruff format --check infra tests bench scripts examples
	$(RUN) mypy

## apt packages (run as root): GROUPS=render for rendering/validation only; lab, db; default all (the tests).
GROUPS ?= all
system-deps:
	bash scripts/install-system-deps.sh $(GROUPS)

bench: venv
	$(RUN) python bench/render.py
	$(RUN) python bench/synth.py
	$(RUN) python bench/failover.py

clean:
	rm -rf out .venv .tools .pytest_cache .mypy_cache .ruff_cache
