#!/usr/bin/env bash
# Start Airflow standalone (scheduler, DAG processor, triggerer, API server and UI) on
# localhost with the project's DAGs:
#
#   scripts/airflow_standalone.sh [PORT]        (default $TAILOR_AIRFLOW_PORT or 8080;
#                                                8793 and 8794 are Airflow's log servers)
#
# Log in at http://127.0.0.1:PORT as "admin"; the password is generated on the first start
# and kept in $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated (AIRFLOW_HOME is
# data/airflow unless set; `tailor paths` shows it).
#
# The DAG starts paused: unpause it in the UI or with
#   TAILOR_AIRFLOW_PORT=PORT scripts/airflow.sh dags unpause tailor_nightly
# Other commands (trigger, backfill, dags test) go through scripts/airflow.sh, which uses
# the same environment.
set -euo pipefail
# the same set-up as scripts/airflow.sh: each script runs on its own
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.venv/bin"
# airflow standalone starts its components as `airflow ...` from PATH.
export PATH="$BIN:$PATH"
PORT="${1:-${TAILOR_AIRFLOW_PORT:-8080}}"

eval "$("$BIN/python" -m tailor.orchestration env --port "$PORT")"
mkdir -p "$AIRFLOW_HOME"
# Migrate the database, create the one-slot warehouse pool and serialize the DAGs, so the
# UI and `dags test` see them without waiting for the DAG processor's first pass.
"$BIN/python" -m tailor.orchestration setup >/dev/null
touch "$AIRFLOW_HOME/.tailor-initialized"

echo "Airflow: http://127.0.0.1:$PORT  user admin, password in $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
exec "$BIN/airflow" standalone
