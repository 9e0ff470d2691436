# Two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE := logs/support-desk.csv
RULES := models/support-desk.rules.toml
OUT := out

.PHONY: demo test lint unit dot install clean bench

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "auditor needs Python 3.11 or newer: set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)

# Reinstall when the dependency list changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) dot

# The graphviz `dot` binary renders the process maps; pip cannot install it.
dot:
	@if command -v dot >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing graphviz (dot) with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; \
	else \
		echo "auditor needs the graphviz 'dot' binary: run 'sudo apt-get install graphviz' (Debian/Ubuntu), 'brew install graphviz' (macOS) or see https://graphviz.org/download/"; \
		exit 1; \
	fi

# The main job on the bundled log: validate it, audit it, and draw the process map annotated with the findings.
demo: install
	$(BIN)/auditor ingest $(SAMPLE) -o $(OUT)/support-desk.parquet
	$(BIN)/auditor stats $(OUT)/support-desk.parquet --top 5
	$(BIN)/auditor audit $(OUT)/support-desk.parquet --rules $(RULES) --format json -o $(OUT)/findings.json
	$(BIN)/auditor audit $(OUT)/support-desk.parquet --rules $(RULES) -q
	$(BIN)/auditor graph $(OUT)/support-desk.parquet --findings $(OUT)/findings.json -o $(OUT)/map.svg
	@echo "demo: findings in $(OUT)/findings.json, the annotated map in $(OUT)/map.svg"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q

test: lint unit

bench: install
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(OUT) .pytest_cache .mypy_cache .ruff_cache
