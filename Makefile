# Set-up and everyday commands. `make serve` runs the gateway; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PACKAGES := -e '.[test,postgres]' -e plugins/dynatrace -e plugins/sentry -e examples/event-gateway-webhook
SETUP_FILES := setup.cfg pyproject.toml plugins/dynatrace/setup.cfg plugins/sentry/setup.cfg examples/event-gateway-webhook/setup.cfg
TESTS := tests plugins/dynatrace/tests plugins/sentry/tests examples/event-gateway-webhook/tests

.PHONY: install serve worker test test-quick bench bench-postgres screenshots mutation

# Quiet on purpose: setuptools' warnings about editable installs (PYTHONWARNINGS) and pip's progress
# say nothing a user needs; what was installed and where is said in one line at the end.
PIP := PYTHONWARNINGS=ignore $(BIN)/python -m pip --quiet --disable-pip-version-check

$(BIN)/.installed: $(SETUP_FILES)
	@echo "Installing the gateway, its Dynatrace, Sentry and example plugins and the test tools into $(VENV)/ ..."
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) install --upgrade pip
	@$(PIP) install $(PACKAGES)
	@touch $@
	@echo "Installed event-gateway $$($(BIN)/python -c 'from gateway.version import __version__; print(__version__)'). Its command is $(BIN)/event-gateway (or run 'source $(BIN)/activate' first)."

install: $(BIN)/.installed

serve: install
	$(BIN)/event-gateway serve

worker: install
	$(BIN)/event-gateway worker

# Every test on SQLite, then again on PostgreSQL (GATEWAY_TEST_DATABASE_URL, or the local server;
# skipped with a message when there is none, unless CI=true).
test: install
	$(BIN)/python -m pytest -q $(TESTS)
	$(BIN)/python tests/run_on_postgres.py -q $(TESTS)

# A quick check while working: the unit and in-process tests of the core and the plugins, on SQLite,
# leaving out those that start other processes (marked end_to_end: real servers, environments,
# browsers, PostgreSQL clusters, mypy), in four pytest-xdist workers (the tests wait on sockets as
# much as they compute). `make test` is the full run, and the one CI runs.
test-quick: install
	GATEWAY_TEST_DATABASE_URL= $(BIN)/python -m pytest -q -n 4 -m "not end_to_end" $(TESTS)

# bench_intake.py drives the server with wrk (Debian package wrk; it installs it when it can).
bench: install
	$(BIN)/python bench/bench_intake.py
	$(BIN)/python bench/bench_policy.py
	$(BIN)/python bench/bench_delivery.py
	$(BIN)/python bench/bench_author_path.py
	$(BIN)/python bench/bench_strict_json.py
	$(BIN)/python bench/bench_sentry_batch.py

# The screenshots of docs/ui.md, taken by the browser tests in headless Chromium.
screenshots: install
	GATEWAY_UI_SCREENSHOTS=docs/images $(BIN)/python -m pytest -q tests/test_ui_browser.py

# Several processes on PostgreSQL (GATEWAY_BENCH_DATABASE_URL, else the local server); needs wrk.
bench-postgres: install
	$(BIN)/python bench/bench_postgres.py

# Mutation testing of the target guard, the signatures, the policy engine and the retry schedule
# (slow: hours on two cores, most of it gateway/policy; not part of `make test`). Survivors must be listed
# in docs/mutation-survivors.md.
# MUTATION_ARGS narrows a run, e.g. MUTATION_ARGS="gateway/outbound/pinning.py --jobs 2".
mutation: install
	$(BIN)/python tools/mutation.py $(MUTATION_ARGS)
