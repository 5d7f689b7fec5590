# Samleng — the two commands are `make run` and `make test`; both set up what they need.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/pytest

.PHONY: lock run stop test setup setup-test test-unit test-deploy test-service test-integration test-e2e lint typecheck check docs bench clean help

help:
	@echo "make run    - set up and start the whole system (Ctrl-C stops it); SCALE=email=3 to scale"
	@echo "make test   - set up and run every test tier, lint and type checks"
	@echo "make stop   - stop a run that is still going and anything it left"
	@echo "make test-unit|test-deploy|test-service|test-integration|test-e2e, make lint, make typecheck"
	@echo "make docs   - write AsyncAPI documents to docs/asyncapi/"
	@echo "make bench  - run the benchmarks in bench/ and update docs/benchmarks.md"

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

lock: $(STAMP)
	@{ echo "# Generated lock of every installed package (direct pins live in pyproject.toml)."; \
	   echo "# Regenerate after changing pyproject.toml: make lock"; \
	   $(BIN)/pip freeze --exclude-editable | grep -v '^samleng'; } > constraints.txt

setup: $(STAMP)
	@scripts/system-deps.sh run

setup-test: $(STAMP)
	@scripts/system-deps.sh test

run: setup
	@$(BIN)/python -m devstack.run

stop: $(STAMP)
	@$(BIN)/python -m devstack.stop

test: setup-test check
	$(PYTEST) -p no:cacheprovider --durations=25 tests/unit services/channels tests/deploy tests/service tests/integration tests/e2e

test-unit: $(STAMP)
	$(PYTEST) tests/unit services/channels

test-deploy: setup-test
	$(PYTEST) tests/deploy

test-service: setup-test
	$(PYTEST) tests/service

test-integration: setup-test
	$(PYTEST) tests/integration

test-e2e: setup-test
	$(PYTEST) tests/e2e

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck

docs: $(STAMP)
	$(BIN)/samleng docs --out docs/asyncapi

bench: setup
	$(BIN)/python bench/broker_baseline.py
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/certificates.py
	$(BIN)/python bench/delivery.py
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/reminders.py
	$(BIN)/python bench/e2e.py --write docs/benchmarks.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
