# Two commands do all set-up on a fresh machine:  make run  |  make test
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: install install-dev translations chromium pdf-libraries run demo test lint lock services bench bench-smoke mutation

# The product's packages only (requirements.lock) and its message catalogues: what `make run` needs.
install: $(VENV)/.installed translations

# The pages' message catalogues (web/translations, forms/translations): .po in git, .mo compiled here.
translations: $(VENV)/.installed
	@for dir in web/translations forms/translations; do \
	  if ls $$dir/*/LC_MESSAGES/messages.po >/dev/null 2>&1; then $(VENV)/bin/pybabel -q compile -d $$dir || exit 1; fi; \
	done

# Debian's chromium for the browser tests (tests/browser) and a Chinese font for its screenshots,
# installed when missing (root, apt).
chromium:
	@(command -v chromium >/dev/null && dpkg -s fonts-wqy-microhei >/dev/null 2>&1) || \
	  (apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-microhei)

# Debian's pango (WeasyPrint renders the printable case record with it) and a Chinese font, when missing.
pdf-libraries:
	@(dpkg -s libpango-1.0-0 libpangoft2-1.0-0 fonts-wqy-microhei >/dev/null 2>&1) || \
	  (apt-get update -qq && apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 fonts-wqy-microhei)

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.lock
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

# And the dev-only tools (requirements-dev.lock: tests, lint, type checks, profilers).
install-dev: $(VENV)/.installed-dev

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.lock
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.lock -r requirements-dev.lock
	touch $@

HOST ?= 127.0.0.1
PORT ?= 8000

# Run the product on the embedded default (SQLite under instance/, no Redis): migrate, deploy the
# bundled workflows, create the demo accounts, serve the HTTP API (it prints where to log in).
run: install pdf-libraries
	$(VENV)/bin/fengqiao init --demo-accounts
	$(VENV)/bin/fengqiao serve --host $(HOST) --port $(PORT)

# The demo walk-through: sample cases driven through the closed loop, printed step by step.
demo: install
	$(VENV)/bin/fengqiao init
	$(VENV)/bin/fengqiao demo

services:
	bash .ci/services

# The whole suite, on SQLite and PostgreSQL (and Redis where a test needs it), in two pytest-xdist
# workers (one per core here), each with its own databases (tests/conftest.py); a test file stays on
# one worker. PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 2
test: lint install-dev services chromium pdf-libraries translations
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# ruff, the format check and mypy on engine/ and web/ (configured in pyproject.toml)
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# requirements.lock: what a fresh venv installs for the product alone; requirements-dev.lock: the rest of this venv.
lock:
	rm -rf $(VENV)-lock && $(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/pip install -q --disable-pip-version-check -c requirements.lock -e .
	(echo "# Exact versions of what the product installs (make run). Dev-only tools: requirements-dev.lock. Regenerate: make lock"; \
	 $(VENV)-lock/bin/pip freeze --exclude-editable) > requirements.lock
	(sed -n '/^#/p' requirements-dev.lock; $(VENV)/bin/pip freeze --exclude-editable | grep -vxFf requirements.lock | sort -f) \
	 > requirements-dev.lock.new && mv requirements-dev.lock.new requirements-dev.lock
	rm -rf $(VENV)-lock

# Benchmarks (bench/): every figure of docs/benchmarks.md, ~30 min on 2 cores with the defaults.
# BENCH_ARGS="--only api --soak-seconds 180" or "--large 300000" to run less; see `python -m bench -h`.
bench: install-dev services
	$(PY) -m bench $(BENCH_ARGS)

# Every bench with tiny sizes (what CI runs through tests/test_bench_smoke.py); writes nothing to docs/.
bench-smoke: install-dev services
	$(PY) -m bench --smoke --out /tmp/fengqiao-bench-smoke.json

# Mutation testing of the rules (mutmut, SQLite, niced; not part of `make test`): every target, or
# MUTATION_TARGETS="expressions forms". Scores and survivors: build/mutation/; see docs/testing.md.
MUTATION_TARGETS ?=
mutation: install install-dev
	$(PY) tools/mutation.py $(MUTATION_TARGETS)
