# Kaimen: `make run` serves the demo county, `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
FLASK := $(BIN)/flask --app kaimen
export KAIMEN_DEMO_PASSWORD ?= kaimen-demo-2026
# `make run PORT=5001` serves elsewhere; links and QR codes follow the base URL.
PORT ?= 5000
BASE_URL = $${KAIMEN_BASE_URL:-http://127.0.0.1:$(PORT)}

VENDOR := tests/e2e/vendor
VENDOR_STAMP := $(VENDOR)/node_modules/.installed-stamp

.PHONY: install run demo test lint bench bench-lists soak translations clean browser-tools

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# axe-core and the Nu HTML Checker for the browser tests (npm; the checker also needs Java).
# Without npm the tests that need them skip, saying so.
$(VENDOR_STAMP): $(VENDOR)/package.json
	@if command -v npm >/dev/null 2>&1; then \
		npm install --prefix $(VENDOR) --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: browser accessibility and HTML checks will be skipped"; fi

browser-tools: $(VENDOR_STAMP)

# Migrate, load the demo county and its demo data, print the logins, serve on :5000.
demo: install
	KAIMEN_DEBUG=1 $(FLASK) db upgrade
	KAIMEN_DEBUG=1 $(FLASK) kaimen tenants load tenants/jiayu.toml
	KAIMEN_DEBUG=1 $(FLASK) kaimen demo load
	@echo
	@echo "Demo logins (password for every account: $(KAIMEN_DEMO_PASSWORD)):"
	@KAIMEN_DEBUG=1 $(FLASK) kaimen users list
	@echo

run: demo
	KAIMEN_DEBUG=1 KAIMEN_BASE_URL=$(BASE_URL) $(FLASK) run --host 127.0.0.1 --port $(PORT)

test: install browser-tools
	$(BIN)/ruff check platform blueprints tests
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check platform blueprints tests
	$(BIN)/mypy

bench: install
	@command -v wrk >/dev/null || { echo "make bench needs wrk, which it does not install:"; \
		echo "  Debian/Ubuntu: sudo apt-get install -y wrk    macOS: brew install wrk"; exit 2; }
	$(BIN)/python tests/benchmarks/login_timing.py
	$(BIN)/python tests/benchmarks/run.py
	$(BIN)/python tests/benchmarks/memory.py
	$(BIN)/python tests/benchmarks/submissions.py
	$(BIN)/python tests/benchmarks/lists_exports.py
	$(BIN)/python tests/benchmarks/umbrella.py

# File complaints from 16 clients while killing a worker, then the whole server, on SQLite
# (and PostgreSQL with BENCH_POSTGRES_URL); count what was kept. About two minutes.
soak: install
	$(BIN)/python tests/benchmarks/soak.py

# Long lists and exports at 100,000 cases (SQLite; PostgreSQL too with BENCH_POSTGRES_URL).
bench-lists: install
	$(BIN)/python tests/benchmarks/lists_exports.py

translations: install
	$(BIN)/pybabel extract --no-location --sort-output -F babel.cfg -k _l -k lazy_gettext \
		-o translations/messages.pot platform blueprints
	$(BIN)/pybabel update --no-fuzzy-matching -i translations/messages.pot -d translations
	$(BIN)/pybabel compile -d translations

clean:
	rm -rf $(VENV) instance .pytest_cache $(VENDOR)/node_modules
