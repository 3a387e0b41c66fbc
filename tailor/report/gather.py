"""What a run report shows, read from an open database (only reads), the stage results and
the run log: ``ReportReader`` answers one question per method (the day's load, its
validation results, its anomalies, its models, ...) with plain rows; the HTML is written
elsewhere (``tailor.report.sections``)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tailor.runlog import RUN_LOG_TABLE
from tailor.settings import Settings

if TYPE_CHECKING:
    import duckdb

ANOMALIES_TABLE = "ops.anomalies"
METRICS_TABLE = "ops.metrics"
ANOMALY_CHART_DAYS = 35  # days of a flagged series drawn beside it
RECOMMENDATION_TASKS = ("recommendation", "recommendations")
NDCG_KEY = "ndcg@10"
NDCG_HISTORY_RUNS = 90  # run dates shown in the NDCG@10 plot
SCHEMA_ORDER = ("raw", "staging", "intermediate", "marts", "ml", "ops", "seeds")
RFM_TABLE = "marts.customer_rfm"
# the columns of ops.export_log shown (those the table has), with their headings
EXPORT_COLUMNS = (
    ("destination", "destination"),
    ("audience_id", "audience"),
    ("format", "format"),
    ("mode", "mode"),
    ("status", "status"),
    ("members", "members"),
    ("exported_members", "at destination"),
    ("rows_written", "rows written"),
    ("adds", "adds"),
    ("updates", "updates"),
    ("removes", "removes"),
    ("held_out_control", "control held out"),
    ("excluded_no_consent", "no consent"),
    ("excluded_capped", "capped"),
    ("excluded_erased", "erased"),
    ("error", "error"),
)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    # always fetch everything: an unfinished result blocks the next query (DuckDB 2)
    return con.execute(sql, list(params)).fetchall()


def relations(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """``schema.table`` -> table type, for every table and view of the open database."""
    return {
        f"{s}.{t}": kind
        for s, t, kind in _rows(
            con,
            "select table_schema, table_name, table_type from information_schema.tables"
            " where table_catalog = current_database()",
        )
    }


def _columns(con: duckdb.DuckDBPyConnection, name: str) -> set[str]:
    schema, tbl = name.split(".", 1)
    return {
        c
        for (c,) in _rows(
            con,
            "select column_name from information_schema.columns where table_catalog ="
            " current_database() and table_schema = ? and table_name = ?",
            [schema, tbl],
        )
    }


def _q(name: str) -> str:
    schema, tbl = name.split(".", 1)
    return f'"{schema}"."{tbl}"'


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _run_log_path(settings: Settings) -> Path:
    from tailor.runlog import run_log_path

    return run_log_path(settings)


class ReportReader:
    """The facts of one day's report: the open database (read only), the settings (for the
    run log file and the validation reports), and what the run passed in (``timings``,
    ``results``, ``status``)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        day: dt.date,
        settings: Settings,
        *,
        timings: Mapping[str, float] | None,
        results: Mapping[str, Any] | None,
        status: str | None,
    ):
        self.con = con
        self.day = day
        self.s = settings
        self.timings = dict(timings or {})
        self.results = dict(results or {})
        self.status = status
        self.rel = relations(con)

    def has(self, name: str) -> bool:
        return name in self.rel

    def nonempty(self, name: str) -> bool:
        return self.has(name) and bool(_rows(self.con, f"select 1 from {_q(name)} limit 1"))

    # ------------------------------------------------------------------ the run

    def run_events(self, limit: int) -> list[dict[str, Any]]:
        """The latest run log events, newest first: ops.run_log if the database has it
        (plus any newer lines of the file), else the file."""
        if hasattr(self, "_events_cache"):
            return self._events_cache[:limit]
        events: dict[str, dict[str, Any]] = {}
        if self.has(RUN_LOG_TABLE):
            for (rec,) in _rows(self.con, f"select record from {RUN_LOG_TABLE}"):
                e = _json(rec)
                if isinstance(e, dict):
                    events[json.dumps(e, sort_keys=True, default=str)] = e
        path = _run_log_path(self.s)
        if path.exists():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                with contextlib.suppress(ValueError):
                    e = json.loads(line)
                    if isinstance(e, dict):
                        events[json.dumps(e, sort_keys=True, default=str)] = e
        ordered = sorted(events.values(), key=lambda e: str(e.get("at") or ""), reverse=True)
        self._events_cache = ordered
        return ordered[:limit]

    def run_status(self) -> str:
        if self.status:
            return self.status
        events = [
            e
            for e in self.run_events(200)
            if e.get("day") == self.day.isoformat() and str(e.get("status", "")).startswith("run_")
        ]
        if events:
            return str(events[0]["status"]).removeprefix("run_")
        if self.timings or self.results:
            return "succeeded"
        # A run writes on a private copy that replaces the warehouse only when every stage
        # passed, so the day's results of the last gate mean the run committed.
        if self.has("ops.validation_results"):
            (gates,) = _rows(
                self.con,
                "select count(distinct layer) from ops.validation_results where run_date = ?"
                " and layer = 'ml'",
                [self.day],
            )[0]
            if gates:
                return "succeeded"
        if self.has("raw.load_log") and _rows(
            self.con, "select 1 from raw.load_log where _dt = ? limit 1", [self.day]
        ):
            return "loaded (no run record)"
        return "no run recorded"

    def run_id_of_day(self) -> str | None:
        """The Airflow run id of the day's latest event, if any."""
        ids = [
            e.get("dag_run_id")
            for e in self.run_events(200)
            if e.get("day") == self.day.isoformat() and e.get("dag_run_id")
        ]
        return ids[0] if ids else None

    def model_warnings(self) -> list[str]:
        """The day's models that did not serve as planned: a recommendation run that fell
        back to popularity, a model the job skipped (``ml.model_runs``), with the reason."""
        if not self.nonempty("ml.model_runs"):
            return []
        rows = _rows(
            self.con,
            "select task, model, status, message from ml.model_runs"
            " where run_date = ? and status in ('fallback', 'skipped') order by task, model",
            [self.day],
        )
        return [
            f"{task} {status} ({model}): {message or 'no reason recorded'}"
            for task, model, status, message in rows
        ]

    def exports_held(self) -> str | None:
        """Why the night's exports were held, if they were (stage results or run log)."""
        for name in ("export", "anomalies"):
            r = self.results.get(name)
            if isinstance(r, Mapping) and (r.get("status") == "held" or r.get("hold_exports")):
                return str(r.get("reason") or r.get("held_because") or "anomalies")
        for e in self.run_events(200):
            if e.get("day") == self.day.isoformat() and e.get("status") == "exports_held":
                return str(e.get("error") or "anomalies")
        return None

    # ------------------------------------------------------------------ anomalies

    def anomalies(self) -> list[tuple]:
        """The day's anomalies, critical and highest scores first."""
        return _rows(
            self.con,
            f"""
            select metric, dimension, dimension_value, observed, expected, lower_bound,
                   upper_bound, severity, score, history_days, metric_stage
            from {ANOMALIES_TABLE} where run_date = ?
            order by severity = 'critical' desc, score desc, metric, dimension, dimension_value
            """,
            [self.day],
        )

    def metric_history(self) -> dict[tuple, list[tuple[dt.date, float]]]:
        """(metric, dimension, value) -> its (day, value) points over the chart's days."""
        history: dict[tuple, list[tuple[dt.date, float]]] = {}
        if self.has(METRICS_TABLE):
            for metric, dim, value, d, x in _rows(
                self.con,
                f"""
                select metric, dimension, dimension_value, run_date, value
                from {METRICS_TABLE}
                where run_date between ? and ? order by run_date
                """,
                [self.day - dt.timedelta(days=ANOMALY_CHART_DAYS), self.day],
            ):
                history.setdefault((metric, dim, value), []).append((d, x))
        return history

    # ------------------------------------------------------------------ load and counts

    def load_by_source(self) -> list[tuple]:
        """(source, files, read, loaded, quarantined, bytes) of the day, from raw.load_log."""
        if not self.nonempty("raw.load_log"):
            return []
        return _rows(
            self.con,
            """
            select source, count(*), sum(rows_read), sum(rows_loaded),
                   sum(rows_quarantined), sum(file_bytes)
            from raw.load_log where _dt = ? group by 1 order by 1
            """,
            [self.day],
        )

    def quarantine_by_reason(self) -> list[tuple]:
        """(source, reason code, records) quarantined on the day."""
        if not self.nonempty("raw.quarantine"):
            return []
        return _rows(
            self.con,
            "select source, reason_code, count(*) from raw.quarantine where _dt = ?"
            " group by all order by 3 desc, 1, 2",
            [self.day],
        )

    def tables(self) -> list[str]:
        """The base tables, in layer order."""
        tables = [n for n, kind in self.rel.items() if kind == "BASE TABLE"]
        order = {s: i for i, s in enumerate(SCHEMA_ORDER)}
        tables.sort(key=lambda n: (order.get(n.split(".")[0], 99), n))
        return tables

    def table_count(self, name: str) -> tuple[int, int | None]:
        """A table's rows, and its rows of the day when it has a ``_dt`` or ``run_date``."""
        (n,) = _rows(self.con, f"select count(*) from {_q(name)}")[0]
        cols = _columns(self.con, name)
        day_col = "_dt" if "_dt" in cols else "run_date" if "run_date" in cols else None
        of_day = None
        if day_col:
            (of_day,) = _rows(
                self.con, f"select count(*) from {_q(name)} where {day_col} = ?", [self.day]
            )[0]
        return n, of_day

    # ------------------------------------------------------------------ validation

    def validation_rows(self) -> tuple[list[dict[str, Any]], list[str]]:
        """One dict per expectation of the day, from ops.validation_results, or (for a
        layer missing there, e.g. a failed run whose working copy was thrown away) from
        the JSON report the runner writes beside the Data Docs."""
        from expectations.runner import LAYERS

        out: list[dict[str, Any]] = []
        notes: list[str] = []
        found: set[str] = set()
        if self.has("ops.validation_results"):
            cols = (
                "layer, suite, table_name, expectation, column_name, description, severity,"
                " success, observed_value, element_count, unexpected_count, unexpected_percent,"
                " sample_unexpected, exception, run_id"
            )
            for r in _rows(
                self.con,
                f"select {cols} from ops.validation_results where run_date = ?"
                " order by layer, suite, expectation, column_name",
                [self.day],
            ):
                d = dict(zip([c.strip() for c in cols.split(",")], r, strict=True))
                d["observed_value"] = _json(d["observed_value"])
                d["sample_unexpected"] = _json(d["sample_unexpected"])
                out.append(d)
                found.add(d["layer"])
        for layer in LAYERS:
            if layer in found:
                continue
            path = self.s.reports / "validation" / self.day.isoformat() / f"{layer}.json"
            if not path.exists():
                continue
            with contextlib.suppress(ValueError, OSError):
                doc = json.loads(path.read_text())
                for o in doc.get("outcomes", []):
                    out.append(
                        {
                            "layer": layer,
                            "suite": o.get("suite"),
                            "table_name": o.get("table"),
                            "expectation": o.get("expectation"),
                            "column_name": o.get("column"),
                            "description": o.get("description"),
                            "severity": o.get("severity"),
                            "success": bool(o.get("success")),
                            "observed_value": o.get("observed_value"),
                            "element_count": o.get("element_count"),
                            "unexpected_count": o.get("unexpected_count"),
                            "unexpected_percent": o.get("unexpected_percent"),
                            "sample_unexpected": o.get("sample"),
                            "exception": o.get("exception"),
                            "run_id": doc.get("run_id"),
                        }
                    )
                notes.append(f"{layer}: from {path.relative_to(self.s.reports)}")
        return out, notes

    # ------------------------------------------------------------------ ML

    def segments(self) -> list[tuple]:
        """The day's segment profiles, largest first."""
        return _rows(
            self.con,
            """
            select segment_id, segment_name, size, share, is_new, description, top_categories,
                   centroid
            from ml.segment_profiles where run_date = ? order by size desc, segment_id
            """,
            [self.day],
        )

    def customers_moved(self) -> int | None:
        """Customers who changed segment since the previous run (None: no transitions)."""
        if not self.has("ml.segment_transitions"):
            return None
        (moved,) = _rows(
            self.con,
            "select coalesce(sum(customers), 0) from ml.segment_transitions where run_date = ?"
            " and from_segment_id is not null and to_segment_id is not null"
            " and from_segment_id <> to_segment_id",
            [self.day],
        )[0]
        return moved

    def rfm_as_of(self) -> dt.date | None:
        (as_of,) = _rows(self.con, f"select max(as_of_date) from {RFM_TABLE}")[0]
        return as_of

    def rfm_distribution(self) -> list[tuple]:
        """(RFM segment, customers, avg recency, avg orders, avg monetary, total monetary)."""
        return _rows(
            self.con,
            f"""
            select coalesce(rfm_segment, '(unmapped)'), count(*), avg(recency_days),
                   avg(frequency), avg(monetary), sum(monetary)
            from {RFM_TABLE} group by 1 order by 2 desc, 1
            """,
        )

    def rfm_cells(self) -> dict[tuple[int, int], int]:
        """(R score, F score) -> customers."""
        return {
            (int(r), int(f)): n
            for r, f, n in _rows(
                self.con,
                f"select r_score, f_score, count(*) from {RFM_TABLE}"
                " where r_score is not null and f_score is not null group by all",
            )
        }

    def model_runs(self) -> list[tuple]:
        """(task, model, status, metrics, message, params) of the day, the chosen first."""
        return _rows(
            self.con,
            """
            select
                task || coalesce(' ' || (data_window->>'horizon_days') || 'd', '') as task,
                model, status, metrics, message, params
            from ml.model_runs where run_date = ?
            order by 1, case status when 'chosen' then 0 when 'baseline' then 1 else 2 end,
                     model
            """,
            [self.day],
        )

    def ndcg_history(self) -> list[tuple]:
        """(run date, model, status, NDCG@10) of the recommendation runs up to the day."""
        marks = ", ".join("?" for _ in RECOMMENDATION_TASKS)
        return _rows(
            self.con,
            f"""
            with runs as (
                select run_date, model, status,
                       try_cast(json_extract_string(metrics, '$."{NDCG_KEY}"') as double) as v
                from ml.model_runs
                where task in ({marks}) and run_date <= ?
            ),
            days as (
                select distinct run_date from runs where v is not null
                order by run_date desc limit {NDCG_HISTORY_RUNS}
            )
            select run_date, model, status, v from runs
            where v is not null and run_date in (select run_date from days)
            order by run_date, model
            """,
            [*RECOMMENDATION_TASKS, self.day],
        )

    # ------------------------------------------------------------------ exports

    def export_columns(self) -> list[tuple[str, str]] | None:
        """The (column, heading) pairs of ops.export_log to show, None if its shape is
        unknown (no run_date, none of the columns)."""
        cols = _columns(self.con, "ops.export_log")
        wanted = [(c, h) for c, h in EXPORT_COLUMNS if c in cols]
        if not wanted or "run_date" not in cols:
            return None
        return wanted

    def exports(self, wanted: Sequence[tuple[str, str]]) -> list[tuple]:
        return _rows(
            self.con,
            f"select {', '.join(c for c, _ in wanted)} from ops.export_log where run_date = ?"
            f" order by 1",
            [self.day],
        )
