# Two commands on a fresh machine (Python 3.11+, git, make, Node.js 20):
#   make demo   seed demo ticks, materialize them, open the Dagster UI on http://127.0.0.1:3000
#   make test   lint, then the whole test suite (both cores) against real PostgreSQL, TimescaleDB (PGlite) and a moto S3 server
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TSDB := ticklake_dagster_tests/tsdb

.PHONY: setup test lint types chromium demo demo-reset bench bench-backfill bench-history fuzz clean

setup: $(VENV)/.installed

# uv resolves and installs the project with its test extras in ~15 s where pip took 45-100 s here; bytecode is
# compiled at install, as pip does, so the suite's many processes do not each compile Dagster on first import.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e ".[test]"
	touch $@

$(TSDB)/node_modules/.installed: $(TSDB)/package-lock.json
	npm ci --prefix $(TSDB) --no-audit --no-fund --loglevel=error
	touch $@

# Three workers on two cores: a fifth of the suite's wall time is tests waiting (Dagster's 30 s daemon loop, the
# dev server starting), which a third worker fills; measured 4 m 46 s of pytest against 5 m 04 s-5 m 22 s with -n 2.
test: setup $(TSDB)/node_modules/.installed chromium lint types
	$(BIN)/pytest -n 3 --dist loadfile

# ruff (lint and format), configured in pyproject.toml; `make test` runs it first.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy, configured in pyproject.toml; `make test` runs it first.
types: setup
	$(BIN)/mypy

# The chart page's tests drive Debian's chromium (headless); install it once when it is missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The Dagster instance is prepared first so `materialize` reports its days to it (the UI shows them).
# Ctrl-C stops everything `ticklake dev` started within 10 s; the embedded PostgreSQL keeps running.
DEMO_PORT ?= 3000
demo: setup
	$(BIN)/ticklake seed-demo
	$(BIN)/ticklake dev --setup-only
	$(BIN)/ticklake materialize EURUSD $$($(BIN)/python -c "import datetime as d; t=d.datetime.now(d.timezone.utc).date(); print(f'{t-d.timedelta(days=7)}:{t-d.timedelta(days=1)}')")
	$(BIN)/ticklake dev --port $(DEMO_PORT)

# Start the demo over: stops the embedded PostgreSQL and removes ./.ticklake (lake, candles, Dagster's runs).
# Stop `make demo` (Ctrl-C) first. Only the default local home: a TICKLAKE_HOME or R2 lake is never touched.
demo-reset: setup
	$(BIN)/python -c "from ticklake_dagster.candles.database import stop_embedded_server; stop_embedded_server('.ticklake/pg')"
	rm -rf .ticklake

bench: setup
	$(BIN)/python benchmarks/bench_materialize.py
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_api.py
	$(BIN)/python benchmarks/bench_backfill.py
	$(BIN)/python benchmarks/bench_cli.py
	$(BIN)/python benchmarks/bench_import.py
	$(BIN)/python benchmarks/bench_ondemand.py
	$(BIN)/python benchmarks/bench_reader.py
	$(BIN)/python benchmarks/bench_export.py
	$(BIN)/python benchmarks/bench_price_sides.py

# Full-size UI backfills through a real webserver + daemon on the embedded PostgreSQL (run on a quiet machine).
bench-backfill: setup
	$(BIN)/python benchmarks/bench_ui_backfill.py --days 365 --symbols EURUSD,GBPUSD,USDJPY,AUDUSD,USDCHF --rate 1

bench-history: setup
	$(BIN)/python benchmarks/bench_history_backfill.py --years 23 --ticks-per-day 10000

# Coverage-guided fuzzing of the tick parser and the part readers (atheris). Runs until stopped (Ctrl-C),
# or FUZZ_SECONDS; what it learns stays in .ticklake/fuzz-corpus, a finding is written as crash-*.
FUZZ_SECONDS ?= 0
fuzz: setup
	$(BIN)/python fuzz/fuzz_ticks.py .ticklake/fuzz-corpus fuzz/seeds -max_total_time=$(FUZZ_SECONDS)

clean:
	rm -rf $(VENV) $(TSDB)/node_modules
