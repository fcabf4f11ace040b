# The two entry points the README promises; both work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint setup bench system-deps

$(BIN)/agentq: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,bench]"
	touch $@

setup: $(BIN)/agentq

system-deps:
	bash scripts/system-deps.sh

run: system-deps setup
	$(BIN)/agentq

lint: setup
	$(BIN)/ruff check desktop tests
	$(BIN)/mypy
	$(BIN)/lint-imports

test: system-deps setup lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest --durations=15

bench: setup
	$(BIN)/python benchmarks/engine.py
	$(BIN)/python benchmarks/end_to_end.py
	$(BIN)/python benchmarks/api.py
