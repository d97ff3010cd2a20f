# Every target installs into .venv first, so a fresh clone needs nothing but python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SIZE ?= 100000
SIZES ?= 400000,1000000
WORKERS ?= 1,2,4

AIRBYTE_VENV := .cache/airbyte-venv
AIRBYTE_STAMP := $(AIRBYTE_VENV)/.installed
AIRBYTE_REQ := tests/mockserver/airbyte/requirements.txt

.PHONY: install demo test lint browser bench bench-engine bench-workers chaos clean airbyte

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

# The web console's browser tests drive Debian's Chromium through Playwright (Playwright's own
# browser downloads are not used).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

browser:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

test: $(STAMP) $(AIRBYTE_STAMP) lint browser
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
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .cache
