# Everything a new machine needs, from Python 3.11 alone: `make run`, `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# What running needs (`make run`), then what testing adds (`make test`, lint, bench).
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install install-dev run test lint format check clean bench bench-campaign screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP)

install: $(STAMP)

install-dev: $(DEV_STAMP)

## run: start `bot serve` (embedded Redis without BOT_REDIS_URL). With no CAMS access key
## configured (BOT_CAMS_ACCESS_KEY_ID or its _FILE, in the environment or the .env file) and
## BOT_SANDBOX unset, in sandbox mode: `bot serve` itself never guesses, it refuses to start
## live without its secrets.
CONFIGURED := ^[[:space:]]*(export[[:space:]]+)?BOT_(SANDBOX|CAMS_ACCESS_KEY_ID|CAMS_ACCESS_KEY_ID_FILE)=
run: install
	@if [ -z "$$BOT_SANDBOX$$BOT_CAMS_ACCESS_KEY_ID$$BOT_CAMS_ACCESS_KEY_ID_FILE" ] && \
	    ! grep -qsE '$(CONFIGURED)' "$${BOT_ENV_FILE-.env}"; then \
	  echo "make run: no CAMS access key configured: sandbox mode (BOT_SANDBOX=true)"; \
	  BOT_SANDBOX=true exec $(BIN)/bot serve; \
	else \
	  exec $(BIN)/bot serve; \
	fi

## lint: ruff (lint and format) and mypy --strict on bot/
lint: install-dev
	$(BIN)/ruff check bot tests bench
	$(BIN)/ruff format --check bot tests bench
	$(BIN)/mypy

## test: lint, check and test the example flows (with coverage), then the whole suite: on
## every core, but the tests that measure rates and latencies (marked `alone`), which run
## after the rest by themselves (PYTEST_ARGS="-n 0" for one process throughout). The web
## console's tests drive Debian's Chromium (BOT_TEST_CHROMIUM=/path for another);
## BROWSER=no leaves them out on a machine without one.
PYTEST_ARGS ?= -n auto
BROWSER ?= yes
MARKS := $(if $(filter no,$(BROWSER)), and not browser,)
test: lint
	$(BIN)/bot check
	$(BIN)/bot test
	$(BIN)/pytest $(PYTEST_ARGS) -m "not alone$(MARKS)"
	$(BIN)/pytest -m "alone$(MARKS)"

format: install-dev
	$(BIN)/ruff check --fix bot tests bench
	$(BIN)/ruff format bot tests bench

check: install
	$(BIN)/bot check

## bench: benchmark `bot serve` against a bare aiohttp server (docs/performance.md; a few
## minutes; BENCH_ARGS="--quick" for a smoke run, "--live 1000,100000 --workers 1,2" and more)
bench: install-dev
	$(BIN)/python bench/run.py $(BENCH_ARGS)

## bench-campaign: a 100,000-recipient campaign at 200/s beside 50 chatting customers: time to
## 202, memory per recipient, sends per second, reply latency with and without (a minute)
bench-campaign: install-dev
	$(BIN)/python bench/campaign.py $(BENCH_ARGS)

## screenshots: the web console's pages as docs/console.md shows them (headless Chromium)
screenshots: install-dev
	BOT_CONSOLE_SHOTS=docs/console $(BIN)/pytest -n 0 -q tests/test_console_browser.py

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache *.egg-info
