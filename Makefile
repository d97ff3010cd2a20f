# Every target installs into .venv first, so a fresh clone needs nothing but python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SIZE ?= 100000

.PHONY: install demo test lint bench bench-engine chaos clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/seqsync demo

lint: $(STAMP)
	$(BIN)/ruff check connector tests bench

test: $(STAMP) lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/bench_scale.py --size $(SIZE)

bench-engine: $(STAMP)
	$(BIN)/python bench/bench_engine.py

chaos: $(STAMP)
	$(BIN)/pytest -m chaos tests/chaos -s

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
