"""The two reference points measured in the same run as the pipeline: DuckDB reading every
file once (the lower bound) and ``benchmarks/pandas_baseline.py`` (the pandas peer)."""

from __future__ import annotations

import datetime as dt
import resource
import time
from pathlib import Path

from benchmarks.scale.measure import peak_rss_mb

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


def phase_pandas(root: Path, limit_gb: float) -> dict:
    """``benchmarks/pandas_baseline.py`` on the run's landing files, its address space
    limited to ``limit_gb``."""
    from benchmarks.pandas_baseline import run as pandas_run

    # keep a runaway baseline from taking the shared machine down with it
    limit = int(limit_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        return pandas_run(root / "landing")
    except MemoryError:
        return {
            "error": f"MemoryError (address space limited to {limit_gb} GB)",
            "peak_rss_mb": peak_rss_mb(),
        }
