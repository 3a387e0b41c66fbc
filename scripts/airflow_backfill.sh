#!/usr/bin/env bash
# Backfill the nightly DAG for the logical days FROM..TO (both included), one night after
# the other, like `tailor run --nightly --from FROM --to TO` (a history in one pass, without
# Airflow: `tailor run --from FROM --to TO`):
#
#   scripts/airflow_backfill.sh 2026-10-01 2026-10-30 [more `airflow backfill create` options]
#
# A running Airflow (scripts/airflow_standalone.sh) executes the runs; follow them in the
# UI. A day's logical date is the day at the cron time (02:00 UTC by default), so the
# window ends at TO 23:59:59 to include TO itself.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 FROM TO [airflow backfill create options]" >&2
    exit 2
fi
FROM="$1"
TO="$2"
shift 2
exec "$(dirname "${BASH_SOURCE[0]}")/airflow.sh" backfill create --dag-id tailor_nightly \
    --from-date "$FROM" --to-date "${TO}T23:59:59" --max-active-runs 1 "$@"
