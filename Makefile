# Every target installs into .venv first, so a fresh clone needs nothing but python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SIZE ?= 100000

AIRBYTE_VENV := .cache/airbyte-venv
AIRBYTE_STAMP := $(AIRBYTE_VENV)/.installed
AIRBYTE_REQ := tests/mockserver/airbyte/requirements.txt

.PHONY: install demo test lint bench bench-engine chaos clean airbyte

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

# Airbyte's Dataverse source for the mock's conformance tests: its own virtual environment
# (it pins pydantic 1), built once per machine.
$(AIRBYTE_STAMP): $(AIRBYTE_REQ)
	$(PYTHON) -m venv $(AIRBYTE_VENV)
	$(AIRBYTE_VENV)/bin/pip install --quiet -r $(AIRBYTE_REQ)
	touch $(AIRBYTE_STAMP)

airbyte: $(AIRBYTE_STAMP)

demo: $(STAMP)
	$(BIN)/seqsync demo

lint: $(STAMP)
	$(BIN)/ruff check connector tests bench

test: $(STAMP) $(AIRBYTE_STAMP) lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/bench_scale.py --size $(SIZE)

bench-engine: $(STAMP)
	$(BIN)/python bench/bench_engine.py

chaos: $(STAMP)
	$(BIN)/pytest -m chaos tests/chaos -s

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .cache
