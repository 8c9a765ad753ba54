# GreenBox. The README documents two commands: `make run` and `make test`.
# Everything runs from .venv, created on first use from the pinned requirements files.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test bench chaos lint format messages clean help

help:  ## List the targets
	@grep -E '^[a-z]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

run: $(VENV)/.runtime-installed  ## Install, migrate, load demo data if empty, serve the site, its worker and beat
	DEBUG=1 $(MANAGE) migrate --no-input
	DEBUG=1 $(MANAGE) load_demo_data --if-empty
	DEBUG=1 $(MANAGE) demo_logins
	@echo "GreenBox: members http://$(HOST):$(PORT)/  staff /admin/  ops /ops/  API /api/docs/  (Ctrl-C stops all)"
	@trap 'trap - INT TERM EXIT; kill 0' INT TERM EXIT; \
	DEBUG=1 $(BIN)/celery -A config worker --beat --loglevel=INFO --concurrency=2 & \
	DEBUG=1 $(MANAGE) runserver $(HOST):$(PORT)

test: $(VENV)/.dev-installed  ## Run the whole suite (PostgreSQL/Redis tests skip without DATABASE_URL/REDIS_URL)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.dev-installed  ## Run every benchmark in bench/ (needs PostgreSQL, Redis, pgbench and wrk) and print one table of figures
	$(BIN)/python bench/run_all.py

chaos: $(VENV)/.dev-installed  ## Two minutes of API load and faults (kills, PostgreSQL/Redis restarts), then an audit (needs root)
	$(BIN)/python chaos/run.py --duration 120

lint: $(VENV)/.dev-installed  ## Lint and check formatting
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev-installed  ## Fix lint and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

messages: $(VENV)/.dev-installed  ## Update and compile the zh_Hans and en translations (needs GNU gettext)
	DEBUG=1 $(MANAGE) makemessages --locale zh_Hans --locale en --ignore '.venv/*' --ignore 'tests/*'
	DEBUG=1 $(MANAGE) compilemessages --ignore '.venv/*'

clean:  ## Remove the virtualenv and the embedded database
	rm -rf $(VENV) db.sqlite3 var
