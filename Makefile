# Set-up and everyday tasks. `make run` and `make test` work on a fresh machine.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: venv run test lint bench bench-raw bench-clients bench-create bench-scale bench-settings fuzz reliability \
	clean

# Two installs, two stamps: `run` needs only tidegate's own dependencies; `test` (and lint,
# fuzz, bench, reliability) also the test extras (pytest, mypy, playwright, atheris, ...), so
# `make test` after `make run` still installs them.
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(RUN_STAMP)

# The main job: the TUI on an embedded engine (or the running daemon). `make run ARGS="--demo"`.
run: $(RUN_STAMP)
	$(BIN)/tidegate tui $(ARGS)

test: $(TEST_STAMP)
	$(BIN)/ruff check tidegate engine cli tui tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: $(TEST_STAMP)
	$(BIN)/ruff check tidegate engine cli tui tests bench
	$(BIN)/mypy

# Long fuzzing runs (docs/RELIABILITY.md): 200,000 hypothesis inputs per target and five
# minutes of atheris per target, its corpus kept in .fuzz-corpus/ between runs. Override
# with FUZZ_EXAMPLES=... FUZZ_SECONDS=...
FUZZ_EXAMPLES ?= 200000
FUZZ_SECONDS ?= 300
fuzz: $(TEST_STAMP)
	TIDEGATE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) TIDEGATE_ATHERIS_SECONDS=$(FUZZ_SECONDS) \
	TIDEGATE_FUZZ_CORPUS=$(CURDIR)/.fuzz-corpus \
	$(BIN)/python -m pytest -q -s -m fuzz -p no:cacheprovider tests/reliability

# Benchmarks (never run in CI; results and commands in docs/BENCHMARKS.md). Each takes
# minutes and wants an otherwise idle machine.
# Everything in one table: downloads vs raw libtorrent / aria2 / transmission / qBittorrent,
# seeds, recheck, creation, beside the machine's limits (~10 min; ARGS=--quick ~2 min).
# Exits 3 when a program is missing (its rows say so).
bench: $(TEST_STAMP)
	$(BIN)/python bench/suite.py $(ARGS)

# tidegate download vs raw libtorrent per disk I/O backend (the first bench)
bench-raw: $(TEST_STAMP)
	$(BIN)/python bench/download_vs_raw.py

# tidegate vs raw libtorrent vs transmission-cli vs aria2c; 1 GiB and 2,000 x 64 KiB (~12 min)
bench-clients: $(TEST_STAMP)
	$(BIN)/python bench/download_vs_clients.py --payload both --rounds 4

# tidegate create vs mktorrent vs transmission-create, and hashlib's speed (~2 min)
bench-create: $(TEST_STAMP)
	$(BIN)/python bench/create_vs_tools.py --rounds 3

# tidegate daemon vs transmission-daemon with 100, 1,000 and 10,000 seeds
bench-scale: $(TEST_STAMP)
	$(BIN)/python bench/session_scale.py

# libtorrent settings that matter on loopback (raw libtorrent on both sides, ~8 min)
bench-settings: $(TEST_STAMP)
	$(BIN)/python bench/settings_study.py --payload big
	$(BIN)/python bench/settings_study.py --payload small
	$(BIN)/python bench/settings_study.py --payload big --size 256M --arms tcp,utp,utp-4m
# The long reliability runs (docs/RELIABILITY.md): `make reliability KILLS=500 SEED=123`.
# Mounts tmpfs folders, so the disk tests need root (skipped otherwise).
reliability: $(TEST_STAMP)
	TIDEGATE_CRASH_KILLS=$(or $(KILLS),200) TIDEGATE_CRASH_SEED=$(SEED) \
	TIDEGATE_TOR_KILLS=$(or $(TOR_KILLS),50) TIDEGATE_TOR_EARLY_KILLS=$(or $(TOR_EARLY),10) \
	$(BIN)/python -m pytest -q -s -p no:logging tests/reliability

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
