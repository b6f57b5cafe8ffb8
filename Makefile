# The two commands: `make run` (embedded default) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make run PORT=9000 HOST=0.0.0.0`; unset, serve takes MEDIAGATE_HOST/PORT, else 127.0.0.1:8080.
HOST ?=
PORT ?=

.PHONY: install install-run install-bench lock run test test-system unit lint fmt clean browser bench bench-deps \
	fuzz fuzz-api node-deps promtool bench-synapse bench-peers python-oldest

# Every Python package comes from a lock file (requirements/*.txt, exact versions,
# written by `make lock`): run.txt is what the server needs, dev.txt adds the test
# tools, bench.txt the benchmark's. uv installs them (pip took a minute for run.txt
# alone on this 2-core machine, uv a few seconds), itself installed by pip at the
# version dev.txt pins. --no-deps: nothing outside the lock arrives. mediagate
# itself is installed editable on top. A stamp per lock (`make install`'s is
# .installed): each runs again only when its lock or pyproject.toml changes.
UV_PIN = $(shell grep -m1 '^uv==' requirements/dev.txt | cut -d' ' -f1)
UV_INSTALL = $(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps
define install_lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet $(UV_PIN)
	$(UV_INSTALL) -r requirements/$(1).txt
	$(UV_INSTALL) -e .
	touch $@
endef

install: $(VENV)/.installed
install-run: $(VENV)/.installed-run
install-bench: $(VENV)/.installed-bench

$(VENV)/.installed-run: pyproject.toml requirements/run.txt
	$(call install_lock,run)

$(VENV)/.installed: pyproject.toml requirements/dev.txt
	$(call install_lock,dev)

$(VENV)/.installed-bench: pyproject.toml requirements/bench.txt
	$(call install_lock,bench)

# Refresh the lock files after a change to pyproject.toml's dependencies: versions
# already pinned stay where they are. `make lock UPGRADE=1` moves every package to
# the newest release pyproject.toml allows. Commit requirements/*.txt with the change.
# bench.txt (everything) is resolved first; the smaller sets are its subsets, so one
# package has one version in all three.
LOCK := $(BIN)/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 --annotation-style line \
	--custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade)
lock: $(VENV)/.installed
	$(LOCK) --extra dev --extra bench -o requirements/bench.txt
	$(LOCK) --extra dev -c requirements/bench.txt -o requirements/dev.txt
	$(LOCK) -c requirements/bench.txt -o requirements/run.txt
	$(LOCK:pyproject.toml=bench/synapse.in) -o bench/synapse-requirements.txt

run: install-run
	$(BIN)/mediagate serve --quickstart $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# twilio-node for tests/e2e/test_node_client.py, pinned by tests/node/package-lock.json, and
# twilio-node + Vitest for examples/node-testing (tests/examples/test_node_testing.py), pinned by its lock.
node-deps: tests/node/node_modules/.installed examples/node-testing/node_modules/.installed

tests/node/node_modules/.installed: tests/node/package.json tests/node/package-lock.json
	command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq nodejs npm)
	cd tests/node && npm ci --no-audit --no-fund --loglevel=error
	touch $@

examples/node-testing/node_modules/.installed: examples/node-testing/package.json examples/node-testing/package-lock.json
	command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq nodejs npm)
	cd examples/node-testing && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The oldest twilio-python the README supports, in a venv of its own from tests/python-oldest/requirements.txt
# (exact versions, --no-deps as above), for tests/e2e/test_first_hour.py's README snippets.
python-oldest: tests/python-oldest/.venv/.installed

tests/python-oldest/.venv/.installed: tests/python-oldest/requirements.txt $(VENV)/.installed
	$(BIN)/uv venv --quiet --clear --python $(BIN)/python tests/python-oldest/.venv
	$(BIN)/uv pip install --quiet --python tests/python-oldest/.venv/bin/python --no-deps \
		-r tests/python-oldest/requirements.txt
	touch $@

# The console tests drive Debian's chromium through Playwright; nothing downloads a browser.
browser:
	test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)

# Prometheus's rule tester, for the alert rule in docs/operations.md (tests/observability/test_alert_rules.py).
promtool:
	command -v promtool >/dev/null || (apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus)

# The tiers (README "Tests"): unit, in-process, end-to-end and the system tests that
# finish in seconds run in `make test`; the long system tests (pytest marker `system`:
# crash and restart, several processes, stalls, disk full, the bench smoke) in
# `make test-system`. Both measure line+branch coverage of src/ (servers and CLI
# subprocesses included, pyproject.toml [tool.coverage]) and print it per package:
# `make test` its own, `make test-system` both tiers together when run after it.
# --dist loadfile: a file stays on one worker (its module fixtures are made once);
# no file is long enough to be a pole on its own.
COVERAGE_DIR := $(CURDIR)/.coverage-data
PYTEST_COVERED = COVERAGE_FILE=$(COVERAGE_DIR)/data $(BIN)/coverage run -m pytest -q -n 2 --dist loadfile
COVERAGE_REPORT = $(BIN)/coverage combine -q --keep --data-file=$(COVERAGE_DIR)/data $(COVERAGE_DIR) && \
	$(BIN)/python -m tests.support.coverage_summary $(COVERAGE_DIR)/data

# install-bench too: the bench smoke test (tests/bench) runs every shape, aiobotocore's included.
test: install install-bench lint bench-deps browser node-deps python-oldest promtool
	rm -rf $(COVERAGE_DIR) && mkdir -p $(COVERAGE_DIR)
	status=0; $(PYTEST_COVERED) -m "not system" --durations=30 || status=$$?; \
		$(COVERAGE_REPORT); exit $$status

test-system: install install-bench bench-deps browser node-deps promtool
	mkdir -p $(COVERAGE_DIR)
	status=0; $(PYTEST_COVERED) -m system --durations=20 || status=$$?; \
		$(COVERAGE_REPORT); exit $$status

unit: install
	$(BIN)/pytest -q -m "not system" tests/unit tests/services tests/storage tests/observability tests/edge \
		tests/serving tests/inprocess

# The property-based fuzz suite (tests/fuzz) with 20,000 examples per property instead of
# the 200 that `make test` runs; HYPOTHESIS_PROFILE picks the profile (tests/fuzz/conftest.py).
fuzz: install
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-fuzz} $(BIN)/pytest -q tests/fuzz

fmt: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) $(SYNAPSE_VENV) .pytest_cache .mypy_cache .ruff_cache

# Benchmark tools from Debian (nginx is the reference server, wrk the load generator).
bench-deps:
	@command -v wrk >/dev/null && (command -v nginx >/dev/null || test -x /usr/sbin/nginx) || \
		(apt-get update -qq && apt-get install -y -qq nginx-light wrk)

# The bench's peer, Synapse (bench/synapse.py), in a virtualenv of its own: nothing else
# needs it, and its dependencies never meet mediagate's. Pinned by bench/synapse-requirements.txt.
SYNAPSE_VENV := bench/.synapse-venv
bench-synapse: $(SYNAPSE_VENV)/.installed

$(SYNAPSE_VENV)/.installed: bench/synapse-requirements.txt $(VENV)/.installed-bench
	test -x $(SYNAPSE_VENV)/bin/python || $(PYTHON) -m venv $(SYNAPSE_VENV)
	$(BIN)/uv pip install --quiet --python $(SYNAPSE_VENV)/bin/python --no-deps -r bench/synapse-requirements.txt
	touch $@

# Only the peer comparison (mediagate's authenticated downloads vs Synapse and nginx, and
# the 307 vs nginx): about six minutes, merged into bench/results/REPORT.md.
bench-peers: install-bench bench-deps bench-synapse
	$(BIN)/python -m bench --only peers

# mediagate next to nginx and Synapse, driven by wrk, then the S3 shapes (SeaweedFS) and the soak
# (BENCH_SOAK_SECONDS per shape, 180 by default); writes bench/results/REPORT.md (~20-25 minutes).
bench: install-bench bench-deps bench-synapse
	$(BIN)/python -m bench
	$(BIN)/python -m bench.profile_hot redirect --out bench/results
	$(BIN)/python -m bench.profile_hot delivery --out bench/results
	$(BIN)/python -m bench.fastpath_micro --out bench/results
	$(BIN)/python -m bench.cpu_cost redirect --backend sqlite --backend postgresql --out bench/results

# The long fuzz run. `make test` runs the same schemathesis test bounded (a few
# hundred cases); this one adds the coverage and stateful phases and many more
# examples per operation. The server and the fuzzer share a network namespace
# with only loopback (needs root: unshare --net), see tests/support/fuzz_netns.py.
FUZZ_API_EXAMPLES ?= 200
fuzz-api: install
	FUZZ_API_EXAMPLES=$(FUZZ_API_EXAMPLES) FUZZ_API_PHASES=examples,coverage,fuzzing,stateful \
		$(BIN)/pytest -q tests/e2e/test_api_fuzz.py -k schemathesis

fuzz: fuzz-api
