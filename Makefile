# banjian: `make up` starts everything with demo data; `make test` runs every test.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?= data
PORT ?= 8000
TEMPORAL_PORT ?= 7233

.PHONY: up test lint bench clean conformance

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

up: $(STAMP)
	$(BIN)/banjian up --demo --data-dir $(DATA) --port $(PORT) --temporal-port $(TEMPORAL_PORT)

test: $(STAMP)
	bash scripts/ensure-postgres.sh
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/ruff check .
	$(BIN)/mypy
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python bench/suite.py $(BENCH_ARGS)

conformance: $(STAMP)
	../shared/conformance/run

clean:
	rm -rf $(VENV) *.egg-info
