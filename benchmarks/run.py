"""Benchmark runner (issue 9): the nightly pipeline at 1M / 10M events, stage by stage,
against two reference points measured in the same run.

    .venv/bin/python -m benchmarks.run --size 1m            # or: make bench SIZE=1m
    .venv/bin/python -m benchmarks.run --events 10M
    .venv/bin/python -m benchmarks.run --size small --run-days 3   # a quick look

What one run does, each phase in a child process (so every peak memory is its own):

1. ``generate``: synthetic landing files for ``--days`` days (30) with customers and
   products scaled so that the whole history holds about ``--events`` events, into
   ``<TAILOR_DATA>/bench/<size>/landing`` (reused when the same configuration is there).
2. ``lower_bound``: DuckDB reads every events and orders file once and computes a
   per-customer aggregate (events, order count and total): the cost of touching the data.
   The same on the single partitions of the measured nights (the per-night lower bound).
3. ``pandas``: ``benchmarks/pandas_baseline.py`` (load, dedupe, sessions, RFM, item-item
   recommendations) on the same files.
4. ``fixed``: the pipeline on a tiny data set (300 customers, 2 nights): the second
   night's time is the fixed per-night cost (imports, dbt parse, GX contexts, tests).
5. ``pipeline``: ``tailor.pipeline.run_day`` for every day in order on a fresh warehouse,
   each night in its own process as the nightly schedule runs it (``publish=False``,
   ``report=False``; the snapshot is published once after the last night). Per stage:
   wall time, the night's input rows per second and the peak resident memory sampled
   during the stage; per night: the working-copy cost (``begin_run`` copy plus
   ``commit_run`` checkpoint and rename, i.e. ``run_day`` minus its stages), the process
   start-up and the warehouse size. Every night is appended to
   ``<bench>/pipeline-nights.jsonl`` as it ends; ``--resume`` continues an interrupted
   run from there (same folder and size, the warehouse its last recorded night left).

DuckDB runs with ``TAILOR_DUCKDB_MEMORY`` (``--memory``, 6GB) and spills to
``<bench>/tmp/duckdb``. Results go to ``benchmarks/results/<size>-<UTC timestamp>.json``
and, as markdown, between the ``bench:<size>`` markers of ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE / "README.md"

# Events the generator writes per customer and day over a 30-day window (measured:
# 300 customers x 30 days -> 94,224 events, 10.5; anonymous visitors included).
EVENTS_PER_CUSTOMER_DAY = 10.5
SIZES = {"small": 100_000, "1m": 1_000_000, "10m": 10_000_000, "50m": 50_000_000}
START = dt.date(2026, 10, 1)
SEED = 42
INCREMENTAL_NIGHTS = (1, 10, 30)
TARGETS = {"lower_bound_ratio": 3.0, "pandas_speedup": 5.0, "peak_memory_gb": 8.0}


# --------------------------------------------------------------------------- pure helpers


def parse_events(text: str) -> int:
    """``"1M"`` -> 1_000_000, ``"250k"`` -> 250_000, ``"1e6"`` / ``"1000000"`` as given."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kKmMgG]?)\s*", text)
    if not m:
        raise ValueError(f"not an event count: {text!r}")
    mult = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}[m.group(2).lower()]
    return int(float(m.group(1)) * mult)


def size_label(events: int) -> str:
    """The folder / marker name of a size: a named size when it matches one, else e.g. 2.5m."""
    for name, n in SIZES.items():
        if n == events:
            return name
    if events >= 10**6:
        return f"{events / 10**6:g}m"
    return f"{events / 10**3:g}k"


def scaled_config(events: int, days: int) -> dict:
    """Generator parameters that give about ``events`` events over ``days`` days."""
    customers = max(20, round(events / (days * EVENTS_PER_CUSTOMER_DAY)))
    products = min(799_999, max(800, customers // 6))
    return {
        "customers": customers,
        "products": products,
        "days": days,
        "start": START.isoformat(),
        "seed": SEED,
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


def summarize(res: dict) -> dict:
    """The headline numbers and the targets, from a results dict (pure)."""
    pipe = res.get("pipeline") or {}
    nights = pipe.get("nights") or []
    days = res["config"]["days"]
    s: dict = {"nights_run": len(nights), "nights_planned": days}
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
    s["last_night_seconds"] = (
        sum(st["seconds"] for st in last["stages"].values())
        + last["working_copy_seconds"]
        + _start_seconds(last)
    )
    pd_ = res.get("pandas") or {}
    if pd_.get("total_seconds"):
        s["pandas_seconds"] = pd_["total_seconds"]
        s["pandas_over_pipeline"] = pd_["total_seconds"] / pipeline_seconds
        # pandas keeps no state: every night it redoes the whole history, so its nightly
        # cost is its full run; the pipeline's is one night with the history before it
        s["pandas_over_last_night"] = pd_["total_seconds"] / s["last_night_seconds"]
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
    lines.append("")

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


# --------------------------------------------------------------------------- measuring


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class RssSampler:
    """Samples this process's resident memory in a thread; the peak per label."""

    def __init__(self, every: float = 0.05):
        self.every = every
        self.label = "start"
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = current_rss_mb()
            label = self.label
            if rss > self.peaks.get(label, 0.0):
                self.peaks[label] = rss
            self._stop.wait(self.every)

    def switch(self, label: str) -> None:
        rss = current_rss_mb()
        self.peaks[self.label] = max(self.peaks.get(self.label, 0.0), rss)
        self.label = label
        self.peaks[label] = max(self.peaks.get(label, 0.0), rss)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def machine() -> dict:
    import duckdb

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = "?"
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        ram_gb = round(kb / 2**20, 1)
    except (OSError, AttributeError):
        pass
    os_name = platform.platform()
    try:
        m = re.search(r'PRETTY_NAME="([^"]+)"', Path("/etc/os-release").read_text())
        os_name = f"{m.group(1)} (Linux {platform.release()})" if m else os_name
    except OSError:
        pass
    try:
        from importlib.metadata import version

        dbt = version("dbt-core")
    except Exception:  # pragma: no cover - dbt missing
        dbt = "?"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": ram_gb,
        "os": os_name,
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "dbt": dbt,
    }


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# --------------------------------------------------------------------------- phases (children)


def bench_env(root: Path, memory: str, threads: int | None) -> dict[str, str]:
    """The environment of every child: Tailor's paths under ``root``, DuckDB limits."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("TAILOR_") and k != "AIRFLOW_HOME"
    }
    env.update(
        TAILOR_HOME=str(HERE.parent),
        TAILOR_DATA=str(root),
        TAILOR_DUCKDB_MEMORY=memory,
        TAILOR_DUCKDB_TEMP=str(root / "tmp" / "duckdb"),
        AIRFLOW_HOME=str(root / "airflow"),
        OPENBLAS_NUM_THREADS=env.get("OPENBLAS_NUM_THREADS", "1"),
        PYTHONUNBUFFERED="1",
    )
    if threads:
        env["TAILOR_DUCKDB_THREADS"] = str(threads)
    return env


def phase_generate(root: Path, cfg: dict) -> dict:
    from tailor.synthetic.config import GeneratorConfig
    from tailor.synthetic.driver import generate

    t = time.perf_counter()
    summary = generate(
        GeneratorConfig(
            customers=cfg["customers"],
            products=cfg["products"],
            days=cfg["days"],
            start=dt.date.fromisoformat(cfg["start"]),
            seed=cfg["seed"],
        ),
        root / "landing",
        root / "ground_truth",
    )
    landing_mb = sum(f.stat().st_size for f in (root / "landing").rglob("*") if f.is_file()) / 2**20
    return {
        "seconds": time.perf_counter() - t,
        "events": summary.events,
        "rows": summary.rows,
        "landing_mb": round(landing_mb, 1),
        "peak_rss_mb": peak_rss_mb(),
        "children_peak_rss_mb": children_peak_rss_mb(),
        "config": cfg,
    }


LOWER_BOUND_SQL = """
with ev as (
    select coalesce(userId, anonymousId) as customer_id, count(*) as events
    from read_json({events}, format = 'newline_delimited', ignore_errors = true,
                   columns = {{messageId: 'varchar', userId: 'varchar', anonymousId: 'varchar'}})
    group by all
),
o as (
    select customer_id, count(*) as orders, sum(try_cast(total as double)) as revenue
    from read_csv({orders}, all_varchar = true, ignore_errors = true, header = true)
    group by all
)
select count(*), sum(events), sum(orders), sum(revenue)
from ev full outer join o using (customer_id)
"""


def _lower_bound_query(con, landing: Path, day: str = "*") -> tuple[float, tuple]:
    events = f"'{landing}/events/dt={day}/*.ndjson*'"
    orders = f"'{landing}/orders/dt={day}/*.csv'"
    t = time.perf_counter()
    row = con.execute(LOWER_BOUND_SQL.format(events=events, orders=orders)).fetchone()
    return time.perf_counter() - t, row


def phase_lower_bound(root: Path, cfg: dict, nights: list[int]) -> dict:
    from tailor.settings import get_settings
    from tailor.warehouse import connect

    s = get_settings()
    t0 = time.perf_counter()
    con = connect(":memory:", settings=s)
    try:
        seconds, row = _lower_bound_query(con, s.landing)
        per_night = {}
        for n in nights:
            day = dt.date.fromisoformat(cfg["start"]) + dt.timedelta(days=n - 1)
            if (s.landing / "events" / f"dt={day}").exists():
                per_night[n], _ = _lower_bound_query(con, s.landing, day.isoformat())
    finally:
        con.close()
    return {
        "seconds": seconds,
        "seconds_with_connect": time.perf_counter() - t0,
        "customers": row[0],
        "events": row[1],
        "orders": row[2],
        "revenue": row[3],
        "nights": per_night,
        "peak_rss_mb": peak_rss_mb(),
    }


def _run_settings(root: Path):
    """The settings of the measured nights: the run's own landing zone (see phase_pipeline)."""
    from tailor.settings import get_settings

    return dataclasses.replace(get_settings(), landing=root / "run-landing")


def resume_point(nights: list[dict], last_loaded: dt.date | None) -> int:
    """How many recorded nights a resumed pipeline phase keeps: all of them, provided the
    warehouse is the one the last of them committed (its latest loaded day is that night's
    day). Anything else (a night committed but not recorded, a warehouse from another run)
    would make the numbers that follow belong to no run, so it is refused."""
    if not nights:
        raise ValueError("nothing to resume: no night of an earlier run is recorded")
    numbers = [n["night"] for n in nights]
    if numbers != list(range(1, len(nights) + 1)):
        raise ValueError(f"the recorded nights are not 1..{len(nights)} in order: {numbers}")
    last = nights[-1]
    if last_loaded is None or last_loaded.isoformat() != last["day"]:
        raise ValueError(
            f"the warehouse does not hold what night {last['night']} ({last['day']}) left: "
            f"its latest loaded day is {last_loaded}; run without --resume"
        )
    return len(nights)


def phase_pipeline(
    root: Path, cfg: dict, run_days: int, out_lines: Path, resume: bool = False
) -> dict:
    """Every night in order on a fresh warehouse, each night in its own process (as the
    nightly schedule runs it: one ``tailor run`` a night, or one process per Airflow task),
    so a night's peak memory is its own and no state carries over in memory; one JSON line
    per night to ``out_lines`` as it finishes (so a crash keeps the nights before it).

    ``resume``: keep the nights ``out_lines`` holds and the warehouse, landing zone and
    exports they left (an interrupted run), and run the nights after them."""
    import duckdb

    from tailor.publish import publish_snapshot
    from tailor.settings import get_settings

    s = get_settings()
    nights: list[dict] = []
    if resume:
        nights = [json.loads(x) for x in out_lines.read_text().splitlines() if x.strip()]
        con = duckdb.connect(str(s.warehouse), read_only=True)
        try:
            (last_loaded,) = con.execute("select max(_dt) from raw.load_log").fetchone()
        finally:
            con.close()
        done = resume_point(nights, last_loaded)
    else:
        done = 0
        for p in (s.warehouse, s.snapshot):
            p.unlink(missing_ok=True)
            Path(str(p) + ".wal").unlink(missing_ok=True)
        for sub in ("dbt", "exports", "reports", "tmp"):
            shutil.rmtree(root / sub, ignore_errors=True)
    # The nights read hard links of the generated files: applying an erasure request
    # purges the person's records from the landing zone (a new file renamed over the old
    # name), which would leave the next run on the same data set without its erasures.
    # A partition appears when its night comes (dt=D is delivered by night D), as in
    # production, where the landing zone holds no future days: an erasure purges the
    # files delivered so far.
    generated = s.landing
    run_landing = _run_settings(root).landing
    if not resume:
        shutil.rmtree(run_landing, ignore_errors=True)
        shutil.copytree(
            generated,
            run_landing,
            copy_function=os.link,
            ignore=lambda folder, names: [n for n in names if n.startswith("dt=")],
        )
    start = dt.date.fromisoformat(cfg["start"])
    with out_lines.open("a" if resume else "w") as out:
        for i in range(done, run_days):
            day = start + dt.timedelta(days=i)
            for part in sorted(generated.glob(f"*/dt={day.isoformat()}")):
                target = run_landing / part.relative_to(generated)
                if target.exists():
                    # delivered before the interruption (and maybe purged since): as is
                    continue
                shutil.copytree(part, target, copy_function=os.link)
            night = _night_process(root, i + 1, day)
            process_wall = night["process_wall_seconds"]
            nights.append(night)
            out.write(json.dumps(night, default=str) + "\n")
            out.flush()
            print(
                f"night {i + 1}/{run_days} {day}: {night['wall_seconds']:.1f} s "
                f"(process {process_wall:.1f} s), {night['events']:,} events, "
                f"rss {night['peak_rss_mb']:.0f} MB, load {night['load_average']}",
                file=sys.__stderr__,
                flush=True,
            )
    t = time.perf_counter()
    publish_snapshot(s)
    publish_seconds = time.perf_counter() - t
    return {
        "nights": nights,
        **({"resumed_after_night": done} if resume else {}),
        "publish_seconds": publish_seconds,
        "peak_rss_mb": max([n["peak_rss_mb"] for n in nights] + [peak_rss_mb()]),
        "children_peak_rss_mb": children_peak_rss_mb(),
    }


def _night_process(root: Path, night_no: int, day: dt.date) -> dict:
    """Run night ``night_no``, for ``day`` (:func:`phase_night`), in a new process; its
    result with the process's wall time, start-up included."""
    result = root / f"night-{night_no}.json"
    result.unlink(missing_ok=True)
    t = time.perf_counter()
    cmd = [sys.executable, "-m", "benchmarks.run", "--phase", "night", "--root", str(root)]
    cmd += ["--night", str(night_no), "--day", day.isoformat()]
    proc = subprocess.run(cmd, cwd=HERE.parent)
    process_wall = time.perf_counter() - t
    if proc.returncode != 0 or not result.exists():
        raise RuntimeError(f"night {night_no} failed: exit code {proc.returncode}")
    night = json.loads(result.read_text())
    result.unlink()
    night["process_wall_seconds"] = process_wall
    night["load_average"] = load_average()
    return night


def phase_night(root: Path, night_no: int, day: dt.date) -> dict:
    """One night of phase_pipeline, inside its own process: ``run_day`` on the warehouse the
    nights before left, with the peak memory sampled per stage."""
    import duckdb

    from tailor.pipeline import run_day

    s = _run_settings(root)
    with RssSampler() as sampler:
        sampler.switch("working_copy")
        t = time.perf_counter()

        def on_stage(name: str, ctx) -> None:
            sampler.switch(name)

        ctx = run_day(day, s, publish=False, report=False, on_stage=on_stage)
        wall = time.perf_counter() - t
        sampler.switch("between")
    con = duckdb.connect(str(s.warehouse), read_only=True)
    try:
        by_source = dict(
            con.execute(
                "select source, sum(rows_read) from raw.load_log where _dt = ? group by source",
                [day],
            ).fetchall()
        )
        history = con.execute("select count(*) from raw.events").fetchone()[0]
    finally:
        con.close()
    rows = int(sum(by_source.values()))
    stages = {
        name: {"seconds": secs, "rows": rows, "peak_rss_mb": sampler.peaks.get(name)}
        for name, secs in ctx.timings.items()
    }
    return {
        "night": night_no,
        "day": day.isoformat(),
        "events": int(by_source.get("events", 0)),
        "rows": rows,
        "rows_by_source": {k: int(v) for k, v in by_source.items()},
        "raw_events_history": int(history),
        "wall_seconds": wall,
        "working_copy_seconds": wall - sum(ctx.timings.values()),
        "working_copy_peak_rss_mb": sampler.peaks.get("working_copy"),
        "warehouse_mb": s.warehouse.stat().st_size / 2**20,
        "stages": stages,
        "dbt_slowest": (ctx.results.get("dbt_build") or {}).get("slowest"),
        # what the night's erasures cost, part by part (landing purge, tables, compaction)
        "erase": ctx.results.get("erase"),
        "peak_rss_mb": peak_rss_mb(),
    }


def phase_fixed(root: Path) -> dict:
    """The per-night fixed cost: the second of two nights on 300 customers (about 3k rows;
    fewer customers leave segmentation without enough data and the ML gate fails), each
    night in its own process as in the pipeline phase."""
    from tailor.settings import get_settings
    from tailor.synthetic.config import GeneratorConfig
    from tailor.synthetic.driver import generate

    s = get_settings()
    cfg = {"customers": 300, "products": 200, "days": 2, "start": START, "seed": SEED}
    generate(GeneratorConfig(**cfg), s.landing, s.ground_truth)
    s.warehouse.unlink(missing_ok=True)
    for sub in ("dbt", "run-landing"):
        shutil.rmtree(root / sub, ignore_errors=True)
    shutil.copytree(s.landing, _run_settings(root).landing, copy_function=os.link)
    nights = [_night_process(root, n, START + dt.timedelta(days=n - 1)) for n in (1, 2)]
    return {
        "night_seconds": nights[-1]["process_wall_seconds"],
        "first_night_seconds": nights[0]["process_wall_seconds"],
        "stages": {k: v["seconds"] for k, v in nights[-1]["stages"].items()},
        "peak_rss_mb": max(n["peak_rss_mb"] for n in nights),
    }


def last_line(path: Path, tail: int = 64 * 1024) -> str:
    """The last non-empty line of a log (a failed child's exception), or ''."""
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - tail))
        lines = fh.read().decode("utf-8", errors="replace").splitlines()
    return next((ln.strip() for ln in reversed(lines) if ln.strip()), "")


def _child(
    phase: str, root: Path, args: argparse.Namespace, log: Path, extra: list[str] | None = None
) -> dict:
    """Run one phase in a child process; its stdout/stderr go to ``log``."""
    out = root / f"phase-{phase}.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "benchmarks.run", "--phase", phase, "--root", str(root)]
    cmd += [
        "--events",
        str(args.events_n),
        "--days",
        str(args.days),
        "--run-days",
        str(args.run_days),
    ]
    cmd += extra or []
    t = time.perf_counter()
    with log.open("a") as fh:
        fh.write(f"\n=== {phase}: {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.run(
            cmd,
            cwd=HERE.parent,
            env=bench_env(root, args.memory, args.threads),
            stdout=fh,
            stderr=fh,
        )
    wall = time.perf_counter() - t
    if proc.returncode != 0 or not out.exists():
        why = last_line(log)
        return {
            "error": f"exit code {proc.returncode}{': ' + why if why else ''}; see {log}",
            "wall_seconds": wall,
        }
    res = json.loads(out.read_text())
    res["process_wall_seconds"] = wall
    return res


def run_phase(args: argparse.Namespace) -> int:
    """Inside a child: run ``args.phase`` and write ``phase-<name>.json``."""
    root = args.root
    cfg = scaled_config(args.events_n, args.days)
    if args.phase == "generate":
        res = phase_generate(root, cfg)
    elif args.phase == "lower_bound":
        res = phase_lower_bound(root, cfg, [n for n in INCREMENTAL_NIGHTS if n <= args.days])
    elif args.phase == "pipeline":
        res = phase_pipeline(
            root, cfg, args.run_days, root / "pipeline-nights.jsonl", resume=args.resume
        )
    elif args.phase == "night":
        res = phase_night(root, args.night, dt.date.fromisoformat(args.day))
        (root / f"night-{args.night}.json").write_text(json.dumps(res, default=str))
        return 0
    elif args.phase == "fixed":
        res = phase_fixed(root)
    elif args.phase == "pandas":
        from benchmarks.pandas_baseline import run as pandas_run

        # keep a runaway baseline from taking the shared machine down with it
        limit = int(args.pandas_limit_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            res = pandas_run(root / "landing")
        except MemoryError:
            res = {
                "error": f"MemoryError (address space limited to {args.pandas_limit_gb} GB)",
                "peak_rss_mb": peak_rss_mb(),
            }
    else:
        raise SystemExit(f"unknown phase {args.phase}")
    (root / f"phase-{args.phase}.json").write_text(json.dumps(res, indent=2, default=str))
    return 0


# --------------------------------------------------------------------------- entry point


def load_range(res: dict) -> str:
    """The 1-minute load averages seen at phase boundaries and after every night."""
    seen = list(res.get("load_samples") or [])
    seen += [n.get("load_average", "?") for n in (res.get("pipeline") or {}).get("nights") or []]
    samples = [float(x.split()[0]) for x in seen if x and x != "?"]
    return f"{min(samples):.1f}-{max(samples):.1f} (1-min)" if samples else "?"


def rerender(path: Path, readme: bool = True) -> int:
    """Recompute the summary of a results file and put its block into the README."""
    res = json.loads(path.read_text())
    res["load_average"] = load_range(res)
    res["summary"] = summarize(res)
    path.write_text(json.dumps(res, indent=2, default=str) + "\n")
    block = render_markdown(res)
    if readme:
        text = README.read_text() if README.exists() else "# Benchmarks\n"
        README.write_text(replace_block(text, res["size"], block))
    print(block)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="benchmarks.run", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--size", choices=sorted(SIZES), help="a named size (small=100k, 1m, 10m, 50m events)"
    )
    p.add_argument("--events", help="events over the whole history, e.g. 1M, 250k (default 1M)")
    p.add_argument("--days", type=int, default=30, help="days of history (default 30)")
    p.add_argument(
        "--run-days",
        type=int,
        help="run only the first N nights through the pipeline; whole-history figures are "
        "then extrapolated and labelled so (default: all)",
    )
    p.add_argument(
        "--memory", default="6GB", help="DuckDB memory limit (TAILOR_DUCKDB_MEMORY, default 6GB)"
    )
    p.add_argument("--threads", type=int, help="DuckDB threads (default: all cores)")
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["pandas", "lower_bound", "fixed", "pipeline"],
    )
    p.add_argument(
        "--reuse",
        action="append",
        default=[],
        choices=["pandas", "lower_bound", "fixed"],
        help="reuse that phase's result from an earlier run in the same scratch folder",
    )
    p.add_argument(
        "--regenerate", action="store_true", help="regenerate even if the landing data matches"
    )
    p.add_argument(
        "--pandas-limit-gb",
        type=float,
        default=16.0,
        help="address-space limit of the pandas child",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted pipeline phase in the same scratch folder: keep its "
        "recorded nights and the warehouse they left, run the nights after them",
    )
    p.add_argument("--no-readme", action="store_true", help="do not update benchmarks/README.md")
    # each benchmark script parses its own options (it runs standalone)
    p.add_argument("--dir", type=Path, help="scratch folder (default <TAILOR_DATA>/bench/<size>)")
    p.add_argument(
        "--render",
        type=Path,
        metavar="RESULTS_JSON",
        help="only re-render the README block (and the summary) of an existing results file",
    )
    p.add_argument("--phase", help=argparse.SUPPRESS)
    p.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--night", type=int, help=argparse.SUPPRESS)
    p.add_argument("--day", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; ``argv`` as on the command line (``None``: ``sys.argv[1:]``).

    Returns 0 when every phase ran (targets met or not), 1 when a phase failed."""
    args = build_parser().parse_args(argv)
    if args.render:
        return rerender(args.render, readme=not args.no_readme)
    if args.size and args.events:
        raise SystemExit("give --size or --events, not both")
    args.events_n = SIZES[args.size] if args.size else parse_events(args.events or "1M")
    args.run_days = min(args.run_days or args.days, args.days)
    if args.phase:
        return run_phase(args)

    from tailor.settings import get_settings

    label = size_label(args.events_n)
    root = (args.dir or get_settings().data / "bench" / label).resolve()
    root.mkdir(parents=True, exist_ok=True)
    log = root / "bench.log"
    cfg = scaled_config(args.events_n, args.days)
    started = dt.datetime.now(dt.UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    res: dict = {
        "size": label,
        "target_events": args.events_n,
        "command": command.strip(),
        "started_at": started.strftime("%Y-%m-%d %H:%M"),
        "machine": machine(),
        "config": {
            **cfg,
            "duckdb_memory": args.memory,
            "duckdb_threads": args.threads,
            "duckdb_temp_rel": "<bench>/tmp/duckdb",
            "run_days": args.run_days,
        },
        "load_samples": [load_average()],
    }

    def say(msg: str) -> None:
        print(f"[bench {label}] {msg}  (load {load_average()})", flush=True)

    manifest = root / "phase-generate.json"
    same = manifest.exists() and json.loads(manifest.read_text()).get("config") == cfg
    if args.resume and (not same or args.regenerate or "pipeline" in args.skip):
        raise SystemExit(
            "--resume continues the pipeline phase on the data already generated in "
            f"{root}: that needs the same size and days, no --regenerate, no --skip pipeline"
        )
    if same and not args.regenerate:
        res["generate"] = json.loads(manifest.read_text())
        say(f"reusing generated data: {res['generate']['events']:,} events")
    else:
        say(f"generating {cfg['customers']:,} customers x {cfg['days']} days ...")
        shutil.rmtree(root / "landing", ignore_errors=True)
        res["generate"] = _child("generate", root, args, log)
        if "error" in res["generate"]:
            say(f"generation failed: {res['generate']['error']}")
            return 1
        say(f"generated {res['generate']['events']:,} events in {res['generate']['seconds']:.0f} s")

    failed = False
    for phase in ("lower_bound", "pandas", "fixed", "pipeline"):
        if phase in args.skip:
            continue
        extra_root = root / "fixed" if phase == "fixed" else root
        done = extra_root / f"phase-{phase}.json"
        if phase in args.reuse and done.exists():
            res[phase] = {**json.loads(done.read_text()), "reused": True}
            say(f"{phase}: reusing {done}")
            continue
        say(f"{phase} ...")
        if phase == "fixed":
            extra_root.mkdir(exist_ok=True)
            out = _child(phase, extra_root, args, log)
        elif phase == "pipeline" and args.resume:
            out = _child(phase, root, args, log, ["--resume"])
        else:
            out = _child(phase, root, args, log)
        if phase == "pipeline" and "error" in out:
            # keep the nights that finished
            lines = root / "pipeline-nights.jsonl"
            nights = (
                [json.loads(x) for x in lines.read_text().splitlines()] if lines.exists() else []
            )
            out = {**out, "nights": nights}
        res[phase] = out
        res["load_samples"].append(load_average())
        failed |= "error" in out
        say(
            f"{phase}: "
            + (
                "FAILED " + out["error"]
                if "error" in out
                else f"{out.get('process_wall_seconds', 0):.0f} s"
            )
        )

    res["finished_at"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
    res["load_average"] = load_range(res)
    res["summary"] = summarize(res)
    RESULTS.mkdir(exist_ok=True)
    res["results_file"] = f"{label}-{stamp}.json"
    (RESULTS / res["results_file"]).write_text(json.dumps(res, indent=2, default=str) + "\n")
    block = render_markdown(res)
    if not args.no_readme:
        text = README.read_text() if README.exists() else "# Benchmarks\n"
        README.write_text(replace_block(text, label, block))
    print(block)
    say(f"results: {RESULTS / res['results_file']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
