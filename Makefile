# The two commands: `make run` (the portal, embedded mode) and `make test` (the suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint check clean bench bench-scale e2e

# Reinstall only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet ".[test]"
	touch $@

run: $(VENV)/.installed
	PORT=$(PORT) bin/run-portal

test: $(VENV)/.installed
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

check: lint test

# Benchmarks against their baselines (DESIGN.md, Performance rules); never part of CI. Runs on
# a scratch database of its own: SQLite by default, PostgreSQL when DATABASE_URL points there.
bench: $(VENV)/.installed
	$(BIN)/python -c "import aiosmtpd" 2>/dev/null || $(BIN)/python -m pip install --quiet "aiosmtpd>=1.4"
	$(BIN)/python -m benchmarks.run

# The scale envelope, separately (DESIGN.md): a 1,000,000-item start and panel page and a
# 500,000-denial apply, once per side. Tens of minutes; a few GB of scratch database.
bench-scale: $(VENV)/.installed
	$(BIN)/python -m benchmarks.run --scale

clean:
	rm -rf var/portal.sqlite3* var/test.sqlite3* var/broker var/celerybeat-schedule*

# The browser journeys (Playwright driving Debian's Chromium); screenshots land in var/e2e/.
e2e: $(VENV)/.installed
	$(BIN)/pytest -m slow tests/e2e
