# Two commands set everything up on a fresh machine:
#   make run    the whole system in the foreground, on the local services
#   make test   the whole test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: install services migrate run test test-unit schema lint bench bench-http bench-failover clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

services:
	bash scripts/local-services.sh

migrate: install services
	$(BIN)/booking-migrate

run: install services migrate
	$(BIN)/python -m services.launcher

test: install services
	$(BIN)/python -m pytest -q

test-unit: install
	$(BIN)/python -m pytest -q tests/unit

schema: install
	$(BIN)/python -m services.worker.specification

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

# the worker's throughput benchmark (AMQP); options: make bench BENCH_ARGS="--runs 5 --soak-seconds 0"
bench: install services
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

# median failover time of a SIGKILLed worker among three
bench-failover: install services
	$(BIN)/python -m benchmarks.failover

# the HTTP benchmark (POST /booking under wrk); options: make bench-http BENCH_ARGS="--profile --duration 20"
bench-http: install services
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m benchmarks.http_bench $(BENCH_ARGS)
