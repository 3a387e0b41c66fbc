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

# Demo data size; override e.g. `make demo CUSTOMERS=20000 DAYS=60`.
CUSTOMERS ?= 2000
PRODUCTS ?= 800
DAYS ?= 28
START ?= 2026-10-01
SEED ?= 42

AIRFLOW_PORT ?= 8080

.PHONY: help install demo test test-fast lint format clean airflow

help:
	@echo "make demo    generate a data set and run the nightly pipeline on it"
	@echo "make test    run the test suite"
	@echo "make airflow Airflow on http://127.0.0.1:$(AIRFLOW_PORT) (user admin)"
	@echo "make lint    ruff"
	@echo "make clean   remove generated data (keeps the environment)"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

install: $(VENV)/.synced

demo: install
	$(TAILOR) generate --customers $(CUSTOMERS) --products $(PRODUCTS) --days $(DAYS) --start $(START) --seed $(SEED)
	$(TAILOR) run
	$(TAILOR) summary
	@$(TAILOR) paths

test: install
	$(BIN)/pytest -n 2 --dist loadfile

test-fast: install
	$(BIN)/pytest -n 2 --dist loadfile -m "unit"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

airflow: install
	scripts/airflow_standalone.sh $(AIRFLOW_PORT)

clean:
	rm -rf data
