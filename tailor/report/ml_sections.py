"""The report's ML sections as HTML: segments, RFM segments and model metrics (with the
recommendations' NDCG@10 over runs). Each reads its facts from a ``ReportReader`` and
records what the runs index shows in ``summary``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from tailor.report.charts import PALETTE, bar_chart_svg, heatmap_svg, line_chart_svg
from tailor.report.gather import RFM_TABLE, ReportReader, _json
from tailor.report.markup import _num, _pct, esc, fmt, na, table

# the metric names ml.recommend writes, listed here so the report does not import the ML stack
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


def segments_section(data: ReportReader, summary: dict[str, Any]) -> str:
    if not data.nonempty("ml.segment_profiles"):
        return na("not available: no ml.segment_profiles")
    rows = data.segments()
    if not rows:
        return na(f"not available: no segments for {data.day}")
    summary["segments"] = {r[1]: r[2] for r in rows}
    out = [
        bar_chart_svg(
            [f"{r[1]} (#{r[0]})" for r in rows],
            [r[2] for r in rows],
            title=f"Segment sizes, {data.day} (customers)",
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
    moved = data.customers_moved()
    if moved is not None:
        out.append(f"<p>Customers who moved segment since the previous run: {esc(moved)}</p>")
    return "".join(out)


def rfm_section(data: ReportReader, summary: dict[str, Any]) -> str:
    name = RFM_TABLE
    if not data.nonempty(name):
        return na(f"not available: no {name}")
    as_of = data.rfm_as_of()
    out = []
    if as_of != data.day:
        out.append(na(f"{name} is as of {fmt(as_of)} (the last build), not {data.day}"))
    dist = data.rfm_distribution()
    total = sum(r[1] for r in dist)
    summary["rfm_customers"] = total
    out.append(
        bar_chart_svg([r[0] for r in dist], [r[1] for r in dist], title="RFM segments (customers)")
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
    cells = data.rfm_cells()
    out.append(heatmap_svg(cells, title="RFM heatmap: customers by R score × F score"))
    return "".join(out)


def models_section(data: ReportReader, summary: dict[str, Any]) -> str:
    if not data.nonempty("ml.model_runs"):
        return na("not available: no ml.model_runs")
    rows = data.model_runs()
    out = []
    if not rows:
        out.append(na(f"no model runs for {data.day}"))
    else:
        body = []
        for task, model, status, metrics, message, _params in rows:
            m = _json(metrics) or {}
            m = m if isinstance(m, Mapping) else {}
            scalars = {
                k: v for k, v in m.items() if _num(v) and not k.startswith(("cold.", "warm."))
            }
            key = [(k, scalars[k]) for k in KEY_METRICS if k in scalars][:6]
            key_text = ", ".join(
                f"{k} {fmt(v)}"
                + (
                    f" [{fmt(m[k + '_ci'][0])}, {fmt(m[k + '_ci'][1])}]"
                    if isinstance(m.get(k + "_ci"), list) and len(m[k + "_ci"]) == 2
                    else ""
                )
                for k, v in key
            )
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
        summary["models"] = {t: m for t, m, s, *_ in rows if s == "chosen"}
        out.append(
            table(
                ["task", "model", "status", "key metrics", "", "message"],
                body,
                raw=[2, 4],
                css="wide",
            )
        )
    out.append("<h3>Recommendations: NDCG@10 over runs</h3>")
    hist = data.ndcg_history()
    if not hist:
        out.append(na("not available: no recommendation runs with NDCG@10 yet"))
        return "".join(out)
    # what each night served: the chosen model, or popularity when the run fell back to it
    series: dict[str, list[tuple[dt.date, float]]] = {"served": []}
    for day, model, status, v in hist:
        if status in ("chosen", "fallback"):
            series["served"].append((day, v))
        series.setdefault(model, []).append((day, v))
    if not series["served"]:
        del series["served"]
    # the served model first, then the models with the most runs, at most 8 lines
    names = list(series)[:1] + sorted(list(series)[1:], key=lambda k: -len(series[k]))
    series = {k: series[k] for k in names[: len(PALETTE)]}
    # the model served that day: the chosen one, or popularity when the run fell back
    served = {d: v for d, _, s, v in hist if s in ("chosen", "fallback")}
    if data.day in served:
        summary["ndcg@10"] = served[data.day]
    out.append(line_chart_svg(series, title="NDCG@10 on the temporal holdout", y_label="NDCG@10"))
    return "".join(out)
