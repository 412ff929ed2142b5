# Set-up and everyday commands. `make serve` runs the gateway; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PACKAGES := -e '.[test]' -e plugins/dynatrace -e plugins/sentry -e examples/event-gateway-webhook
SETUP_FILES := setup.cfg pyproject.toml plugins/dynatrace/setup.cfg plugins/sentry/setup.cfg examples/event-gateway-webhook/setup.cfg
TESTS := tests plugins/dynatrace/tests plugins/sentry/tests examples/event-gateway-webhook/tests

.PHONY: install serve worker test bench

$(BIN)/.installed: $(SETUP_FILES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(PACKAGES)
	touch $@

install: $(BIN)/.installed

serve: install
	$(BIN)/event-gateway serve

worker: install
	$(BIN)/event-gateway worker

test: install
	$(BIN)/python -m pytest -q $(TESTS)

# bench_intake.py drives the server with wrk (Debian package wrk; it installs it when it can).
bench: install
	$(BIN)/python bench/bench_intake.py
	$(BIN)/python bench/bench_policy.py
	$(BIN)/python bench/bench_delivery.py
