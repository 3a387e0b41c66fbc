"""The dbt build of one night on DuckDB and on Spark, same data, side by side (issue 26).

Generates a data set (``--customers``, ``--products``, ``--days``) into a scratch folder,
loads every day into DuckDB, then times ``tailor.transform.build`` of the last day (seeds,
models and data tests, as a first build) on each engine in turn, in one process. Prints
the machine load before and after, the seconds of each build (Spark's includes starting
its session and exporting the sources as Parquet) and the number of dbt nodes.

    .venv/bin/python -m benchmarks.dbt_engines --customers 60 --products 40 --days 3
    .venv/bin/python -m benchmarks.dbt_engines --customers 2000 --products 300 --days 28
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START = dt.date(2026, 10, 1)


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "tailor.cli", *args], check=True, capture_output=True)


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=60)
    parser.add_argument("--products", type=int, default=40)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--dir", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--engines", default="duckdb,spark")
    args = parser.parse_args()

    data = args.dir or Path(tempfile.mkdtemp(prefix="tailor-engines-"))
    os.environ["TAILOR_DATA"] = str(data)
    from tailor import transform
    from tailor.settings import get_settings

    last = START + dt.timedelta(days=args.days - 1)
    _cli(
        "generate",
        "--customers",
        str(args.customers),
        "--products",
        str(args.products),
        "--days",
        str(args.days),
        "--start",
        START.isoformat(),
    )
    _cli("load", "--from", START.isoformat(), "--to", last.isoformat())
    settings = get_settings()
    results = {"data": str(data), "customers": args.customers, "days": args.days}
    for engine in args.engines.split(","):
        s = dataclasses.replace(settings, dbt_target=engine)
        load_before = _load()
        t = time.perf_counter()
        res = transform.build(last, settings=s, unit_tests=False)
        results[engine] = {
            "seconds": round(time.perf_counter() - t, 1),
            "nodes": len(res.result.results),
            "load_before": load_before,
            "load_after": _load(),
        }
        print(engine, results[engine], flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
