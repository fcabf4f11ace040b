# The two entry points the README promises; both work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test setup bench

$(BIN)/agentq: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,bench]"
	touch $@

setup: $(BIN)/agentq

run: setup
	$(BIN)/agentq

test: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/engine.py
