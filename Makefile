# banjian: `make up` starts everything with demo data; `make test` runs every test.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?= data
PORT ?= 8000
TEMPORAL_PORT ?= 7233
# test processes (pytest-xdist; each test file stays in one process: files share fixtures and port ranges)
TEST_WORKERS ?= 2

.PHONY: up test lint bench clean conformance graphviz browser fuzz

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

# Graphviz `dot` draws the item flow diagrams (GET /api/items/{code}/diagram)
graphviz:
	command -v dot >/dev/null || (apt-get update && apt-get install -y graphviz)

up: $(STAMP) graphviz
	$(BIN)/banjian up --demo --data-dir $(DATA) --port $(PORT) --temporal-port $(TEMPORAL_PORT)

test: $(STAMP) graphviz browser
	bash scripts/ensure-postgres.sh
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/ruff check .
	$(BIN)/mypy
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

# the browser tests drive Debian's Chromium (Playwright's own download cannot work offline)
browser:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium fonts-noto-cjk)
	@command -v chromium >/dev/null || { echo "chromium is missing and could not be installed: the browser tests need /usr/bin/chromium (apt-get install -y chromium fonts-noto-cjk)" >&2; exit 1; }
# the schemathesis run of `make test`, with many more examples per route and role
fuzz: $(STAMP)
	BANJIAN_FUZZ_EXAMPLES=$${BANJIAN_FUZZ_EXAMPLES:-300} PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/pytest -q tests/test_fuzz.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python bench/suite.py --pairs 3 $(BENCH_ARGS)

conformance: $(STAMP)
	../shared/conformance/run

clean:
	rm -rf $(VENV) *.egg-info
