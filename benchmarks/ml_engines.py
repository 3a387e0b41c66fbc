"""A night's ML stages (segment, score, recommend) on one built warehouse, timed: the
DuckDB path before/after a change, and the same stages on Spark tables of the same marts.

    .venv/bin/python benchmarks/ml_engines.py prepare --customers 2000 --days 60   # once
    .venv/bin/python benchmarks/ml_engines.py run                  # DuckDB, this checkout
    TAILOR_HOME=/tmp/old .venv/bin/python benchmarks/ml_engines.py run   # an older commit
    .venv/bin/python benchmarks/ml_engines.py run --engine spark   # the marts on Spark

``prepare`` generates a shop, loads it and builds the marts on DuckDB as of its last day
into ``<data>/bench/ml-engines/built.duckdb``. ``run`` copies that file to a scratch
warehouse (for ``--engine spark``, then builds the same marts on Spark from its raw
tables) and runs the stages in one process, printing each one's wall and CPU time (CPU time is the steadier
measure on a busy machine).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import shutil
import sys
import time
from pathlib import Path
from types import SimpleNamespace

# the dbt layers the ML jobs read
SELECT = "resource_type:seed staging intermediate marts.core marts.segmentation marts.ml"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("action", choices=["prepare", "run"])
    p.add_argument("--customers", type=int, default=2000)
    p.add_argument("--products", type=int, default=300)
    p.add_argument("--days", type=int, default=60)
    p.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--stages", default="segment,score,recommend", help="comma-separated")
    args = p.parse_args(argv)

    here = Path(__file__).resolve().parent.parent
    home = Path(os.environ.get("TAILOR_HOME", here))  # the code to measure
    sys.path.insert(0, str(home))
    data = Path(os.environ.get("TAILOR_DATA", here / "data")) / "bench" / "ml-engines"
    built = data / "built.duckdb"
    start = dt.date(2026, 6, 1)
    day = start + dt.timedelta(days=args.days - 1)
    os.environ.update(TAILOR_DATA=str(data / args.action), TAILOR_DBT_TARGET=args.engine)
    from tailor.settings import get_settings
    from tailor.warehouse import connect

    s = dataclasses.replace(get_settings(), landing=data / "landing")
    if args.action == "prepare":
        from tailor import ingest, transform
        from tailor.synthetic.config import DirtConfig, GeneratorConfig
        from tailor.synthetic.driver import generate

        shutil.rmtree(data, ignore_errors=True)
        generate(
            GeneratorConfig(
                customers=args.customers,
                products=args.products,
                days=args.days,
                start=start,
                seed=7,
                dirt=DirtConfig().scaled(0.5),
            ),
            s.landing,
            data / "ground_truth",
        )
        with connect(s.warehouse, settings=s) as con:
            ingest.load_range(con, s.landing)
        transform.build(day, select=SELECT, settings=s, tests=False)
        shutil.copyfile(s.warehouse, built)
        (data / "day").write_text(day.isoformat())
        print(f"built {built} as of {day}")
        return 0

    from ml import propensity, recommend, segmentation

    day = dt.date.fromisoformat((data / "day").read_text())
    for i in range(args.repeat):
        shutil.rmtree(s.data, ignore_errors=True)
        s.warehouse.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, s.warehouse)
        if args.engine == "spark":  # the same marts built on Spark
            from tailor import transform

            t0 = time.perf_counter()
            transform.build(day, select=SELECT, settings=s, tests=False)
            print(f"spark run {i + 1} dbt build: {time.perf_counter() - t0:.2f} s")
        ctx = SimpleNamespace(day=day, settings=s)
        stages = {"segment": segmentation.run, "score": propensity.run, "recommend": recommend.run}
        for name in args.stages.split(","):
            stage = stages[name]
            t0, c0 = time.perf_counter(), time.process_time()
            result = stage(ctx)
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            status = result.get("status")
            print(f"{args.engine} run {i + 1} {name}: {seconds:.2f} s, {cpu:.2f} s CPU ({status})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
