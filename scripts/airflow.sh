#!/usr/bin/env bash
# Run an Airflow command against the project's local Airflow (AIRFLOW_HOME inside the
# project's data folder, DAGs from dags/). Examples:
#
#   scripts/airflow.sh dags test tailor_nightly 2026-10-01
#   scripts/airflow.sh dags trigger tailor_nightly --logical-date 2026-10-02T02:00:00+00:00
#   scripts/airflow.sh backfill create --dag-id tailor_nightly --from-date 2026-10-01 --to-date 2026-10-03T23:59
#
# The first call migrates Airflow's database, creates the one-slot warehouse pool and
# serializes the DAGs (`dags test` needs that; after editing a DAG, run
# `scripts/airflow.sh dags reserialize` or let a running standalone pick it up).
# TAILOR_AIRFLOW_PORT (default 8080) must match the port airflow_standalone.sh serves on.
#
# `--log FILE` first (e.g. `scripts/airflow.sh --log data/logs/airflow.log dags test ...`)
# appends Airflow's output (thousands of lines for a DAG test) to FILE and prints one
# line, or, when the command fails, the end of the log.
set -euo pipefail
LOG=""
if [ "${1:-}" = "--log" ]; then
    LOG="$2"
    shift 2
fi
# the same set-up as scripts/airflow_standalone.sh: each script runs on its own
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.venv/bin"
# Airflow starts its own subprocesses as `airflow ...` from PATH.
export PATH="$BIN:$PATH"
PORT="${TAILOR_AIRFLOW_PORT:-8080}"

eval "$("$BIN/python" -m tailor.orchestration env --port "$PORT")"
mkdir -p "$AIRFLOW_HOME"
if [ ! -f "$AIRFLOW_HOME/.tailor-initialized" ]; then
    "$BIN/python" -m tailor.orchestration setup >/dev/null
    touch "$AIRFLOW_HOME/.tailor-initialized"
fi

if [ -z "$LOG" ]; then
    exec "$BIN/airflow" "$@"
fi
mkdir -p "$(dirname "$LOG")"
started=$SECONDS
status=0
"$BIN/airflow" "$@" >>"$LOG" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
    echo "airflow $* failed (exit $status); the end of $LOG:" >&2
    tail -n 30 "$LOG" >&2
    exit "$status"
fi
echo "airflow $*: done in $((SECONDS - started)) s (log: $LOG)"
