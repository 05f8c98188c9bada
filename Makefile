# The two commands: `make run` and `make test`. Everything else is a helper they call.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_CUSTOMERS ?= 300
export UV_PYTHON_DOWNLOADS := never
export UV_COMPILE_BYTECODE := 1
export UV_LINK_MODE := copy

.PHONY: run test lint format unit e2e browser bench clean

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip --upgrade >/dev/null
	@test -x $(BIN)/uv || $(PY) -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --python $(PY) -r requirements.txt
	@touch $@

## make run: set up, migrate, seed the sandbox, create demo users, start the web server and the worker.
## On first start the sandbox's customers are synced into the customer index once the web server answers
## (it serves the sandbox); the worker runs the sync.
run: $(VENV)/.installed
	DEBUG=$${DEBUG:-true} PORT=$(PORT) $(PY) manage.py migrate --noinput
	@if DEBUG=$${DEBUG:-true} PORT=$(PORT) $(PY) -c "import django,os;os.environ.setdefault('DJANGO_SETTINGS_MODULE','dashboard.settings');django.setup();from django.conf import settings;raise SystemExit(0 if settings.SANDBOX_MODE else 1)"; then \
	  DEBUG=$${DEBUG:-true} PORT=$(PORT) $(PY) manage.py seed_sandbox --customers $(DEMO_CUSTOMERS) --seed 1 --if-empty; \
	  DEBUG=$${DEBUG:-true} PORT=$(PORT) $(PY) manage.py create_demo_users; \
	  ( for _ in $$(seq 60); do sleep 1; curl -s -o /dev/null http://$(HOST):$(PORT)/healthz || continue; \
	      DEBUG=$${DEBUG:-true} PORT=$(PORT) $(PY) manage.py sync_customers --if-empty --enqueue; break; done ) & \
	fi
	@DEBUG=$${DEBUG:-true} PORT=$(PORT) bash scripts/run.sh $(HOST) $(PORT)

## make test: lint, unit and integration tests, then browser tests (Chromium is installed if missing).
test: $(VENV)/.installed lint unit browser e2e

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: $(VENV)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

unit: $(VENV)/.installed
	$(BIN)/pytest tests --ignore=tests/e2e -q $(PYTEST_ARGS)

browser:
	@command -v chromium >/dev/null 2>&1 || bash scripts/install-chromium.sh

e2e: $(VENV)/.installed browser
	DJANGO_ALLOW_ASYNC_UNSAFE=true $(BIN)/pytest tests/e2e -q -rs $(E2E_ARGS)

## make bench: the pages side by side with a plain Django reference, and under load (see bench/README.md).
bench: $(VENV)/.installed
	$(BIN)/uv pip install --quiet --python $(PY) -r bench/requirements.txt
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .test-exports
