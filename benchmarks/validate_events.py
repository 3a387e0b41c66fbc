"""Benchmark: the raw-layer quality gate on a 10M-row ``raw.events`` partition.

Builds a scratch warehouse whose ``raw.events`` holds ``--rows`` Segment-shaped events for
one day (generated in SQL inside DuckDB by a child process, with the same columns and value
shapes the loader writes), plus a week of ``raw.load_log`` history so that the row-count check has a
baseline, then runs ``expectations.runner.validate_layer("raw", day)`` on it and prints the
wall time and the peak resident memory of the validating process.

Every check runs as SQL in DuckDB; nothing is pulled into pandas, which is what keeps the
peak memory far below the size of the table.

    .venv/bin/python benchmarks/validate_events.py                 # 10M rows
    .venv/bin/python benchmarks/validate_events.py --rows 1000000  # quicker
    .venv/bin/python benchmarks/validate_events.py --reuse         # keep the generated data

The scratch folder defaults to ``<TAILOR_DATA>/bench/validate_events`` (``--dir`` to move
it); it is deleted afterwards unless ``--keep`` or ``--reuse`` is given.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

DAY = dt.date(2026, 10, 14)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(con, rows: int, day: dt.date) -> None:
    """``rows`` events of ``day`` in ``raw.events``, and 7 days of load-log history."""
    from tailor.warehouse import ensure_raw_schema

    ensure_raw_schema(con)
    con.execute("delete from raw.events")
    con.execute("delete from raw.load_log")
    # ~1.5 events per second over the day; a share of them late (up to 2 days), 70% known
    # users, product events with a price, a few hundred thousand visitors.
    con.execute(
        f"""
        insert into raw.events (
            message_id, type, event, name, anonymous_id, user_id, event_timestamp, sent_at,
            received_at, properties, traits, context, extra,
            _dt, _batch_id, _source_file, _line, _loaded_at
        )
        with base as (
            select
                i,
                md5(i::varchar) as h,
                timestamp '{day}' + to_milliseconds((i * 86399999 // {rows})::bigint)
                    - case when i % 100 = 0 then interval 30 hour else interval 0 hour end as ts
            from range({rows}) t(i)
        )
        select
            substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-a'
                || substr(h, 18, 3) || '-' || substr(h, 21, 12) as message_id,
            case when i % 10 < 4 then 'page' when i % 50 = 7 then 'identify' else 'track' end as type,
            case when i % 10 < 4 or i % 50 = 7 then null
                 else ['Product Viewed', 'Product Added', 'Products Searched', 'Cart Viewed',
                       'Checkout Started', 'Order Completed'][1 + (i % 6)] end as event,
            null as name,
            md5((i % 400000)::varchar)[1:8] || '-0000-4000-8000-' || md5((i % 400000)::varchar)[9:20] as anonymous_id,
            case when i % 10 < 7 then 'C' || lpad(((i * 7919) % 200000)::varchar, 7, '0') end as user_id,
            strftime(ts, '%Y-%m-%dT%H:%M:%S.%g') || 'Z' as event_timestamp,
            null as sent_at,
            strftime(ts + interval 2 second, '%Y-%m-%dT%H:%M:%S.%g') || 'Z' as received_at,
            case when i % 10 >= 4 and i % 50 <> 7
                 then json_object('product_id', 'P' || lpad((i % 50000)::varchar, 6, '0'),
                                  'price', round(2.99 + (i % 5000) / 10.0, 2), 'currency', 'EUR')
            end as properties,
            null::json as traits,
            null::json as context,
            null::json as extra,
            date '{day}' as _dt,
            'bench' as _batch_id,
            'events/dt={day}/events.ndjson.gz' as _source_file,
            i + 1 as _line,
            timestamp '{day}' + interval 1 day as _loaded_at
        from base
        """
    )
    for back in range(1, 8):
        d = day - dt.timedelta(days=back)
        n = int(rows * (0.9 + 0.03 * back))
        con.execute(
            "insert into raw.load_log (_batch_id, source, _dt, source_file, checksum, file_bytes, rows_read, rows_loaded, rows_quarantined, started_at, finished_at) values ('bench', 'events', ?, ?, 'x', 1, ?, ?, 0, now(), now())",
            [d, f"events/dt={d}/events.ndjson.gz", n, n],
        )
    con.execute(
        "insert into raw.load_log (_batch_id, source, _dt, source_file, checksum, file_bytes, rows_read, rows_loaded, rows_quarantined, started_at, finished_at) values ('bench', 'events', ?, ?, 'x', 1, ?, ?, 0, now(), now())",
        [day, f"events/dt={day}/events.ndjson.gz", rows, rows],
    )
    con.execute("checkpoint")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="events in the partition")
    parser.add_argument(
        "--dir", type=Path, help="scratch folder (default <TAILOR_DATA>/bench/validate_events)"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="reuse the data of an earlier run with the same --rows"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    from tailor.settings import get_settings
    from tailor.warehouse import connect

    base = get_settings()
    root = (args.dir or base.data / "bench" / "validate_events").resolve()
    s = dataclasses.replace(
        base,
        data=root / "data",
        warehouse=root / "data" / "warehouse" / f"bench_events_{args.rows}.duckdb",
        reports=root / "data" / "reports",
        duckdb_temp=root / "data" / "tmp" / "duckdb",
    )
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    if args.generate_only:
        s.warehouse.unlink(missing_ok=True)
        con = connect(s.warehouse, settings=s)
        try:
            build(con, args.rows, DAY)
        finally:
            con.close()
        return 0
    if not (args.reuse and s.warehouse.exists()):
        # Generated in a child process, so that the peak memory measured below is the
        # validation's alone (DuckDB's buffers live in the process that used them).
        cmd = [
            sys.executable,
            __file__,
            "--generate-only",
            "--rows",
            str(args.rows),
            "--dir",
            str(root),
        ]
        subprocess.run(cmd, check=True)
    timings["generate_data"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    import great_expectations  # noqa: F401  (measured apart: a one-off per process)

    from expectations.runner import ValidationFailed, validate_layer

    timings["import_gx"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    try:
        report = validate_layer("raw", DAY, s)
        status = "passed"
    except ValidationFailed as exc:
        report, status = exc.report, "failed"
    timings["validate_raw_layer"] = time.perf_counter() - t0

    events = [o for o in report.outcomes if o.table == "raw.events"]
    result = {
        "rows": args.rows,
        "warehouse_mb": round(s.warehouse.stat().st_size / 2**20, 1),
        "status": status,
        "expectations": len(report.outcomes),
        "events_expectations": len(events),
        "failed": [o.describe() for o in report.outcomes if not o.success],
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "threads": s.duckdb_threads or "all cores",
        "memory_limit": s.duckdb_memory_limit,
        "python": sys.version.split()[0],
    }
    print(json.dumps(result, indent=2))
    if not (args.keep or args.reuse):
        shutil.rmtree(root, ignore_errors=True)
    return 0 if status == "passed" else 1


if __name__ == "__main__":
    raise SystemExit(main())
