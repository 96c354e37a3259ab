# Everything a new machine needs, from Python 3.11 alone: `make run`, `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint format check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## run: start `bot serve` (embedded Redis without BOT_REDIS_URL; sandbox without CAMS keys)
run: install
	$(BIN)/bot serve

## lint: ruff (lint and format) and mypy --strict on bot/
lint: install
	$(BIN)/ruff check bot tests
	$(BIN)/ruff format --check bot tests
	$(BIN)/mypy

## test: lint, check and test the example flows (with coverage), then the whole suite
test: lint
	$(BIN)/bot check
	$(BIN)/bot test
	$(BIN)/pytest

format: install
	$(BIN)/ruff check --fix bot tests
	$(BIN)/ruff format bot tests

check: install
	$(BIN)/bot check

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache *.egg-info
