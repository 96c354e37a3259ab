# Everything a new machine needs, from Python 3.11 alone: `make run`, `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint format check clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## run: start `bot serve` (embedded Redis without BOT_REDIS_URL). With no CAMS access key
## configured (BOT_CAMS_ACCESS_KEY_ID or its _FILE) and BOT_SANDBOX unset, in sandbox mode:
## `bot serve` itself never guesses, it refuses to start live without its secrets.
run: install
	@if [ -z "$$BOT_SANDBOX$$BOT_CAMS_ACCESS_KEY_ID$$BOT_CAMS_ACCESS_KEY_ID_FILE" ]; then \
	  echo "make run: no CAMS access key configured: sandbox mode (BOT_SANDBOX=true)"; \
	  BOT_SANDBOX=true exec $(BIN)/bot serve; \
	else \
	  exec $(BIN)/bot serve; \
	fi

## lint: ruff (lint and format) and mypy --strict on bot/
lint: install
	$(BIN)/ruff check bot tests bench
	$(BIN)/ruff format --check bot tests bench
	$(BIN)/mypy

## test: lint, check and test the example flows (with coverage), then the whole suite
test: lint
	$(BIN)/bot check
	$(BIN)/bot test
	$(BIN)/pytest

format: install
	$(BIN)/ruff check --fix bot tests bench
	$(BIN)/ruff format bot tests bench

check: install
	$(BIN)/bot check

## bench: benchmark `bot serve` against a bare aiohttp server (docs/performance.md; a few
## minutes; BENCH_ARGS="--quick" for a smoke run, "--live 1000,100000 --workers 1,2" and more)
bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache *.egg-info
