"""The ``dbt_build`` stage of one night on a built history, for before/after measurements
of the dbt models.

    .venv/bin/python benchmarks/dbt_night.py --size 1m --night 30 prepare
    .venv/bin/python benchmarks/dbt_night.py --size 1m --night 30 run --repeat 2

``prepare`` (once) builds ``<TAILOR_DATA>/bench/<size>/dbt-night/history.duckdb`` from the
landing files ``benchmarks/run.py`` generated for that size: nights 1..N-1 loaded, a full
build as of night N-4, then incremental builds of nights N-3..N-1, so the history looks as
it does after nightly runs (old events were processed long ago, not all by the last
build). ``run`` copies it, loads night N and times ``tailor.pipeline.stage_dbt_build``
``--repeat`` times in one process, each on a fresh copy: the first build pays dbt's
import and project parse, the later ones are what every further night of a multi-night
process (``tailor run --from --to``) pays. It prints the slowest nodes of each.

To compare with an older commit, check it out in a worktree and run ``run`` there with
``TAILOR_HOME`` pointing at it (the history file is the same).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import time
from pathlib import Path

START = dt.date(2026, 10, 1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("action", choices=["prepare", "run"])
    p.add_argument("--size", default="1m", help="the benchmarks/run.py size whose data to use")
    p.add_argument("--night", type=int, default=30, help="the night to time (default 30)")
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args(argv)

    here = Path(__file__).resolve().parent.parent
    home = Path(os.environ.get("TAILOR_HOME", here))  # the code to measure
    sys.path.insert(0, str(home))
    data = Path(os.environ.get("TAILOR_DATA", here / "data"))  # this checkout's bench data
    root = data / "bench" / args.size / "dbt-night"
    root.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        TAILOR_DATA=str(root),
        TAILOR_LANDING=str(data / "bench" / args.size / "landing"),
        TAILOR_DUCKDB_MEMORY=os.environ.get("TAILOR_DUCKDB_MEMORY", "6GB"),
        TAILOR_DUCKDB_TEMP=str(root / "tmp" / "duckdb"),
    )
    from tailor import pipeline, transform
    from tailor.settings import get_settings

    s = get_settings()
    history = root / "history.duckdb"
    day = START + dt.timedelta(days=args.night - 1)
    if args.action == "prepare":
        s.warehouse.unlink(missing_ok=True)
        for i in range(args.night - 1):
            pipeline.stage_load(pipeline.RunContext(day=START + dt.timedelta(days=i), settings=s))
        for back, full in ((4, True), (3, False), (2, False), (1, False)):
            built = day - dt.timedelta(days=back)
            transform.build(
                built,
                full_refresh=full,
                select=pipeline.DBT_CORE_SELECT,
                settings=s,
                tests=False,
            )
            print(f"built {built}", flush=True)
        pipeline._checkpoint(s.warehouse, s)
        shutil.copyfile(s.warehouse, history)
        return 0
    if not history.exists():
        p.error(f"no {history}: run prepare first")
    for rep in range(args.repeat):
        shutil.copyfile(history, s.warehouse)
        ctx = pipeline.RunContext(day=day, settings=s)
        pipeline.stage_load(ctx)
        t = time.perf_counter()
        result = pipeline.stage_dbt_build(ctx)
        print(f"build {rep + 1}: dbt_build {time.perf_counter() - t:.1f} s", flush=True)
        for node, seconds in result["slowest"][:6]:
            print(f"    {seconds:6.2f} s  {node}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
