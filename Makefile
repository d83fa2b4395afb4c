# Set-up and everyday tasks. `make run` and `make test` work on a fresh machine.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: venv run test lint bench reliability clean

$(BIN)/tidegate: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(BIN)/tidegate

# The main job: the TUI on an embedded engine (or the running daemon). `make run ARGS="--demo"`.
run: venv
	$(BIN)/tidegate tui $(ARGS)

test: venv
	$(BIN)/ruff check engine cli tui tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check engine cli tui tests bench
	$(BIN)/mypy

bench: venv
	$(BIN)/python bench/download_vs_raw.py

# The long reliability runs (docs/RELIABILITY.md): `make reliability KILLS=500 SEED=123`.
# Mounts tmpfs folders, so the disk tests need root (skipped otherwise).
reliability: venv
	TIDEGATE_CRASH_KILLS=$(or $(KILLS),200) TIDEGATE_CRASH_SEED=$(SEED) \
	TIDEGATE_TOR_KILLS=$(or $(TOR_KILLS),50) TIDEGATE_TOR_EARLY_KILLS=$(or $(TOR_EARLY),10) \
	$(BIN)/python -m pytest -q -s -p no:logging tests/reliability

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
