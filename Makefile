# The README's commands. A fresh machine needs only python3: the first target that needs
# the environment bootstraps a pinned uv and installs the locked dependencies (uv.lock).

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
TAILOR := $(BIN)/tailor

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
export AIRFLOW_HOME ?= $(CURDIR)/data/airflow

# Demo data size; override e.g. `make demo CUSTOMERS=20000 DAYS=60`. 22 days is the
# shortest history the last night scores propensity on: the 7-day horizon
# (propensity.short_history_horizon) needs 7 days before its training cutoff and 14 of
# labels after it, counted from the first event (just after midnight of the first day),
# so 21 days leave it skipped (measured with these sizes and seed: 22 days train on 923
# churn and 1,793 purchase rows).
CUSTOMERS ?= 2000
PRODUCTS ?= 800
DAYS ?= 22
START ?= 2026-10-01
SEED ?= 42

AIRFLOW_PORT ?= 8080

.PHONY: help install demo test test-fast lint format clean airflow bench sql

help:
	@echo "make demo    generate a data set and run the nightly pipeline on it"
	@echo "make test    run the test suite"
	@echo "make sql     a read-only DuckDB shell on the analyst snapshot"
	@echo "make airflow Airflow on http://127.0.0.1:$(AIRFLOW_PORT) (user admin)"
	@echo "make lint    ruff"
	@echo "make clean   remove generated data (keeps the environment)"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# --compile-bytecode: the installed packages' .pyc files are written once here. Where
# PYTHONDONTWRITEBYTECODE is set (as on the CI machines) Python would otherwise compile
# Great Expectations, dbt, Airflow and scikit-learn from source in every process: about
# 6 s more per import of GX, paid by every pipeline stage, Airflow task and test worker.
$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode
	@touch $@

install: $(VENV)/.synced

# The spark group (pyspark, dbt-spark): the tests build the dbt project on Spark too.
$(VENV)/.synced-spark: $(VENV)/.synced
	$(UV) sync --frozen --compile-bytecode --group spark
	@touch $@

# The demo's last day runs through Airflow (`airflow dags test` of the nightly DAG: every
# task, in order, without a scheduler); the days before it are its history, built in one
# pass by `tailor run --from --to` (a backfill: every day loaded and validated, each day's
# segment-history snapshot, one dbt build and the ML models as of the day before the last).
# `dags test` needs the DAGs serialized: the first Airflow command of a new Airflow home
# does it while setting the home up (scripts/airflow.sh); a demo run again on an existing
# home reserializes them first, in case a DAG changed since (one Airflow start more).
LAST_DAY = $(shell $(PYTHON) -c "import datetime as d; print(d.date.fromisoformat('$(START)') + d.timedelta(days=$(DAYS) - 1))")
BEFORE_LAST_DAY = $(shell $(PYTHON) -c "import datetime as d; print(d.date.fromisoformat('$(START)') + d.timedelta(days=$(DAYS) - 2))")

# Detail (dbt, Great Expectations, Airflow's task logs) goes to log files under the data
# folder; the terminal gets a line per night and per Airflow command.
LOGS = $(or $(TAILOR_DATA),$(CURDIR)/data)/logs

demo: install
	$(TAILOR) generate --customers $(CUSTOMERS) --products $(PRODUCTS) --days $(DAYS) --start $(START) --seed $(SEED)
	$(TAILOR) run --from $(START) --to $(BEFORE_LAST_DAY)
	@if [ -f "$(AIRFLOW_HOME)/.tailor-initialized" ]; then \
		scripts/airflow.sh --log $(LOGS)/airflow-$(LAST_DAY).log dags reserialize; fi
	@scripts/airflow.sh --log $(LOGS)/airflow-$(LAST_DAY).log dags test tailor_nightly $(LAST_DAY)
	$(TAILOR) summary
	@$(TAILOR) paths
	@echo "run report: data/reports/runs/index.html   dbt docs: data/reports/dbt_docs/index.html   Data Docs: data/reports/data_docs/index.html"

# The Spark tests (tests/spark, marker spark) run after the others: each file in a
# process of its own (--dist loadfile), since a process's Spark session serves one data
# folder; each starts a JVM and builds the dbt project on a local Spark session.
test: $(VENV)/.synced-spark
	$(BIN)/pytest -n 2 --dist loadfile
	TAILOR_SPARK_TESTS=1 $(BIN)/pytest -n 2 --dist loadfile -m spark tests/spark

test-fast: install
	$(BIN)/pytest -n 2 --dist loadfile -m "unit"

# The DuckDB CLI comes with the project (duckdb-cli in pyproject.toml): `tailor sql` with
# no query runs `.venv/bin/duckdb -readonly <snapshot>`, the snapshot as settings resolve it.
sql: install
	$(TAILOR) sql

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

airflow: install
	scripts/airflow_standalone.sh $(AIRFLOW_PORT)

# Benchmarks at scale (benchmarks/README.md): `make bench SIZE=10m`; SIZE is small, 1m or 10m.
bench: install
	$(BIN)/python -m benchmarks.run --size $(or $(SIZE),1m)

clean:
	rm -rf data
