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
## Two phases, each with its summary: TEST_WORKERS pytest-xdist workers (a test module stays on one worker, so
## a module's lab is built once) run everything but the timing drills; then the timing drills (marker
## `serial`) run alone, with no CPU-heavy job beside them to skew their RTO limits. Either failing fails `make test`.
TEST_WORKERS ?= 2
XDIST = -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
test: venv
	@$(RUN) pytest --phase=parallel $(XDIST) $(PYTEST_ARGS); first=$$?; \
	[ $$first -ne 2 ] || exit 2; \
	$(RUN) pytest --phase=serial $(PYTEST_ARGS); second=$$?; \
	echo "make test: parallel phase exit $$first, serial phase exit $$second (5: nothing selected);" \
		"load average $$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"; \
	for rc in $$first $$second; do [ $$rc -eq 0 ] || [ $$rc -eq 5 ] || exit $$rc; done; \
	[ $$first -eq 0 ] || [ $$second -eq 0 ] || exit 5

test-fast: venv
	$(RUN) pytest $(XDIST) -m "not lab and not db and not slow" $(PYTEST_ARGS)

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
