# Every target installs into .venv first, so a fresh clone needs nothing but python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SIZE ?= 100000

.PHONY: install demo test lint browser bench bench-engine chaos clean

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

# The web console's browser tests drive Debian's Chromium through Playwright (Playwright's own
# browser downloads are not used).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

browser:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

test: $(STAMP) lint browser
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/bench_scale.py --size $(SIZE)

bench-engine: $(STAMP)
	$(BIN)/python bench/bench_engine.py

chaos: $(STAMP)
	$(BIN)/pytest -m chaos tests/chaos -s

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
