"""The run report's sections as HTML, from the facts a ``ReportReader`` gathers: the
run, anomalies, row counts, the day's load, validation, exports, recent runs and links to
the documentation (the ML sections are in ``tailor.report.ml_sections``). A section that
fails says so in its place; the rest of the report is still written."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tailor.report.charts import sparkline_svg
from tailor.report.gather import ANOMALIES_TABLE, ANOMALY_CHART_DAYS, SCHEMA_ORDER, ReportReader
from tailor.report.markup import _pct, _short, esc, fmt, na, status_class, table
from tailor.report.ml_sections import models_section, rfm_section, segments_section
from tailor.settings import Settings

if TYPE_CHECKING:
    import duckdb

RUNS_DIR = "runs"
RECENT_RUN_EVENTS = 25


def _layer_order(layer: str) -> tuple[int, str]:
    return (SCHEMA_ORDER.index(layer) if layer in SCHEMA_ORDER else 99, layer)


@dataclasses.dataclass
class Section:
    key: str
    title: str
    body: str


@dataclasses.dataclass
class ReportData:
    """What a report is made of; ``summary`` goes to ``summary.json`` for the index."""

    day: dt.date
    sections: list[Section]
    summary: dict[str, Any]


class _Builder:
    """One day's report section by section: the facts from a ``ReportReader``, the HTML
    here, and in ``summary`` what the runs index shows."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        day: dt.date,
        settings: Settings,
        out_dir: Path,
        *,
        timings: Mapping[str, float] | None,
        results: Mapping[str, Any] | None,
        status: str | None,
        run_id: str | None,
        database: Path | None,
    ):
        self.data = ReportReader(
            con, day, settings, timings=timings, results=results, status=status
        )
        self.day = day
        self.s = settings
        self.out_dir = out_dir
        self.timings = self.data.timings
        self.results = self.data.results
        self.run_id = run_id
        self.database = database
        self.summary: dict[str, Any] = {"day": day.isoformat()}

    def link(self, target: Path) -> str:
        return Path(os.path.relpath(target, self.out_dir)).as_posix()

    # ------------------------------------------------------------------ sections

    def build(self) -> ReportData:
        sections = []
        for key, title, fn in (
            ("run", "Run", self.run_section),
            ("anomalies", "Anomalies", self.anomalies_section),
            ("counts", "Row counts per layer", self.counts_section),
            ("load", "The day's load", self.load_section),
            ("validation", "Validation", self.validation_section),
            ("segments", "Segments", lambda: segments_section(self.data, self.summary)),
            ("rfm", "RFM segments", lambda: rfm_section(self.data, self.summary)),
            ("models", "Model metrics", lambda: models_section(self.data, self.summary)),
            ("exports", "Exports", self.exports_section),
            ("runs", "Recent runs", self.recent_runs_section),
            ("docs", "Documentation", self.docs_section),
        ):
            try:
                body = fn()
            except Exception as exc:  # a broken section must not cost the whole report
                body = na(f"not available: {type(exc).__name__}: {_short(str(exc), 300)}")
            sections.append(Section(key, title, body))
        return ReportData(self.day, sections, self.summary)

    def run_section(self) -> str:
        status = self.data.run_status()
        warnings = self.data.model_warnings()
        if warnings and status in ("succeeded", "success"):
            status = "warning"  # the run committed, but not every model served
        self.summary["status"] = status
        if warnings:
            self.summary["model_warnings"] = warnings
        run_id = self.run_id or self.data.run_id_of_day()
        self.summary["run_id"] = run_id
        head = [
            ("day", self.day),
            ("status", status),
            ("run id", run_id or "not recorded"),
            ("database", self.database.name if self.database else "not given"),
            (
                "generated at (UTC)",
                dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0),
            ),
        ]
        total = sum(self.timings.values())
        if self.timings:
            head.append(("run time", f"{total:,.1f} s"))
        cls = status_class(status)
        out = ['<dl class="kv">']
        for k, v in head:
            extra = f' class="status {cls}"' if k == "status" else ""
            out.append(f"<dt>{esc(k)}</dt><dd{extra}>{esc(v)}</dd>")
        out.append("</dl>")
        if warnings:
            out.append(
                '<ul class="warn">' + "".join(f"<li>{esc(w)}</li>" for w in warnings) + "</ul>"
            )
        if self.timings:
            top = max(self.timings.values()) or 1
            rows = [
                (
                    name,
                    f"{secs:,.1f}",
                    f'<span class="meter" style="width:{120 * secs / top:.0f}px"></span>',
                    _short(self.results.get(name), 160) if name in self.results else "",
                )
                for name, secs in self.timings.items()
            ]
            out.append("<h3>Stage timings</h3>")
            out.append(
                table(["stage", "seconds", "", "result"], rows, numeric=[1], raw=[2], css="wide")
            )
            self.summary["seconds"] = round(total, 1)
        elif self.results:
            out.append("<h3>Stage results</h3>")
            out.append(
                table(["stage", "result"], [(k, _short(v, 200)) for k, v in self.results.items()])
            )
        else:
            out.append(na("stage timings not available (the report was not written by the run)"))
        slowest = (self.results.get("dbt_build") or {}) if self.results else {}
        if isinstance(slowest, Mapping) and slowest.get("slowest"):
            out.append("<details><summary>slowest dbt nodes</summary>")
            out.append(
                table(
                    ["node", "seconds"],
                    [tuple(x) for x in slowest["slowest"]],
                    numeric=[1],
                )
            )
            out.append("</details>")
        return "".join(out)

    def anomalies_section(self) -> str:
        out = []
        held = self.data.exports_held()
        if held:
            self.summary["exports_held"] = True
            out.append(
                f'<p class="bad held">EXPORTS HELD for {esc(self.day)}: nothing was exported'
                f" tonight. {esc(_short(held, 600))}</p>"
            )
        if not self.data.has(ANOMALIES_TABLE):
            return "".join(out) + na("not available: no ops.anomalies (the stage has not run)")
        rows = self.data.anomalies()
        self.summary["anomalies"] = len(rows)
        stage = self.results.get("anomalies")
        judged = stage.get("series_judged") if isinstance(stage, Mapping) else None
        if not rows:
            what = f"no anomalies on {self.day}"
            if judged is not None:
                what += f" ({fmt(judged)} series judged)"
            return "".join(out) + f"<p>{esc(what)}.</p>"
        history = self.data.metric_history()
        body = []
        for metric, dim, value, observed, expected, lower, upper, sev, score, days, kind in rows:
            series = "" if dim == "all" else f"{dim} = {value}"
            low = fmt(lower) if math.isfinite(lower) else "-inf"
            high = fmt(upper) if math.isfinite(upper) else "inf"
            chart = sparkline_svg(
                history.get((metric, dim, value), []),
                day=self.day,
                lower=lower,
                upper=upper,
                title=f"{metric} {series}".strip(),
            )
            body.append(
                (
                    metric,
                    series or "all",
                    kind,
                    f'<span class="sev {esc(sev)}">{esc(sev)}</span>',
                    observed,
                    expected,
                    f"{low} .. {high}",
                    score,
                    days,
                    chart,
                )
            )
        out.append(
            table(
                [
                    "metric",
                    "series",
                    "from",
                    "severity",
                    "observed",
                    "expected",
                    "expected range",
                    "score",
                    "history (days)",
                    f"last {ANOMALY_CHART_DAYS} days",
                ],
                body,
                numeric=[4, 5, 7, 8],
                raw=[3, 9],
                css="wide",
            )
        )
        return "".join(out)

    def load_section(self) -> str:
        out = []
        rows = self.data.load_by_source()
        if rows:
            read = sum(r[2] for r in rows)
            loaded = sum(r[3] for r in rows)
            quarantined = sum(r[4] for r in rows)
            self.summary.update(rows_read=read, rows_loaded=loaded, rows_quarantined=quarantined)
            body = [(*r[:5], _pct(r[4], r[2]), r[5]) for r in rows]
            body.append(
                (
                    "total",
                    sum(r[1] for r in rows),
                    read,
                    loaded,
                    quarantined,
                    _pct(quarantined, read),
                    sum(r[5] for r in rows),
                )
            )
            out.append(
                table(
                    ["source", "files", "read", "loaded", "quarantined", "quarantined %", "bytes"],
                    body,
                    numeric=range(1, 7),
                    css="totals",
                )
            )
            ok = read == loaded + quarantined
            out.append(
                f'<p class="{"ok" if ok else "bad"}">read {esc(read)} = loaded {esc(loaded)}'
                f" + quarantined {esc(quarantined)}: {'reconciled' if ok else 'MISMATCH'}</p>"
            )
        else:
            out.append(na(f"no files loaded for {self.day} (raw.load_log)"))
        out.append("<h3>Quarantine by reason</h3>")
        q = self.data.quarantine_by_reason()
        if q:
            out.append(table(["source", "reason code", "records"], q, numeric=[2]))
            self.summary["quarantine_by_reason"] = {f"{s}/{c}": n for s, c, n in q}
        else:
            out.append(na(f"nothing quarantined for {self.day}"))
        return "".join(out)

    def counts_section(self) -> str:
        tables = self.data.tables()
        if not tables:
            return na("the database has no tables")
        out, by_schema = [], {}
        for name in tables:
            n, of_day = self.data.table_count(name)
            by_schema.setdefault(name.split(".")[0], []).append((name, n, of_day))
        self.summary["rows_per_layer"] = {s: sum(n for _, n, _ in v) for s, v in by_schema.items()}
        layer_rows = [(s, len(v), sum(n for _, n, _ in v)) for s, v in by_schema.items()]
        out.append(table(["layer (schema)", "tables", "rows"], layer_rows, numeric=[1, 2]))
        for schema, items in by_schema.items():
            out.append(f"<details><summary>{esc(schema)}: {esc(len(items))} tables</summary>")
            out.append(
                table(
                    ["table", "rows", f"rows of {self.day} (_dt / run_date)"],
                    [(t, n, "" if d is None else d) for t, n, d in items],
                    numeric=[1, 2],
                )
            )
            out.append("</details>")
        return "".join(out)

    # validation -----------------------------------------------------------

    def validation_section(self) -> str:
        rows, notes = self.data.validation_rows()
        out = []
        docs = self.s.reports / "data_docs" / "index.html"
        if docs.exists():
            out.append(
                f'<p>Great Expectations Data Docs: <a href="{esc(self.link(docs))}">'
                "data_docs/index.html</a></p>"
            )
        if not rows:
            self.summary["validation"] = None
            return "".join(out) + na(f"no validation results for {self.day}")
        groups: dict[tuple[str, str], list[int]] = {}
        for r in rows:
            g = groups.setdefault((r["layer"], r["suite"]), [0, 0, 0, 0])
            g[0] += 1
            if r["success"]:
                g[1] += 1
            elif r["severity"] == "critical":
                g[2] += 1
            else:
                g[3] += 1
        failed = [r for r in rows if not r["success"]]
        critical = sum(1 for r in failed if r["severity"] == "critical")
        self.summary["validation"] = {
            "expectations": len(rows),
            "passed": len(rows) - len(failed),
            "critical_failures": critical,
            "warnings": len(failed) - critical,
        }
        layers: dict[str, list[int]] = {}
        for (layer, _), g in groups.items():
            t = layers.setdefault(layer, [0, 0, 0, 0])
            for i in range(4):
                t[i] += g[i]
        out.append(
            f'<p class="{"bad" if critical else "ok"}">{esc(len(rows))} expectations: '
            f"{esc(len(rows) - len(failed))} passed, {esc(critical)} critical failures, "
            f"{esc(len(failed) - critical)} warnings</p>"
        )
        out.append(
            table(
                ["layer", "expectations", "passed", "failed (critical)", "failed (warning)"],
                [(k, *layers[k]) for k in sorted(layers, key=_layer_order)],
                numeric=[1, 2, 3, 4],
            )
        )
        out.append("<details><summary>per suite</summary>")
        out.append(
            table(
                ["layer", "suite", "expectations", "passed", "critical", "warning"],
                [(*k, *v) for k, v in groups.items()],
                numeric=[2, 3, 4, 5],
            )
        )
        out.append("</details>")
        if notes:
            out.append(na("; ".join(notes)))
        out.append("<h3>Failed expectations</h3>")
        if not failed:
            out.append(na("none: every expectation passed"))
        else:
            failed.sort(key=lambda r: (r["severity"] != "critical", r["layer"], r["suite"]))
            body = []
            for r in failed:
                name = r["expectation"] + (f"({r['column_name']})" if r["column_name"] else "")
                unexpected = ""
                if r["unexpected_count"] is not None:
                    unexpected = fmt(r["unexpected_count"])
                    if r["element_count"] is not None:
                        unexpected += f" of {fmt(r['element_count'])}"
                    if r["unexpected_percent"] is not None:
                        unexpected += f" ({r['unexpected_percent']:.2f}%)"
                sev = esc(r["severity"])
                body.append(
                    (
                        f'<span class="sev {sev}">{sev}</span>',
                        r["table_name"],
                        name,
                        r["description"] or "",
                        _short(r["observed_value"], 200),
                        unexpected,
                        _short(r["sample_unexpected"], 300) if r["sample_unexpected"] else "",
                        _short(r["exception"], 200) if r["exception"] else "",
                    )
                )
            out.append(
                table(
                    [
                        "severity",
                        "table",
                        "expectation",
                        "what it checks",
                        "observed",
                        "unexpected",
                        "sample",
                        "error",
                    ],
                    body,
                    raw=[0],
                    css="wide failures",
                )
            )
        return "".join(out)

    def exports_section(self) -> str:
        if not self.data.has("ops.export_log"):
            return na("not available: no ops.export_log")
        wanted = self.data.export_columns()
        if wanted is None:
            return na("not available: ops.export_log has an unknown shape")
        rows = self.data.exports(wanted)
        if not rows:
            return na(f"no exports for {self.day}")
        numeric = [
            i
            for i, (c, _) in enumerate(wanted)
            if c not in ("destination", "audience_id", "format", "mode", "status", "error")
        ]
        statuses: dict[str, int] = {}
        names = [c for c, _ in wanted]
        si = names.index("status") if "status" in names else None
        for r in rows:
            if si is not None:
                statuses[r[si]] = statuses.get(r[si], 0) + 1
        self.summary["exports"] = statuses
        return table([h for _, h in wanted], rows, numeric=numeric, css="wide")

    def recent_runs_section(self) -> str:
        events = self.data.run_events(RECENT_RUN_EVENTS)
        if not events:
            return na("not available: the run log is empty (only Airflow runs record events)")
        body = []
        for e in events:
            status = str(e.get("status") or "")
            cls = "ok" if "succeeded" in status else "bad" if "failed" in status else ""
            body.append(
                (
                    e.get("at"),
                    e.get("day"),
                    f'<span class="st {cls}">{esc(status)}</span>',
                    e.get("task_id") or "",
                    e.get("try_number") or "",
                    e.get("dag_run_id") or "",
                    _short(e.get("error"), 200) if e.get("error") else "",
                )
            )
        return table(
            ["at (UTC)", "day", "status", "task", "try", "run id", "error"],
            body,
            raw=[2],
            css="wide",
        )

    def docs_section(self) -> str:
        links = []
        for label, path in (
            ("dbt docs", self.s.reports / "dbt_docs" / "index.html"),
            ("Great Expectations Data Docs", self.s.reports / "data_docs" / "index.html"),
            ("all run reports", self.s.reports / RUNS_DIR / "index.html"),
        ):
            if path.exists() or label == "all run reports":
                links.append(f'<li><a href="{esc(self.link(path))}">{esc(label)}</a></li>')
            else:
                links.append(f"<li>{esc(label)}: not available</li>")
        return "<ul>" + "".join(links) + "</ul>"
