"""The run report: one static HTML page per nightly run, and the run log as a table.

::

    from tailor import report

    report.write_run_report(day, settings, ctx=ctx)   # <reports>/runs/<day>/index.html
    report.write_runs_index(settings)                 # <reports>/runs/index.html (newest first)
    report.publish_dbt_docs(settings)                 # <reports>/dbt_docs/index.html

A report is one self-contained file: inline CSS, plots drawn as inline SVG here (no
JavaScript, no network, no plotting library), every value HTML-escaped. It reads the
warehouse (or any DuckDB file given, e.g. the published snapshot) read-only after the run:
row counts per layer, the day's load and quarantine, the validation summary with every
failed expectation, the night's anomalies with a small chart of each flagged series (and a
banner when they held the exports), segments, the RFM distribution and heatmap, model
metrics with recommendation NDCG@10 over runs, exports, and the recent run log. Every section says
"not available" when its table is missing or empty, so a report can be written for any
warehouse, even an empty one.

Privacy: the report prints no names or e-mail addresses. The only person-level values it
shows are validation samples as stored in ``ops.validation_results`` (which erasure
scrubs); anything there, or in a run log error, that looks like an e-mail address is
masked anyway.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import html
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tailor.runlog import RUN_LOG_TABLE, load_run_log
from tailor.settings import Settings, get_settings

if TYPE_CHECKING:
    import duckdb

RUNS_DIR = "runs"
SUMMARY_FILE = "summary.json"
ANOMALIES_TABLE = "ops.anomalies"
METRICS_TABLE = "ops.metrics"
ANOMALY_CHART_DAYS = 35  # days of a flagged series drawn beside it
RECOMMENDATION_TASKS = ("recommendation", "recommendations")
NDCG_KEY = "ndcg@10"
NDCG_HISTORY_RUNS = 90  # run dates shown in the NDCG@10 plot
RECENT_RUN_EVENTS = 25
SCHEMA_ORDER = ("raw", "staging", "intermediate", "marts", "ml", "ops", "seeds")
# metrics shown first (in this order) when a model run has them; the rest go in a fold
KEY_METRICS = (
    "ndcg@10",
    "precision@10",
    "recall@10",
    "map@10",
    "hit_rate@10",
    "coverage@10",
    "ndcg@10_lift_vs_popularity",
    "auc",
    "roc_auc",
    "pr_auc",
    "brier",
    "top_decile_lift",
    "silhouette",
    "davies_bouldin",
    "k",
    "n_clusters",
    "users",
    "rows",
)

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_DAY_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PALETTE = ("#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#475569")


# --------------------------------------------------------------------------- formatting


def redact(text: str) -> str:
    """Mask anything that looks like an e-mail address."""
    return _EMAIL.sub("[email]", text)


def esc(value: Any) -> str:
    """A value as escaped HTML text (numbers formatted, e-mail addresses masked)."""
    return html.escape(redact(fmt(value)), quote=True)


def fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value == int(value) and abs(value) < 1e15:
            return f"{int(value):,}"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:,.2f}"
        return f"{value:.4f}"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def _short(value: Any, limit: int = 240) -> str:
    text = fmt(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pct(part: float | None, whole: float | None) -> str:
    if not whole or part is None:
        return ""
    return f"{100.0 * part / whole:.1f}%"


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _layer_order(layer: str) -> tuple[int, str]:
    return (SCHEMA_ORDER.index(layer) if layer in SCHEMA_ORDER else 99, layer)


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    numeric: Iterable[int] = (),
    raw: Iterable[int] = (),
    css: str = "",
) -> str:
    """An HTML table; cells are escaped except the columns in ``raw`` (already HTML)."""
    numeric, raw = set(numeric), set(raw)
    head = "".join(
        f'<th class="num">{esc(h)}</th>' if i in numeric else f"<th>{esc(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            text = v if i in raw else esc(v)
            cells.append(f'<td class="num">{text}</td>' if i in numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cls = f' class="{css}"' if css else ""
    return (
        f'<div class="scroll"><table{cls}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def status_class(status: str) -> str:
    """The CSS class of a run status: ok, warn (committed, but a model fell back or was
    skipped) or bad."""
    if status in ("succeeded", "success"):
        return "ok"
    if status == "warning":
        return "warn"
    return "bad" if "fail" in status else ""


def na(what: str = "not available") -> str:
    return f'<p class="na">{esc(what)}</p>'


# --------------------------------------------------------------------------- SVG plots


def _svg_text(x: float, y: float, text: Any, anchor: str = "start", cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{c}>{esc(text)}</text>'


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return step * exp
    return 10 * exp


def bar_chart_svg(
    labels: Sequence[str], values: Sequence[float], *, title: str, unit: str = ""
) -> str:
    """Horizontal bars, one per label, the value printed at the end of each bar."""
    if not labels:
        return ""
    bar_h, gap, left, right, top = 22, 8, 270, 90, 30
    width = 720
    height = top + len(labels) * (bar_h + gap) + 10
    top_value = max(max(values), 0) or 1
    scale = (width - left - right) / top_value
    parts = [
        f'<svg class="plot" role="img" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{esc(title)}</title>",
        _svg_text(left, 18, title, cls="title"),
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + i * (bar_h + gap)
        w = max(value, 0) * scale
        color = PALETTE[i % len(PALETTE)]
        shown = label if len(label) <= 40 else label[:39] + "…"
        parts.append(_svg_text(left - 8, y + bar_h * 0.7, shown, anchor="end"))
        parts.append(
            f'<rect class="bar" x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}"'
            f' fill="{color}"><title>{esc(label)}: {esc(value)}{esc(unit)}</title></rect>'
        )
        parts.append(_svg_text(left + w + 6, y + bar_h * 0.7, f"{fmt(value)}{unit}"))
    parts.append("</svg>")
    return "".join(parts)


def heatmap_svg(
    counts: Mapping[tuple[int, int], int],
    *,
    title: str,
    row_label: str = "R score",
    col_label: str = "F score",
    size: int = 5,
) -> str:
    """A size x size grid: rows are R scores (high at the top), columns F scores."""
    cell, left, top = 64, 80, 40
    width = left + size * cell + 20
    height = top + size * cell + 50
    top_value = max(counts.values(), default=0) or 1
    parts = [
        f'<svg class="plot" role="img" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{esc(title)}</title>",
        _svg_text(left, 18, title, cls="title"),
    ]
    for r in range(size, 0, -1):
        y = top + (size - r) * cell
        parts.append(_svg_text(left - 10, y + cell / 2 + 4, r, anchor="end"))
        for f in range(1, size + 1):
            x = left + (f - 1) * cell
            n = counts.get((r, f), 0)
            share = n / top_value
            # white -> blue; text turns white on dark cells
            red, green = int(255 - share * (255 - 37)), int(255 - share * (255 - 99))
            fill = f"rgb({red},{green},{int(255 - share * (255 - 235))})"
            ink = "#fff" if share > 0.55 else "#111"
            parts.append(
                f'<rect class="cell" x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}"'
                f' fill="{fill}"><title>R {r}, F {f}: {esc(n)} customers</title></rect>'
            )
            parts.append(
                f'<text x="{x + cell / 2 - 1:.1f}" y="{y + cell / 2 + 4:.1f}"'
                f' text-anchor="middle" fill="{ink}">{esc(n)}</text>'
            )
    for f in range(1, size + 1):
        parts.append(_svg_text(left + (f - 0.5) * cell, top + size * cell + 16, f, "middle"))
    parts.append(_svg_text(left + size * cell / 2, top + size * cell + 36, col_label, "middle"))
    parts.append(
        f'<text x="16" y="{top + size * cell / 2:.1f}" text-anchor="middle"'
        f' transform="rotate(-90 16 {top + size * cell / 2:.1f})">{esc(row_label)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def line_chart_svg(
    series: Mapping[str, Sequence[tuple[dt.date, float]]], *, title: str, y_label: str = ""
) -> str:
    """One line per series over dates; points carry their value as a tooltip."""
    points = [p for s in series.values() for p in s]
    if not points:
        return ""
    width, height, left, right, top, bottom = 720, 300, 60, 170, 30, 40
    days = sorted({d for d, _ in points})
    first, last = days[0], days[-1]
    span = max((last - first).days, 1)
    y_max = _nice_max(max(v for _, v in points))
    plot_w, plot_h = width - left - right, height - top - bottom

    def x_of(d: dt.date) -> float:
        if first == last:
            return left + plot_w / 2
        return left + plot_w * (d - first).days / span

    def y_of(v: float) -> float:
        return top + plot_h * (1 - v / y_max)

    parts = [
        f'<svg class="plot" role="img" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{esc(title)}</title>",
        _svg_text(left, 18, title, cls="title"),
    ]
    for i in range(5):
        v = y_max * i / 4
        y = y_of(v)
        parts.append(
            f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(_svg_text(left - 6, y + 4, f"{v:.3g}", anchor="end"))
    ticks = days if len(days) <= 8 else [days[round(i * (len(days) - 1) / 6)] for i in range(7)]
    for d in dict.fromkeys(ticks):
        parts.append(_svg_text(x_of(d), top + plot_h + 18, d.isoformat()[5:], anchor="middle"))
    if y_label:
        parts.append(
            f'<text x="14" y="{top + plot_h / 2:.1f}" text-anchor="middle"'
            f' transform="rotate(-90 14 {top + plot_h / 2:.1f})">{esc(y_label)}</text>'
        )
    # the first series is drawn last (on top) and thicker: it is the one that matters
    for i, (name, pts) in reversed(list(enumerate(series.items()))):
        color = PALETTE[i % len(PALETTE)]
        pts = sorted(pts)
        coords = " ".join(f"{x_of(d):.1f},{y_of(v):.1f}" for d, v in pts)
        if len(pts) > 1:
            parts.append(
                f'<polyline class="series" points="{coords}" fill="none" stroke="{color}"'
                f' stroke-width="{3 if i == 0 else 1.5}"/>'
            )
        for d, v in pts:
            parts.append(
                f'<circle cx="{x_of(d):.1f}" cy="{y_of(v):.1f}" r="3.5" fill="{color}">'
                f"<title>{esc(name)} {esc(d)}: {v:.4f}</title></circle>"
            )
        ly = top + 14 + i * 18
        parts.append(
            f'<rect x="{left + plot_w + 16}" y="{ly - 9}" width="12" height="12" fill="{color}"/>'
        )
        parts.append(_svg_text(left + plot_w + 34, ly + 1, name))
    parts.append("</svg>")
    return "".join(parts)


def sparkline_svg(
    points: Sequence[tuple[dt.date, float]],
    *,
    day: dt.date,
    lower: float | None,
    upper: float | None,
    title: str,
) -> str:
    """A small line of a series over its days, the expected range of ``day`` as a band and
    ``day``'s point in red."""
    pts = sorted((d, v) for d, v in points if v is not None and math.isfinite(v))
    if not pts:
        return ""
    width, height, pad = 260, 64, 6
    band = [x for x in (lower, upper) if x is not None and math.isfinite(x)]
    values = [v for _, v in pts] + band
    lo, hi = min(values), max(values)
    if hi == lo:
        hi, lo = hi + 1, lo - 1
    first = pts[0][0]
    span = max((max(day, pts[-1][0]) - first).days, 1)

    def x_of(d: dt.date) -> float:
        return pad + (width - 2 * pad) * (d - first).days / span

    def y_of(v: float) -> float:
        return pad + (height - 2 * pad) * (1 - (v - lo) / (hi - lo))

    parts = [
        f'<svg class="spark" role="img" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{esc(title)}</title>'
    ]
    if band:
        top = y_of(upper) if upper is not None and math.isfinite(upper) else pad
        bottom = y_of(lower) if lower is not None and math.isfinite(lower) else height - pad
        parts.append(
            f'<rect x="{x_of(day) - 5:.1f}" y="{top:.1f}" width="10"'
            f' height="{max(bottom - top, 1):.1f}" fill="#bbf7d0"><title>expected'
            f" {esc(lower)} to {esc(upper)}</title></rect>"
        )
    coords = " ".join(f"{x_of(d):.1f},{y_of(v):.1f}" for d, v in pts)
    parts.append(f'<polyline points="{coords}" fill="none" stroke="#2563eb" stroke-width="1.5"/>')
    for d, v in pts:
        color, r = ("#dc2626", 3.5) if d == day else ("#2563eb", 1.8)
        parts.append(
            f'<circle cx="{x_of(d):.1f}" cy="{y_of(v):.1f}" r="{r}" fill="{color}">'
            f"<title>{esc(d)}: {esc(v)}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


# --------------------------------------------------------------------------- warehouse reads


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


# --------------------------------------------------------------------------- run log


def _run_log_path(settings: Settings) -> Path:
    from tailor.runlog import run_log_path

    return run_log_path(settings)


# --------------------------------------------------------------------------- the report


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
        self.con = con
        self.day = day
        self.s = settings
        self.out_dir = out_dir
        self.timings = dict(timings or {})
        self.results = dict(results or {})
        self.status = status
        self.run_id = run_id
        self.database = database
        self.rel = relations(con)
        self.summary: dict[str, Any] = {"day": day.isoformat()}

    def has(self, name: str) -> bool:
        return name in self.rel

    def nonempty(self, name: str) -> bool:
        return self.has(name) and bool(_rows(self.con, f"select 1 from {_q(name)} limit 1"))

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
            ("segments", "Segments", self.segments_section),
            ("rfm", "RFM segments", self.rfm_section),
            ("models", "Model metrics", self.models_section),
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

    def _status(self) -> str:
        if self.status:
            return self.status
        events = [
            e
            for e in self._run_events(200)
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

    def run_section(self) -> str:
        status = self._status()
        warnings = self.model_warnings()
        if warnings and status in ("succeeded", "success"):
            status = "warning"  # the run committed, but not every model served
        self.summary["status"] = status
        if warnings:
            self.summary["model_warnings"] = warnings
        run_id = self.run_id
        if not run_id:
            ids = [
                e.get("dag_run_id")
                for e in self._run_events(200)
                if e.get("day") == self.day.isoformat() and e.get("dag_run_id")
            ]
            run_id = ids[0] if ids else None
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

    def _exports_held(self) -> str | None:
        """Why the night's exports were held, if they were (stage results or run log)."""
        for name in ("export", "anomalies"):
            r = self.results.get(name)
            if isinstance(r, Mapping) and (r.get("status") == "held" or r.get("hold_exports")):
                return str(r.get("reason") or r.get("held_because") or "anomalies")
        for e in self._run_events(200):
            if e.get("day") == self.day.isoformat() and e.get("status") == "exports_held":
                return str(e.get("error") or "anomalies")
        return None

    def anomalies_section(self) -> str:
        out = []
        held = self._exports_held()
        if held:
            self.summary["exports_held"] = True
            out.append(
                f'<p class="bad held">EXPORTS HELD for {esc(self.day)}: nothing was exported'
                f" tonight. {esc(_short(held, 600))}</p>"
            )
        if not self.has(ANOMALIES_TABLE):
            return "".join(out) + na("not available: no ops.anomalies (the stage has not run)")
        rows = _rows(
            self.con,
            f"""
            select metric, dimension, dimension_value, observed, expected, lower_bound,
                   upper_bound, severity, score, history_days, metric_stage
            from {ANOMALIES_TABLE} where run_date = ?
            order by severity = 'critical' desc, score desc, metric, dimension, dimension_value
            """,
            [self.day],
        )
        self.summary["anomalies"] = len(rows)
        stage = self.results.get("anomalies")
        judged = stage.get("series_judged") if isinstance(stage, Mapping) else None
        if not rows:
            what = f"no anomalies on {self.day}"
            if judged is not None:
                what += f" ({fmt(judged)} series judged)"
            return "".join(out) + f"<p>{esc(what)}.</p>"
        history = {}
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
        if self.nonempty("raw.load_log"):
            rows = _rows(
                self.con,
                """
                select source, count(*), sum(rows_read), sum(rows_loaded),
                       sum(rows_quarantined), sum(file_bytes)
                from raw.load_log where _dt = ? group by 1 order by 1
                """,
                [self.day],
            )
        else:
            rows = []
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
        q = []
        if self.nonempty("raw.quarantine"):
            q = _rows(
                self.con,
                "select source, reason_code, count(*) from raw.quarantine where _dt = ?"
                " group by all order by 3 desc, 1, 2",
                [self.day],
            )
        if q:
            out.append(table(["source", "reason code", "records"], q, numeric=[2]))
            self.summary["quarantine_by_reason"] = {f"{s}/{c}": n for s, c, n in q}
        else:
            out.append(na(f"nothing quarantined for {self.day}"))
        return "".join(out)

    def counts_section(self) -> str:
        tables = [n for n, kind in self.rel.items() if kind == "BASE TABLE"]
        if not tables:
            return na("the database has no tables")
        order = {s: i for i, s in enumerate(SCHEMA_ORDER)}
        tables.sort(key=lambda n: (order.get(n.split(".")[0], 99), n))
        out, by_schema = [], {}
        for name in tables:
            (n,) = _rows(self.con, f"select count(*) from {_q(name)}")[0]
            cols = _columns(self.con, name)
            day_col = "_dt" if "_dt" in cols else "run_date" if "run_date" in cols else None
            of_day = None
            if day_col:
                (of_day,) = _rows(
                    self.con, f"select count(*) from {_q(name)} where {day_col} = ?", [self.day]
                )[0]
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

    def _validation_rows(self) -> tuple[list[dict[str, Any]], list[str]]:
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

    def validation_section(self) -> str:
        rows, notes = self._validation_rows()
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

    # ML -------------------------------------------------------------------

    def segments_section(self) -> str:
        if not self.nonempty("ml.segment_profiles"):
            return na("not available: no ml.segment_profiles")
        rows = _rows(
            self.con,
            """
            select segment_id, segment_name, size, share, is_new, description, top_categories,
                   centroid
            from ml.segment_profiles where run_date = ? order by size desc, segment_id
            """,
            [self.day],
        )
        if not rows:
            return na(f"not available: no segments for {self.day}")
        self.summary["segments"] = {r[1]: r[2] for r in rows}
        out = [
            bar_chart_svg(
                [f"{r[1]} (#{r[0]})" for r in rows],
                [r[2] for r in rows],
                title=f"Segment sizes, {self.day} (customers)",
            )
        ]
        body = []
        for sid, name, size, share, is_new, desc, cats, centroid in rows:
            cats = _json(cats) or []
            cat_text = ", ".join(
                f"{c.get('category')} {100 * (c.get('share') or 0):.0f}%"
                for c in cats
                if isinstance(c, Mapping)
            )
            cen = _json(centroid) or {}
            cen_html = ""
            if isinstance(cen, Mapping) and cen:
                cen_html = (
                    "<details><summary>centroid</summary>"
                    + table(["feature", "value"], sorted(cen.items()), numeric=[1])
                    + "</details>"
                )
            body.append((sid, name, size, f"{100 * share:.1f}%", is_new, desc, cat_text, cen_html))
        out.append(
            table(
                ["id", "segment", "customers", "share", "new", "profile", "top categories", ""],
                body,
                numeric=[0, 2, 3],
                raw=[7],
                css="wide",
            )
        )
        if self.has("ml.segment_transitions"):
            (moved,) = _rows(
                self.con,
                "select coalesce(sum(customers), 0) from ml.segment_transitions where run_date = ?"
                " and from_segment_id is not null and to_segment_id is not null"
                " and from_segment_id <> to_segment_id",
                [self.day],
            )[0]
            out.append(f"<p>Customers who moved segment since the previous run: {esc(moved)}</p>")
        return "".join(out)

    def rfm_section(self) -> str:
        name = "marts.customer_rfm"
        if not self.nonempty(name):
            return na(f"not available: no {name}")
        (as_of,) = _rows(self.con, f"select max(as_of_date) from {name}")[0]
        out = []
        if as_of != self.day:
            out.append(na(f"{name} is as of {fmt(as_of)} (the last build), not {self.day}"))
        dist = _rows(
            self.con,
            f"""
            select coalesce(rfm_segment, '(unmapped)'), count(*), avg(recency_days),
                   avg(frequency), avg(monetary), sum(monetary)
            from {name} group by 1 order by 2 desc, 1
            """,
        )
        total = sum(r[1] for r in dist)
        self.summary["rfm_customers"] = total
        out.append(
            bar_chart_svg(
                [r[0] for r in dist], [r[1] for r in dist], title="RFM segments (customers)"
            )
        )
        out.append(
            table(
                [
                    "RFM segment",
                    "customers",
                    "share",
                    "avg recency (days)",
                    "avg orders",
                    "avg monetary",
                    "total monetary",
                ],
                [(r[0], r[1], _pct(r[1], total), *r[2:]) for r in dist],
                numeric=range(1, 7),
            )
        )
        cells = {
            (int(r), int(f)): n
            for r, f, n in _rows(
                self.con,
                f"select r_score, f_score, count(*) from {name}"
                " where r_score is not null and f_score is not null group by all",
            )
        }
        out.append(heatmap_svg(cells, title="RFM heatmap: customers by R score × F score"))
        return "".join(out)

    def models_section(self) -> str:
        if not self.nonempty("ml.model_runs"):
            return na("not available: no ml.model_runs")
        rows = _rows(
            self.con,
            """
            select task, model, status, metrics, message, params
            from ml.model_runs where run_date = ?
            order by task, case status when 'chosen' then 0 when 'baseline' then 1 else 2 end,
                     model
            """,
            [self.day],
        )
        out = []
        if not rows:
            out.append(na(f"no model runs for {self.day}"))
        else:
            body = []
            for task, model, status, metrics, message, _params in rows:
                m = _json(metrics) or {}
                m = m if isinstance(m, Mapping) else {}
                scalars = {
                    k: v for k, v in m.items() if _num(v) and not k.startswith(("cold.", "warm."))
                }
                key = [(k, scalars[k]) for k in KEY_METRICS if k in scalars][:6]
                key_text = ", ".join(f"{k} {fmt(v)}" for k, v in key)
                more = ""
                if scalars:
                    more = (
                        "<details><summary>all metrics</summary>"
                        + table(["metric", "value"], sorted(scalars.items()), numeric=[1])
                        + "</details>"
                    )
                sev = {"chosen": "ok", "failed": "bad", "fallback": "warn", "skipped": "warn"}.get(
                    status, ""
                )
                body.append(
                    (
                        task,
                        model,
                        f'<span class="st {sev}">{esc(status)}</span>',
                        key_text,
                        more,
                        message or "",
                    )
                )
            self.summary["models"] = {t: m for t, m, s, *_ in rows if s == "chosen"}
            out.append(
                table(
                    ["task", "model", "status", "key metrics", "", "message"],
                    body,
                    raw=[2, 4],
                    css="wide",
                )
            )
        out.append("<h3>Recommendations: NDCG@10 over runs</h3>")
        marks = ", ".join("?" for _ in RECOMMENDATION_TASKS)
        hist = _rows(
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
        if not hist:
            out.append(na("not available: no recommendation runs with NDCG@10 yet"))
            return "".join(out)
        series: dict[str, list[tuple[dt.date, float]]] = {"served (chosen)": []}
        for day, model, status, v in hist:
            if status == "chosen":
                series["served (chosen)"].append((day, v))
            series.setdefault(model, []).append((day, v))
        if not series["served (chosen)"]:
            del series["served (chosen)"]
        # the served model first, then the models with the most runs, at most 8 lines
        names = list(series)[:1] + sorted(list(series)[1:], key=lambda k: -len(series[k]))
        series = {k: series[k] for k in names[: len(PALETTE)]}
        # the model served that day: the chosen one, or popularity when the run fell back
        served = {d: v for d, _, s, v in hist if s in ("chosen", "fallback")}
        if self.day in served:
            self.summary["ndcg@10"] = served[self.day]
        out.append(
            line_chart_svg(series, title="NDCG@10 on the temporal holdout", y_label="NDCG@10")
        )
        return "".join(out)

    def exports_section(self) -> str:
        if not self.has("ops.export_log"):
            return na("not available: no ops.export_log")
        cols = _columns(self.con, "ops.export_log")
        wanted = [
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
        ]
        wanted = [(c, h) for c, h in wanted if c in cols]
        if not wanted or "run_date" not in cols:
            return na("not available: ops.export_log has an unknown shape")
        rows = _rows(
            self.con,
            f"select {', '.join(c for c, _ in wanted)} from ops.export_log where run_date = ?"
            f" order by 1",
            [self.day],
        )
        if not rows:
            return na(f"no exports for {self.day}")
        numeric = [
            i
            for i, (c, _) in enumerate(wanted)
            if c not in ("destination", "audience_id", "format", "mode", "status", "error")
        ]
        statuses: dict[str, int] = {}
        si = [c for c, _ in wanted].index("status") if "status" in cols else None
        for r in rows:
            if si is not None:
                statuses[r[si]] = statuses.get(r[si], 0) + 1
        self.summary["exports"] = statuses
        return table([h for _, h in wanted], rows, numeric=numeric, css="wide")

    def _run_events(self, limit: int) -> list[dict[str, Any]]:
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

    def recent_runs_section(self) -> str:
        events = self._run_events(RECENT_RUN_EVENTS)
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


CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111;
 margin:0;background:#f6f7f9}
header{background:#1e293b;color:#fff;padding:14px 28px}
header h1{margin:0;font-size:20px} header a{color:#cbd5e1}
nav{font-size:13px;margin-top:4px} nav a{margin-right:12px}
main{padding:8px 28px 40px;max-width:1280px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:6px;padding:8px 18px 14px;
 margin:14px 0}
h2{font-size:17px;margin:8px 0 10px;border-bottom:1px solid #e2e8f0;padding-bottom:4px}
h3{font-size:14px;margin:14px 0 6px}
table{border-collapse:collapse;margin:6px 0;font-size:13px}
th,td{border-bottom:1px solid #e5e7eb;padding:3px 10px;text-align:left;vertical-align:top}
th{background:#f1f5f9;font-weight:600} td.num,th.num{text-align:right;
 font-variant-numeric:tabular-nums}
table.wide td{max-width:420px;overflow-wrap:break-word}
table.totals tbody tr:last-child td{font-weight:600;border-top:2px solid #cbd5e1}
dl.kv{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:4px 0}
dl.kv dt{color:#475569} dl.kv dd{margin:0;font-weight:500}
.ok{color:#15803d} .bad{color:#b91c1c;font-weight:600} .warn{color:#b45309;font-weight:600} .na{color:#64748b;font-style:italic}
.sev{padding:0 6px;border-radius:3px;font-size:12px}
.sev.critical{background:#fee2e2;color:#991b1b} .sev.warning{background:#fef3c7;color:#92400e}
.meter{display:inline-block;height:10px;background:#60a5fa;border-radius:2px}
details{margin:4px 0} summary{cursor:pointer;color:#334155}
svg.plot{display:block;margin:8px 0;max-width:100%;height:auto}
svg.plot text{font:12px system-ui,sans-serif;fill:#111} svg.plot text.title{font-weight:600}
svg.plot .grid{stroke:#e5e7eb} svg.spark{display:block}
p.held{background:#fee2e2;border:2px solid #b91c1c;padding:8px 12px;font-size:15px}
.scroll{overflow-x:auto;max-width:100%} td a{white-space:nowrap}
"""


def _page(title: str, header: str, nav: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{header}</h1><nav>{nav}</nav></header><main>{body}</main></body></html>\n"
    )


def render_run_report(
    con: duckdb.DuckDBPyConnection,
    day: dt.date,
    settings: Settings | None = None,
    *,
    timings: Mapping[str, float] | None = None,
    results: Mapping[str, Any] | None = None,
    status: str | None = None,
    run_id: str | None = None,
    database: Path | None = None,
    out_dir: Path | None = None,
) -> ReportData:
    """Read what the report shows from an open connection (only reads)."""
    s = settings or get_settings()
    out_dir = out_dir or report_dir(s, day)
    return _Builder(
        con,
        day,
        s,
        out_dir,
        timings=timings,
        results=results,
        status=status,
        run_id=run_id,
        database=database,
    ).build()


def report_html(data: ReportData) -> str:
    nav = " ".join(f'<a href="#{s.key}">{esc(s.title)}</a>' for s in data.sections)
    nav += ' <a href="../index.html">all runs</a>'
    body = "".join(
        f'<section id="{s.key}"><h2>{esc(s.title)}</h2>{s.body}</section>' for s in data.sections
    )
    status = data.summary.get("status", "unknown")
    return _page(
        f"Tailor run {data.day} ({status})",
        f"Tailor nightly run · {esc(data.day)} · {esc(status)}",
        nav,
        body,
    )


def report_dir(settings: Settings, day: dt.date) -> Path:
    return settings.reports / RUNS_DIR / day.isoformat()


def atomic_write(path: Path, text: str | bytes) -> Path:
    """Write a file so that readers see the old or the new content, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = text.encode("utf-8") if isinstance(text, str) else text
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def write_run_report(
    day: dt.date,
    settings: Settings | None = None,
    *,
    ctx: Any = None,
    results: Mapping[str, Any] | None = None,
    status: str | None = None,
    run_id: str | None = None,
    database: Path | str | None = None,
    sync_run_log: bool = False,
) -> Path:
    """Write ``<reports>/runs/<day>/index.html`` (and ``summary.json``) and refresh the
    runs index; returns the report's path.

    ``ctx`` is the pipeline's ``RunContext`` (stage results and timings); from Airflow pass
    the stage ``results`` (XComs) instead. ``database`` defaults to the warehouse. With
    ``sync_run_log`` and the warehouse as the database, the run log file is first loaded
    into ``ops.run_log``: a short write, so only where the pipeline holds the writer slot
    (after commit, in the warehouse pool). Never from a shell beside a run: the write would
    change the warehouse between the run's begin and commit and its commit would be
    refused as stale. Without it the database is only read (the recent runs still come
    from the run log file).
    """
    from tailor.warehouse import connect

    s = settings or (ctx.settings if ctx is not None else None) or get_settings()
    db = Path(database) if database is not None else s.warehouse
    timings = dict(getattr(ctx, "timings", {}) or {})
    all_results = dict(getattr(ctx, "results", {}) or {})
    all_results.update(results or {})
    if sync_run_log and db == s.warehouse and db.exists():
        log_path = _run_log_path(s)
        if log_path.exists():
            con = connect(db, settings=s)
            try:
                load_run_log(con, log_path)
            finally:
                con.close()
    out_dir = report_dir(s, day)
    if db.exists():
        con = connect(db, read_only=True, settings=s)
    else:
        import duckdb

        con = duckdb.connect(":memory:")  # no warehouse yet: every section says so
    try:
        data = render_run_report(
            con,
            day,
            s,
            timings=timings,
            results=all_results,
            status=status,
            run_id=run_id,
            database=db,
            out_dir=out_dir,
        )
    finally:
        con.close()
    data.summary["generated_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    path = atomic_write(out_dir / "index.html", report_html(data))
    atomic_write(out_dir / SUMMARY_FILE, json.dumps(data.summary, indent=2, default=str))
    write_runs_index(s)
    return path


def write_runs_index(settings: Settings | None = None) -> Path:
    """``<reports>/runs/index.html``: every run report, newest day first."""
    s = settings or get_settings()
    root = s.reports / RUNS_DIR
    rows = []
    days = sorted(
        (p for p in root.glob("*") if _DAY_DIR.match(p.name) and (p / "index.html").exists()),
        key=lambda p: p.name,
        reverse=True,
    )
    for p in days:
        summary: dict[str, Any] = {}
        with contextlib.suppress(ValueError, OSError):
            summary = json.loads((p / SUMMARY_FILE).read_text())
        v = summary.get("validation") or {}
        status = str(summary.get("status") or "unknown")
        cls = status_class(status)
        crit = v.get("critical_failures")
        rows.append(
            (
                f'<a href="{esc(p.name)}/index.html">{esc(p.name)}</a>',
                f'<span class="st {cls}">{esc(status)}</span>',
                summary.get("rows_loaded", ""),
                summary.get("rows_quarantined", ""),
                "" if not v else f"{fmt(v.get('passed'))}/{fmt(v.get('expectations'))}",
                f'<span class="{"bad" if crit else ""}">{esc(crit if v else "")}</span>',
                v.get("warnings", "") if v else "",
                len(summary.get("segments") or {}) or "",
                summary.get("ndcg@10", ""),
                str(summary.get("generated_at", "")).replace("T", " ")[:16],
            )
        )
    body = (
        table(
            [
                "day",
                "status",
                "rows loaded",
                "quarantined",
                "expectations passed",
                "critical failures",
                "warnings",
                "segments",
                "NDCG@10 (served)",
                "report written (UTC)",
            ],
            rows,
            numeric=[2, 3, 4, 5, 6, 7, 8],
            raw=[0, 1, 5],
        )
        if rows
        else na("no run reports yet")
    )
    links = []
    for label, path in (
        ("dbt docs", s.reports / "dbt_docs" / "index.html"),
        ("Data Docs", s.reports / "data_docs" / "index.html"),
    ):
        if path.exists():
            links.append(f'<a href="{esc(os.path.relpath(path, root))}">{esc(label)}</a>')
    html_text = _page(
        "Tailor run reports",
        "Tailor run reports",
        " ".join(links),
        f"<section><h2>Runs, newest first</h2>{body}</section>",
    )
    return atomic_write(root / "index.html", html_text)


# --------------------------------------------------------------------------- dbt docs


def publish_dbt_docs(settings: Settings | None = None) -> Path:
    """Generate the dbt docs and publish them as one self-contained HTML file.

    ``dbt docs generate --static`` inlines the manifest and the catalog into
    ``target/static_index.html``, which opens from disk without a server; it is copied
    atomically to ``<reports>/dbt_docs/index.html``. dbt opens the warehouse to read the
    catalog, so run this where the pipeline may open it (after commit, not beside a run).
    """
    from tailor import transform

    s = settings or get_settings()
    transform.run_dbt(["docs", "generate", "--static"], settings=s)
    source = s.data / "dbt" / "target" / "static_index.html"
    if not source.exists():
        raise FileNotFoundError(f"dbt docs generate --static wrote no {source}")
    return atomic_write(s.reports / "dbt_docs" / "index.html", source.read_bytes())


# --------------------------------------------------------------------------- CLI helper


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tailor.report --date D [--database PATH] [--sync-run-log] [--dbt-docs]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tailor.report")
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--database", type=Path, default=None)
    parser.add_argument(
        "--sync-run-log", action="store_true", help="load the run log into ops.run_log first"
    )
    parser.add_argument("--dbt-docs", action="store_true", help="also publish the dbt docs")
    args = parser.parse_args(argv)
    s = get_settings()
    if args.dbt_docs:
        print(publish_dbt_docs(s))
    print(write_run_report(args.date, s, database=args.database, sync_run_log=args.sync_run_log))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
