"""A results file's summary (the headline numbers, the targets) and its markdown block in
``benchmarks/README.md`` (pure: the same dict gives the same text)."""

from __future__ import annotations

import re

from benchmarks.scale.sizes import INCREMENTAL_NIGHTS

TARGETS = {
    "lower_bound_ratio": 3.0,
    "pandas_speedup": 5.0,
    "peak_memory_gb": 8.0,
    "backfill_over_pandas": 2.0,
    "last_over_first_night": 1.3,
    "requests_night_over_without": 1.2,
}


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "–"
    if s >= 100:
        return f"{s:,.0f} s"
    if s >= 10:
        return f"{s:.1f} s"
    return f"{s:.2f} s"


def fmt_rate(rows: float | None, seconds: float | None) -> str:
    if not rows or not seconds:
        return "–"
    r = rows / seconds
    if r >= 10**6:
        return f"{r / 10**6:.2f} M/s"
    if r >= 10**3:
        return f"{r / 10**3:.1f} k/s"
    return f"{r:.0f} /s"


def fmt_mb(mb: float | None) -> str:
    if mb is None:
        return "–"
    return f"{mb / 1024:.2f} GB" if mb >= 1024 else f"{mb:.0f} MB"


def stage_summary(nights: list[dict]) -> dict[str, dict]:
    """Per stage over all nights: seconds, input rows, rows/s, the highest sampled RSS."""
    out: dict[str, dict] = {}
    for night in nights:
        for name, st in night["stages"].items():
            agg = out.setdefault(name, {"seconds": 0.0, "rows": 0, "peak_rss_mb": 0.0})
            agg["seconds"] += st["seconds"]
            agg["rows"] += st["rows"]
            agg["peak_rss_mb"] = max(agg["peak_rss_mb"], st.get("peak_rss_mb") or 0.0)
    total = sum(a["seconds"] for a in out.values()) or 1.0
    for a in out.values():
        a["rows_per_second"] = a["rows"] / a["seconds"] if a["seconds"] else None
        a["share"] = a["seconds"] / total
    return out


def _start_seconds(night: dict) -> float:
    """A night's process start-up: its process's wall time beyond the night's own (none when
    the night ran inside a longer-lived process, as in results before the process per night)."""
    if "process_wall_seconds" not in night:
        return 0.0
    return night["process_wall_seconds"] - night["wall_seconds"]


def _night_seconds(night: dict) -> float:
    """A night's cost as the schedule pays it: its stages, its working copy, its process's
    start-up."""
    return (
        sum(st["seconds"] for st in night["stages"].values())
        + night["working_copy_seconds"]
        + _start_seconds(night)
    )


def summarize(res: dict) -> dict:
    """The headline numbers and the targets, from a results dict (pure)."""
    pipe = res.get("pipeline") or {}
    nights = pipe.get("nights") or []
    days = res["config"]["days"]
    s: dict = {"nights_run": len(nights), "nights_planned": days}
    s.update(_backfill_summary(res))
    if not nights:
        return s
    stage_total = sum(sum(st["seconds"] for st in n["stages"].values()) for n in nights)
    copy_total = sum(n["working_copy_seconds"] for n in nights)
    # one process per night: its start-up (interpreter, imports) is part of the night
    starts = sum(_start_seconds(n) for n in nights)
    measured = stage_total + copy_total + starts + (pipe.get("publish_seconds") or 0.0)
    s["pipeline_seconds_measured"] = measured
    s["working_copy_seconds"] = copy_total
    s["process_start_seconds"] = starts
    s["events_measured"] = sum(n["events"] for n in nights)
    if len(nights) < days:
        # not every night ran: scale the measured nights to the whole history (labelled)
        per_event = measured / max(1, s["events_measured"])
        s["pipeline_seconds_extrapolated"] = per_event * res["generate"]["events"]
    pipeline_seconds = s.get("pipeline_seconds_extrapolated", measured)
    s["pipeline_seconds"] = pipeline_seconds
    s["events_per_second"] = res["generate"]["events"] / pipeline_seconds
    fixed = (res.get("fixed") or {}).get("night_seconds")
    if fixed is not None:
        s["fixed_seconds_per_night"] = fixed
        s["fixed_seconds_total"] = fixed * days
        s["pipeline_seconds_variable"] = max(0.0, pipeline_seconds - fixed * days)
    lb = (res.get("lower_bound") or {}).get("seconds")
    if lb:
        s["lower_bound_seconds"] = lb
        s["ratio_vs_lower_bound"] = pipeline_seconds / lb
        if fixed is not None:
            s["ratio_variable_vs_lower_bound"] = s["pipeline_seconds_variable"] / lb
    last = nights[-1]
    s["last_night"] = last["night"]
    s["last_night_seconds"] = _night_seconds(last)
    s["first_night_seconds"] = _night_seconds(nights[0])
    s["last_over_first_night"] = s["last_night_seconds"] / s["first_night_seconds"]
    twin = pipe.get("last_night_without_requests")
    if twin:
        # the last night again without its erasure requests, on the same state just before
        s["last_night_without_requests_seconds"] = _night_seconds(twin)
        s["last_without_requests_over_first_night"] = (
            s["last_night_without_requests_seconds"] / s["first_night_seconds"]
        )
        s["requests_night_over_without"] = (
            s["last_night_seconds"] / s["last_night_without_requests_seconds"]
        )
    pd_ = res.get("pandas") or {}
    if pd_.get("total_seconds"):
        s["pandas_seconds"] = pd_["total_seconds"]
        s["pandas_over_pipeline"] = pd_["total_seconds"] / pipeline_seconds
        # pandas keeps no state: every night it redoes the whole history, so its nightly
        # cost is its full run; the pipeline's is one night with the history before it
        s["pandas_over_last_night"] = pd_["total_seconds"] / s["last_night_seconds"]
        if twin:
            s["pandas_over_last_night_without_requests"] = (
                pd_["total_seconds"] / s["last_night_without_requests_seconds"]
            )
    peaks = [pipe.get("peak_rss_mb") or 0.0, pipe.get("children_peak_rss_mb") or 0.0]
    # a pipeline child that was stopped part-way reports no peak: take the nights' own
    peaks += [n.get("peak_rss_mb_so_far") or n.get("peak_rss_mb") or 0.0 for n in nights]
    s["pipeline_peak_rss_mb"] = max(peaks)
    s["targets"] = {
        "within_3x_lower_bound_plus_fixed": (
            s["ratio_variable_vs_lower_bound"] <= TARGETS["lower_bound_ratio"]
            if "ratio_variable_vs_lower_bound" in s
            else None
        ),
        "5x_faster_than_pandas": (
            s["pandas_over_pipeline"] >= TARGETS["pandas_speedup"]
            if "pandas_over_pipeline" in s
            else None
        ),
        "peak_memory_under_8gb": s["pipeline_peak_rss_mb"] < TARGETS["peak_memory_gb"] * 1024,
    }
    return s


def _backfill_summary(res: dict) -> dict:
    """The one-pass backfill against pandas's one pass over the same history (issue 25: at
    most 2x), when both ran."""
    bf = res.get("backfill") or {}
    if not bf.get("wall_seconds"):
        return {}
    out = {"backfill_seconds": bf["wall_seconds"], "backfill_days": bf["days"]}
    pandas = (res.get("pandas") or {}).get("total_seconds")
    if pandas:
        out["backfill_over_pandas"] = bf["wall_seconds"] / pandas
        out["backfill_within_2x_pandas"] = (
            bf["days"] == res["config"]["days"]
            and out["backfill_over_pandas"] <= TARGETS["backfill_over_pandas"]
        )
    return out


def _backfill_lines(res: dict, s: dict) -> list[str]:
    """The backfill's stages and its target, for the README block."""
    bf = res.get("backfill") or {}
    if "backfill_seconds" not in s:
        return [f"Backfill: failed: {bf['error']}", ""] if bf.get("error") else []
    stages = ", ".join(f"{name} {fmt_seconds(st['seconds'])}" for name, st in bf["stages"].items())
    lines = [
        f"Backfill, {bf['days']} days in one pass ({bf['from']} .. {bf['to']}): "
        f"{fmt_seconds(s['backfill_seconds'])}, peak {fmt_mb(bf.get('peak_rss_mb'))}; "
        f"{stages}; working copy {fmt_seconds(bf['working_copy_seconds'])}.",
        "",
    ]
    if "backfill_over_pandas" in s:
        lines += [
            f"- backfill at most 2x pandas's one pass: {_verdict(s['backfill_within_2x_pandas'])}"
            f" — {fmt_seconds(s['backfill_seconds'])} against pandas "
            f"{fmt_seconds(res['pandas']['total_seconds'])}: {s['backfill_over_pandas']:.2f}x"
            + (
                f" (only {bf['days']} of the {res['config']['days']} days built)."
                if bf["days"] != res["config"]["days"]
                else "."
            ),
            "",
        ]
    return lines


def _night_ratio_lines(s: dict, pipe: dict) -> list[str]:
    """Issue 25's nightly ratios: the last night against night 1 and pandas, with and
    without its erasure requests (both measured on the same state, one after the other)."""
    if "last_over_first_night" not in s:
        return []
    n = s["last_night"]
    lines = [
        f"- night {n} / night 1: {s['last_over_first_night']:.2f} "
        f"({fmt_seconds(s['last_night_seconds'])} / {fmt_seconds(s['first_night_seconds'])})."
    ]
    if "last_without_requests_over_first_night" not in s:
        return lines
    twin = pipe["last_night_without_requests"]
    lines.append(
        f"- night {n} without its erasure requests (run first, on the state night {n - 1} "
        f"left): {fmt_seconds(s['last_night_without_requests_seconds'])}; at most 1.3x night 1: "
        f"{_verdict(s['last_without_requests_over_first_night'] <= TARGETS['last_over_first_night'])}"
        f" ({s['last_without_requests_over_first_night']:.2f}); stages "
        + ", ".join(f"{k} {v['seconds']:.1f}" for k, v in twin["stages"].items())
        + "."
    )
    lines.append(
        f"- a night with erasure requests at most 1.2x one without: "
        f"{_verdict(s['requests_night_over_without'] <= TARGETS['requests_night_over_without'])}"
        f" — night {n} with its requests / without: {s['requests_night_over_without']:.2f}."
    )
    if "pandas_over_last_night_without_requests" in s:
        ratio = s["pandas_over_last_night_without_requests"]
        lines.append(
            f"- night {n} without erasures at least 5x faster than pandas redoing the history: "
            f"{_verdict(ratio >= TARGETS['pandas_speedup'])} ({ratio:.2f}x)."
        )
    return lines


def _verdict(ok: bool | None) -> str:
    return {True: "**holds**", False: "**does not hold**", None: "not measured"}[ok]


def _origin(phase: dict) -> str:
    """Where a reference point's figure comes from, when not from this run."""
    if phase.get("from"):
        return f" (measured by `{phase['from']}`)"
    return " (reused from an earlier run)" if phase.get("reused") else ""


def render_markdown(res: dict) -> str:
    """The README block of one results file (pure: the same dict gives the same text)."""
    s = res.get("summary") or summarize(res)
    m = res["machine"]
    cfg = res["config"]
    gen = res["generate"]
    pipe = res.get("pipeline") or {}
    nights = pipe.get("nights") or []
    lines = [
        f"### {res['size']}: {gen['events']:,} events, {cfg['customers']:,} customers, "
        f"{cfg['products']:,} products, {cfg['days']} days",
        "",
        f"`{res['command']}` — {res['started_at']} to {res['finished_at']} UTC; "
        f"results file `benchmarks/results/{res['results_file']}`.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, {m['os']}, "
        f"Python {m['python']}, DuckDB {m['duckdb']}, dbt-core {m.get('dbt', '?')}. "
        f"DuckDB memory limit {cfg['duckdb_memory']} (spills to `{cfg['duckdb_temp_rel']}`), "
        f"threads {cfg.get('duckdb_threads') or 'all cores'}. "
        f"Load average during the run: {res.get('load_average', '?')} (shared machine).",
        "",
    ]
    if not nights:
        lines += ["The pipeline was not run in this invocation.", ""]
    elif s["nights_run"] < s["nights_planned"]:
        lines += [
            f"**Partial run: {s['nights_run']} of {s['nights_planned']} nights measured; "
            "whole-history pipeline figures below are EXTRAPOLATED** from the measured "
            "nights' time per event.",
            "",
        ]
    if pipe.get("resumed_after_night"):
        lines += [
            f"The pipeline phase was resumed (`--resume`) after night "
            f"{pipe['resumed_after_night']}: the nights up to it were recorded by an earlier, "
            "interrupted run of the same command in the same folder, the nights after it by "
            "this one, on the warehouse the earlier nights left.",
            "",
        ]
    lines += [
        "| what | wall | events/s | peak memory |",
        "| --- | ---: | ---: | ---: |",
    ]
    ev = gen["events"]
    lb = res.get("lower_bound") or {}
    pd_ = res.get("pandas") or {}
    label = "full pipeline, all nights" + (
        " (extrapolated)" if "pipeline_seconds_extrapolated" in s else ""
    )
    if nights:
        lines.append(
            f"| {label} | {fmt_seconds(s['pipeline_seconds'])} | {fmt_rate(ev, s['pipeline_seconds'])} "
            f"| {fmt_mb(s['pipeline_peak_rss_mb'])} |"
        )
        if "fixed_seconds_total" in s:
            lines.append(
                f"| of which fixed per-night cost ({fmt_seconds(s['fixed_seconds_per_night'])} x {cfg['days']}"
                + (f"; {res['fixed']['source']}" if (res.get("fixed") or {}).get("source") else "")
                + ") "
                f"| {fmt_seconds(s['fixed_seconds_total'])} | | {fmt_mb((res.get('fixed') or {}).get('peak_rss_mb'))} |"
            )
            lines.append(
                f"| pipeline minus fixed cost | {fmt_seconds(s['pipeline_seconds_variable'])} "
                f"| {fmt_rate(ev, s['pipeline_seconds_variable'])} | |"
            )
        lines.append(
            f"| of which working copies (begin_run copy + commit_run) | {fmt_seconds(s['working_copy_seconds'])} | | |"
        )
        if s.get("process_start_seconds"):
            lines.append(
                f"| of which process start-up (one process per night) "
                f"| {fmt_seconds(s['process_start_seconds'])} | | |"
            )
    if lb.get("seconds"):
        lines.append(
            "| lower bound: DuckDB reads every file once, per-customer aggregate"
            + _origin(lb)
            + " "
            f"| {fmt_seconds(lb['seconds'])} | {fmt_rate(ev, lb['seconds'])} | {fmt_mb(lb.get('peak_rss_mb'))} |"
        )
    if pd_.get("total_seconds"):
        lines.append(
            "| pandas baseline (load, dedupe, sessions, RFM, item-item)" + _origin(pd_) + " "
            f"| {fmt_seconds(pd_['total_seconds'])} | {fmt_rate(ev, pd_['total_seconds'])} "
            f"| {fmt_mb(pd_.get('peak_rss_mb'))} |"
        )
    elif pd_.get("error"):
        lines.append(
            f"| pandas baseline | failed: {pd_['error']} | | {fmt_mb(pd_.get('peak_rss_mb'))} |"
        )
    if "backfill_seconds" in s:
        lines.append(
            f"| backfill: {s['backfill_days']} days in one pass (`tailor run --from --to`) "
            f"| {fmt_seconds(s['backfill_seconds'])} "
            f"| {fmt_rate((res.get('backfill') or {}).get('raw_events'), s['backfill_seconds'])} "
            f"| {fmt_mb((res.get('backfill') or {}).get('peak_rss_mb'))} |"
        )
    lines.append("")
    lines += _backfill_lines(res, s)

    if nights:
        lines += [
            "Per stage, summed over the measured nights (rows = each night's input rows, all sources):",
            "",
            "| stage | wall | share | rows/s | peak memory |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for name, a in stage_summary(nights).items():
            lines.append(
                f"| {name} | {fmt_seconds(a['seconds'])} | {a['share']:.0%} | {fmt_rate(a['rows'], a['seconds'])} "
                f"| {fmt_mb(a['peak_rss_mb'])} |"
            )
        lines.append(
            f"| working copy (per night: checkpoint + copy + checkpoint + rename) "
            f"| {fmt_seconds(s['working_copy_seconds'])} | | | |"
        )
        if pipe.get("publish_seconds") is not None:
            lines.append(
                f"| publish snapshot (once) | {fmt_seconds(pipe['publish_seconds'])} | | | |"
            )
        lines.append("")

        wanted = [n for n in nights if n["night"] in INCREMENTAL_NIGHTS or n is nights[-1]]
        seen: set[int] = set()
        wanted = [n for n in wanted if not (n["night"] in seen or seen.add(n["night"]))]
        stages = list(nights[0]["stages"])
        per_night_lb = {int(k): v for k, v in (lb.get("nights") or {}).items()}
        head = (
            "| night | events | warehouse | "
            + " | ".join(stages)
            + " | working copy | total | lower bound of the night | load (1 min) |"
        )
        lines += [
            "Incremental: one night with the history before it (seconds per stage):",
            "",
            head,
            "| " + " | ".join(["---"] + ["---:"] * (len(stages) + 6)) + " |",
        ]
        for n in wanted:
            cells = [f"{n['stages'][st]['seconds']:.1f}" for st in stages]
            total = sum(x["seconds"] for x in n["stages"].values()) + n["working_copy_seconds"]
            nlb = per_night_lb.get(n["night"])
            lines.append(
                f"| {n['night']} ({n['day']}) | {n['events']:,} | {fmt_mb(n['warehouse_mb'])} | "
                + " | ".join(cells)
                + f" | {n['working_copy_seconds']:.1f} | {total:.1f} | {fmt_seconds(nlb)} "
                f"| {(n.get('load_average') or '?').split()[0]} |"
            )
        lines.append("")

    t = s.get("targets") or {}
    lines += ["Targets (issue 9, stated for 10M events; checked here at this size):", ""]
    if "ratio_variable_vs_lower_bound" in s:
        lines.append(
            f"- within 3x of the lower bound plus fixed start-up costs: {_verdict(t.get('within_3x_lower_bound_plus_fixed'))} — "
            f"pipeline minus {fmt_seconds(s['fixed_seconds_total'])} fixed = {fmt_seconds(s['pipeline_seconds_variable'])}, "
            f"{s['ratio_variable_vs_lower_bound']:.1f}x the lower bound ({fmt_seconds(s['lower_bound_seconds'])}); "
            f"without subtracting the fixed cost {s['ratio_vs_lower_bound']:.1f}x."
        )
    if "pandas_over_pipeline" in s:
        lines.append(
            f"- at least 5x faster than pandas: {_verdict(t.get('5x_faster_than_pandas'))} — pandas "
            f"{fmt_seconds(s['pandas_seconds'])} vs the pipeline's {s['nights_planned']} nights"
            + (" (extrapolated)" if "pipeline_seconds_extrapolated" in s else "")
            + " "
            f"{fmt_seconds(s['pipeline_seconds'])}: pandas/pipeline = {s['pandas_over_pipeline']:.2f}. "
            f"Night by night (pandas redoes the whole history each night, the pipeline's night "
            f"{s['last_night']} took {fmt_seconds(s['last_night_seconds'])}): "
            f"pandas/pipeline = {s['pandas_over_last_night']:.2f}."
        )
    lines += _night_ratio_lines(s, pipe)
    if nights:
        lines.append(
            f"- peak memory under 8 GB: {_verdict(t.get('peak_memory_under_8gb'))} — "
            f"{fmt_mb(s['pipeline_peak_rss_mb'])} peak RSS of the pipeline"
            + (
                " (the largest night; each night runs in its own process)"
                if any("process_wall_seconds" in n for n in nights)
                else " process"
            )
            + (
                f" over the {s['nights_run']} measured nights only."
                if s["nights_run"] < s["nights_planned"]
                else "."
            )
        )
    lines.append("")
    return "\n".join(lines)


def replace_block(text: str, key: str, block: str) -> str:
    """Put ``block`` between the ``bench:<key>`` markers of ``text`` (appended if absent)."""
    begin, end = f"<!-- bench:{key}:begin -->", f"<!-- bench:{key}:end -->"
    new = f"{begin}\n{block.rstrip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: new, text)
    return text.rstrip() + "\n\n" + new + "\n"
