# Samleng — the two commands are `make run` and `make test`; both set up what they need.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/pytest

.PHONY: lock run stop test fuzz setup setup-test test-unit test-deploy test-service test-integration test-e2e test-chaos chaos lint typecheck check docs bench bench-load clean help

help:
	@echo "make run    - set up and start the whole system (Ctrl-C stops it); SCALE=email=3 to scale"
	@echo "make test   - set up and run every test tier, lint and type checks"
	@echo "make stop   - stop a run that is still going and anything it left"
	@echo "make test-unit|test-deploy|test-service|test-integration|test-e2e|test-chaos, make lint, make typecheck"
	@echo "make chaos  - the fault-injection scenarios at full size (10,000 members); figures in docs/reliability.md"
	@echo "make docs   - write AsyncAPI documents to docs/asyncapi/"
	@echo "make bench  - run the benchmarks in bench/ and update docs/benchmarks.md"
	@echo "make bench-load - the public API at 10/s for 10 minutes while alerts fan out (docs/benchmarks.md)"

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

# every HTTP route fuzzed from its OpenAPI at a larger size (the test tier runs it with 12 cases
# per operation and mode); FUZZ_EXAMPLES=... to choose
fuzz: setup-test
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-200} $(PYTEST) -p no:randomly --timeout=0 tests/service/test_fuzz_openapi.py

test-chaos: setup-test
	$(PYTEST) tests/chaos

chaos: setup-test
	@mkdir -p .run
	CHAOS_SCALE=full CHAOS_RESULTS=$(CURDIR)/.run/chaos-results.jsonl $(PYTEST) -s tests/chaos

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

bench-load: setup
	$(BIN)/python bench/load.py --rate 10 --seconds 600 --write docs/benchmarks.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
