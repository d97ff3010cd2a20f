# Every target installs into .venv first, so a fresh clone needs nothing but python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SIZE ?= 100000
SIZES ?= 400000,1000000
WORKERS ?= 1,2,4

.PHONY: install demo test lint bench bench-engine bench-workers chaos clean

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

# Both backends; PostgreSQL planned by 1 and then 2 workers at once.
bench-engine: $(STAMP)
	$(BIN)/python bench/bench_engine.py --backend both --workers 1,2

# N leads on PostgreSQL, planned and pushed by 1, 2 and 4 workers against the mock.
bench-workers: $(STAMP)
	$(BIN)/python bench/bench_workers.py --sizes $(SIZES) --workers $(WORKERS)

chaos: $(STAMP)
	$(BIN)/pytest -m chaos tests/chaos -s

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
