"""
# tailor_nightly

The nightly run of the Tailor warehouse for one **logical day D** (the same D as
`tailor run --date D`). The run for D has logical date D at the cron time and starts once
that day is over, at the cron time on D+1 (`TAILOR_SCHEDULE_CRON`, default `0 2 * * *`,
UTC).

| task | what it does |
| --- | --- |
| `wait_for_landing` | waits (with a timeout, in the one-slot pool `tailor_landing`) for D's landing partition (`<landing>/events/dt=D/`) and for the run of the previous logical date to finish; skips the run at once when D's files are not on their way (see **Start**) |
| `begin_run` | copies the warehouse to the run's private working file (id = D) |
| one task per stage of `tailor.pipeline.STAGES` | load raw, validate, dbt build, ML, anomalies, exports ... all on the working copy |
| `commit_run` | swaps the working copy in as the warehouse (atomic rename), unless another day was committed since `begin_run` |
| `publish_snapshot` | copies the warehouse to the read-only analyst snapshot (atomic rename) |
| `publish_dbt_docs` | dbt docs as one static page, `<reports>/dbt_docs/index.html` |
| `write_report` | the run report, `<reports>/runs/D/index.html` (counts, quarantine, validation, segments, RFM, models, exports) |

**Start.** The schedule begins at the first day in the landing zone (`TAILOR_START_DATE`
overrides it). Unpausing creates a run for the newest finished day by the clock; when that
day has no landing files and none are on their way (more than `TAILOR_LANDING_MAX_LAG_DAYS`,
default 1, after the newest landed day, or a gap before later landed days, or an empty
landing zone), `wait_for_landing` ends at once as *skipped*, with the reason in its log and
in the run log, and the rest of the run is skipped, so the only run slot is free again for
a day you trigger (`scripts/airflow.sh dags trigger tailor_nightly --logical-date
2026-10-23T02:00:00+00:00`, or *Trigger* in the UI with that logical date).

**Failures.** The warehouse and the analysts' snapshot change only at `commit_run` and
`publish_snapshot`, so a failure at any step leaves them exactly as they were. Outside
the warehouse, the `export` stage (the last one, after the output gate) writes day D's
files under `dt=D/` and calls webhooks with idempotency keys: a rerun of D writes the same
bytes and sends the same keys, so a failure after it is repaired by running D again. Each
failure is appended to `<TAILOR_DATA>/runs/run_log.jsonl` and, when
`TAILOR_ALERT_WEBHOOK` is set, posted there.

**Anomalies.** The `anomalies` task (after the output gate, before `export`) writes the
day's metric series to `ops.metrics`, judges each against the past weeks (thresholds in
`config/tailor.yml`, section `anomalies`) and writes what it flags to `ops.anomalies`, the
run log and `TAILOR_ALERT_WEBHOOK`. With `anomalies.hold_exports: true`, a critical
anomaly on an input metric makes `export` skip with status `held` (XCom, run log, report).

**Retrying.** Clear a failed task to resume on the run's working copy (every stage
replaces only day D's data). Clear the whole run to start again from a fresh copy. A failed
run's working copy stays until the day is run again or another day commits.

**One writer.** DuckDB allows one writer per file: `max_active_runs=1`, and every task that
opens the warehouse runs in the one-slot pool `tailor_warehouse`.

**Backfill.** `scripts/airflow_backfill.sh D1 D2` runs D1..D2 night by night, like
`tailor run --nightly --from D1 --to D2`: Airflow's backfill makes one run per logical
date, each a whole night (ML models, report and exports of that day). A history is
cheaper in one pass outside Airflow: `tailor run --from D1 --to D2` (one dbt build and
one ML run as of D2, each day's segment-history snapshot, no exports unless `--export`),
then the schedule from D2 + 1 (`TAILOR_START_DATE`). The backfill is
`airflow backfill create --dag-id tailor_nightly --from-date D1 --to-date D2T23:59:59 --max-active-runs 1`:
a day's logical date is D at the cron time, so `--to-date D2` alone would stop before D2.
Backfills ignore the DAG's `max_active_runs` (the UI offers 10 runs at once); then
`wait_for_landing` holds each day until the previous one has finished, so the runs still
commit one after the other.
"""

from __future__ import annotations

from airflow.sdk import DAG, Asset, CronDataIntervalTimetable, task
from airflow.sdk.exceptions import AirflowSkipException

from tailor import orchestration as orch
from tailor.pipeline import DBT_AUDIENCES_SELECT, DBT_CORE_SELECT, STAGES
from tailor.sources import SOURCES

opts = orch.DagOptions.from_env()
# The stages that run dbt: their task documentation lists the models they build.
DBT_STAGES = {"dbt_build": DBT_CORE_SELECT, "dbt_audiences": DBT_AUDIENCES_SELECT}

# The main tables change when a run commits; analysts see them when the snapshot is published.
WAREHOUSE_TABLES = [
    Asset(name=f"tailor.{table}", uri=f"x-tailor://warehouse/{table}", group="tailor")
    for table in [f"raw.{name}" for name in SOURCES] + list(orch.MAIN_TABLES)
]
SNAPSHOT = Asset(name="tailor.snapshot", uri="x-tailor://snapshot", group="tailor")

default_args = {
    "owner": "tailor",
    "retries": opts.retries,
    "retry_delay": opts.retry_delay,
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": opts.max_retry_delay,
    "execution_timeout": opts.task_timeout,
    "on_failure_callback": orch.on_task_failure,
}

with DAG(
    dag_id=orch.DAG_ID,
    description="Nightly run of the Tailor warehouse for one logical day",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable(opts.cron, timezone="UTC"),
    start_date=opts.start_date,
    catchup=opts.catchup,
    max_active_runs=1,
    dagrun_timeout=opts.run_timeout,
    default_args=default_args,
    on_failure_callback=orch.on_run_failure,
    on_success_callback=orch.on_run_success,
    tags=["tailor", "nightly", "duckdb"],
) as dag:

    @task.sensor(
        task_id="wait_for_landing",
        mode="poke",
        pool=orch.LANDING_POOL,
        poke_interval=opts.landing_poke,
        timeout=opts.landing_timeout,
        execution_timeout=opts.landing_timeout + opts.landing_poke * 2,
        doc_md="Waits until the logical day's landing partition exists for "
        + ", ".join(opts.landing_sources)
        + " (`TAILOR_LANDING_SOURCES`) and the run of the previous logical date is not"
        " running any more (backfills start several days at once).",
    )
    def wait_for_landing(logical_date=None, ti=None) -> bool:
        previous = ti.get_previous_dagrun()
        day = orch.logical_day(logical_date)
        try:
            return orch.ready_to_start(
                day,
                opts.landing_sources,
                (previous.run_id, previous.state) if previous else None,
                max_lag_days=opts.landing_max_lag_days,
            )
        except orch.NoLandingDataError as exc:
            orch.record_skip(day, ti.run_id, str(exc))
            raise AirflowSkipException(str(exc)) from exc

    @task(task_id="begin_run", pool=orch.WAREHOUSE_POOL, doc_md=orch.begin.__doc__)
    def begin_run(logical_date=None) -> dict:
        return orch.begin(orch.logical_day(logical_date))

    def stage_task(name: str, stage, earlier: list[str]):
        doc = stage.__doc__ or f"Stage `{name}` of `tailor.pipeline.STAGES`."
        if name in DBT_STAGES:
            doc += orch.dbt_models_doc(DBT_STAGES[name])

        @task(task_id=name, pool=orch.WAREHOUSE_POOL, doc_md=doc)
        def run_stage(logical_date=None, ti=None):
            previous = {n: ti.xcom_pull(task_ids=n) for n in earlier}
            return orch.run_stage(name, orch.logical_day(logical_date), previous)

        return run_stage()

    @task(
        task_id="commit_run",
        pool=orch.WAREHOUSE_POOL,
        outlets=WAREHOUSE_TABLES,
        doc_md=orch.commit.__doc__,
    )
    def commit_run(begun: dict, logical_date=None) -> dict:
        return orch.commit(orch.logical_day(logical_date), begun)

    @task(
        task_id="publish_snapshot",
        pool=orch.WAREHOUSE_POOL,
        outlets=[SNAPSHOT],
        doc_md=orch.publish.__doc__,
    )
    def publish_snapshot() -> str:
        return orch.publish()

    @task(task_id="publish_dbt_docs", pool=orch.WAREHOUSE_POOL, doc_md=orch.publish_docs.__doc__)
    def publish_dbt_docs() -> str:
        return orch.publish_docs()

    @task(task_id="write_report", pool=orch.WAREHOUSE_POOL, doc_md=orch.write_report.__doc__)
    def write_report(logical_date=None, ti=None) -> str:
        results = {name: ti.xcom_pull(task_ids=name) for name, _ in STAGES}
        return orch.write_report(orch.logical_day(logical_date), results, ti.run_id)

    begun = begin_run()
    wait_for_landing() >> begun
    last = begun
    done: list[str] = []
    for name, stage in STAGES:
        current = stage_task(name, stage, list(done))
        last >> current
        last = current
        done.append(name)
    committed = commit_run(begun)
    last >> committed
    committed >> publish_snapshot() >> publish_dbt_docs() >> write_report()
