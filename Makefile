# Two commands do all set-up on a fresh machine:  make run  |  make test
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: install run demo test lint lock services

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.lock
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

# Run the product on the embedded default (SQLite under instance/, no Redis).
run: install
	$(VENV)/bin/fengqiao init
	$(VENV)/bin/fengqiao demo

services:
	bash .ci/services

# The whole suite, on SQLite and PostgreSQL (and Redis where a test needs it).
test: install services
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

lock:
	$(VENV)/bin/pip freeze --exclude-editable > requirements.lock
