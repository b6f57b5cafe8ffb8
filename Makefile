# The two commands: `make run` (embedded default) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: install run test unit fuzz lint fmt clean browser bench bench-deps

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

run: install
	$(BIN)/mediagate serve --quickstart --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# The console tests drive Debian's chromium through Playwright; nothing downloads a browser.
browser:
	test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)

test: install lint bench-deps browser
	$(BIN)/pytest -q -n 2 --dist loadscope

unit: install
	$(BIN)/pytest -q tests/unit

# The property-based fuzz suite (tests/fuzz) with 20,000 examples per property instead of
# the 200 that `make test` runs; HYPOTHESIS_PROFILE picks the profile (tests/fuzz/conftest.py).
fuzz: install
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-fuzz} $(BIN)/pytest -q tests/fuzz

fmt: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Benchmark tools from Debian (nginx is the reference server, wrk the load generator).
bench-deps:
	@command -v wrk >/dev/null && (command -v nginx >/dev/null || test -x /usr/sbin/nginx) || \
		(apt-get update -qq && apt-get install -y -qq nginx-light wrk)

# mediagate next to nginx, driven by wrk; writes bench/results/REPORT.md (~10 minutes).
bench: install bench-deps
	$(BIN)/python -m bench
