# Set-up and everyday tasks. `make run` and `make test` work on a fresh machine.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: venv run test lint bench fuzz clean

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

# Long fuzzing runs (docs/RELIABILITY.md): 200,000 hypothesis inputs per target and five
# minutes of atheris per target, its corpus kept in .fuzz-corpus/ between runs. Override
# with FUZZ_EXAMPLES=... FUZZ_SECONDS=...
FUZZ_EXAMPLES ?= 200000
FUZZ_SECONDS ?= 300
fuzz: venv
	TIDEGATE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) TIDEGATE_ATHERIS_SECONDS=$(FUZZ_SECONDS) \
	TIDEGATE_FUZZ_CORPUS=$(CURDIR)/.fuzz-corpus \
	$(BIN)/python -m pytest -q -s -m fuzz -p no:cacheprovider tests/reliability

bench: venv
	$(BIN)/python bench/download_vs_raw.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
