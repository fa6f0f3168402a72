# Two commands for a newcomer: `make run` and `make test`. Everything else is for developers.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
export PORT

.PHONY: run test lint typecheck check bench schema migrate seed clean

# setuptools announces every editable install with a warning (it has no other way to tell):
# filtered by its text, so that a first `make run` prints what matters only.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing the Python packages into $(VENV) (first run, or pyproject.toml changed)"
	@$(BIN)/pip install --quiet --quiet --upgrade pip
	@PYTHONWARNINGS="ignore:Editable installation" $(BIN)/pip install --quiet --quiet -e '.[dev]'
	@touch $(STAMP)

## run: migrate the embedded SQLite database, load demo data, serve API + PWA on :$(PORT)
run: $(STAMP)
	@mkdir -p var
	@$(BIN)/duo-abroad migrate
	@$(BIN)/duo-abroad seed-demo
	@echo
	@echo "Demo sign-in: open http://localhost:$(PORT)/ (localhost, not 127.0.0.1), choose"
	@echo "'Activate your account' and enter the code below with date of birth 1994-03-15."
	@LOG_LEVEL=WARNING $(BIN)/duo-abroad activation issue --customer DA0000001 --issued-by make-run
	@echo
	@$(BIN)/duo-abroad serve

## test: the whole suite (set DATABASE_URL to run it on PostgreSQL)
test: $(STAMP)
	@bash scripts/test-prereqs.sh
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache --no-logo

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

## schema: re-export graphql/schema.graphql from the code
schema: $(STAMP)
	$(BIN)/duo-abroad export-schema

## bench: every benchmark, each against its baseline measured in the same run (a few minutes;
## the import's million lines on both databases about ten more)
bench: $(STAMP)
	$(BIN)/python bench/dashboard.py
	$(BIN)/python bench/login.py
	$(BIN)/python bench/extracts.py
	$(BIN)/python bench/wallet.py
	$(BIN)/python bench/forms.py
	$(BIN)/python bench/push.py
	$(BIN)/python bench/worker_crash.py
	$(BIN)/python bench/reminders.py
	$(BIN)/python bench/reminder_plan.py
	$(BIN)/python bench/reminder_tick.py
	$(BIN)/python bench/import.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

migrate: $(STAMP)
	$(BIN)/duo-abroad migrate

seed: $(STAMP)
	$(BIN)/duo-abroad seed-demo

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache *.egg-info
