# The two commands of the README: `make run` (set up, then check a worker) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# TARGET=https://… checks a real worker; empty checks the built-in reference worker.
TARGET ?=

.PHONY: run test bench lint setup mutate
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: setup
	$(BIN)/synthetics run $(if $(TARGET),--target $(TARGET))

# The tests drive real tools (Chromium, a Pushgateway, strace, wrangler): installed when missing.
test: setup
	bash ci/test-tools.sh
	$(BIN)/pytest

# Benchmarks of the suite's own speed (bench/README.md); needs nginx, wrk and hey from Debian.
bench: setup
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench

lint: setup
	$(BIN)/ruff check src checks tests bench
	$(BIN)/mypy

# Mutation testing of the verdict paths (mutation/config.toml); not part of `make test`.
# MODULE=stats runs one module; ARGS=--print-survivors prints every survivor's diff.
mutate: setup
	$(BIN)/pip install --quiet -e '.[mutate]'
	$(BIN)/python mutation/run.py $(if $(MODULE),$(foreach m,$(MODULE),--module $(m))) $(ARGS)
