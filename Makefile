# GreenBox. The README documents two commands: `make run` and `make test`.
# Everything runs from .venv, created on first use from the pinned requirements files.
# Without DATABASE_URL, both run on the embedded PostgreSQL under var/postgres: WITH_DATABASE
# starts it, hands the command its DATABASE_URL, and stops it when the command ends if it started it.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
HOST ?= 127.0.0.1
PORT ?= 8000
WITH_DATABASE := $(if $(DATABASE_URL),,$(BIN)/python -m config.embedded_postgres run --)

.PHONY: run serve test bench chaos lint format messages vendor vendor-check clean help

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

run: $(VENV)/.runtime-installed  ## Install, migrate, load demo data if empty, serve the site, its worker and beat (Ctrl-C stops all)
	@$(WITH_DATABASE) $(MAKE) --no-print-directory serve

# Ctrl-C reaches the whole process group, but the shell started the worker and runserver in the
# background, where SIGINT is ignored: the trap ends both with SIGTERM and waits for them.
serve:
	DEBUG=1 $(MANAGE) migrate --no-input
	DEBUG=1 $(MANAGE) load_demo_data --if-empty
	DEBUG=1 $(MANAGE) demo_logins
	@echo "GreenBox: members http://$(HOST):$(PORT)/  desk /desk/  admin /admin/  ops /ops/  API /api/docs/  (Ctrl-C stops all)"
	@trap 'kill $$worker $$server 2>/dev/null; wait' INT TERM EXIT; \
	DEBUG=1 $(BIN)/celery -A config worker --beat --loglevel=INFO --concurrency=2 & worker=$$!; \
	DEBUG=1 $(MANAGE) runserver $(HOST):$(PORT) & server=$$!; \
	wait $$server

test: $(VENV)/.dev-installed  ## Lint, then run the whole suite on PostgreSQL (Redis and browser tests skip without REDIS_URL/chromium)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(WITH_DATABASE) $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.dev-installed  ## Run every benchmark in bench/ (needs PostgreSQL, Redis, pgbench and wrk) and print one table of figures
	$(BIN)/python bench/run_all.py

chaos: $(VENV)/.dev-installed  ## Two minutes of API load and faults (kills, PostgreSQL/Redis restarts), then an audit (needs root)
	$(BIN)/python chaos/run.py --duration 120

vendor:  ## Refresh the committed front-end files from the pinned npm packages (needs Node.js; frontend/vendor.py)
	cd frontend && npm ci --ignore-scripts --no-audit --no-fund
	$(PYTHON) frontend/vendor.py

vendor-check:  ## Fail if a committed front-end file differs from its pinned npm package (needs Node.js)
	cd frontend && npm ci --ignore-scripts --no-audit --no-fund
	$(PYTHON) frontend/vendor.py --check

lint: $(VENV)/.dev-installed  ## Lint and check formatting
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev-installed  ## Fix lint and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

messages: $(VENV)/.dev-installed  ## Update and compile the zh_Hans and en translations (needs GNU gettext)
	DEBUG=1 $(MANAGE) makemessages --locale zh_Hans --locale en --ignore '.venv/*' --ignore 'tests/*'
	DEBUG=1 $(MANAGE) compilemessages --ignore '.venv/*'

clean:  ## Stop the embedded PostgreSQL, remove the virtualenv and var/ (the embedded database and broker)
	-[ ! -x $(BIN)/python ] || $(BIN)/python -m config.embedded_postgres stop
	rm -rf $(VENV) var
