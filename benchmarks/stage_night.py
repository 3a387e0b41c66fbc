"""Chosen stages of the next night on the warehouse a ``benchmarks/run.py`` run left, for
before/after measurements of single stages at scale (erase, recommend, ...).

    .venv/bin/python -m benchmarks.run --size 10m --run-days 12 ...     # leaves night 12
    .venv/bin/python benchmarks/stage_night.py --size 10m keep            # once
    .venv/bin/python benchmarks/stage_night.py --size 10m run --stages load,erase,recommend

``keep`` copies ``<bench>/warehouse/tailor.duckdb`` (the state after the run's last night)
to ``<bench>/stage-night/history.duckdb``. ``run`` copies it back into a scratch warehouse,
gives the stages a landing zone of hard links to the generated partitions up to the next
night (a purge renames a new file over a link, the generated files stay as they were) and
runs the stages of that night in order, in one process, printing each one's wall time and
result. Stages that need earlier ones (``dbt_build`` after ``load``) must be listed too.

To compare with an older commit, check it out in a worktree and run ``run`` there with
``TAILOR_HOME`` pointing at it (the history file is the same).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("action", choices=["keep", "run"])
    p.add_argument("--size", default="10m", help="the benchmarks/run.py size whose run to use")
    p.add_argument("--stages", default="load,erase", help="comma-separated stage names")
    args = p.parse_args(argv)

    # each benchmark is a standalone script (python benchmarks/NAME.py): it finds the code to measure itself
    here = Path(__file__).resolve().parent.parent
    home = Path(os.environ.get("TAILOR_HOME", here))  # the code to measure
    sys.path.insert(0, str(home))
    data = Path(os.environ.get("TAILOR_DATA", here / "data"))  # this checkout's bench data
    bench = data / "bench" / args.size
    root = bench / "stage-night"
    history = root / "history.duckdb"
    if args.action == "keep":
        root.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bench / "warehouse" / "tailor.duckdb", history)
        print(f"kept {history}")
        return 0
    if not history.exists():
        p.error(f"no {history}: run keep after a benchmarks/run.py run")
    landing = root / "landing"
    os.environ.update(
        TAILOR_DATA=str(root),
        TAILOR_LANDING=str(landing),
        TAILOR_DUCKDB_MEMORY=os.environ.get("TAILOR_DUCKDB_MEMORY", "6GB"),
        TAILOR_DUCKDB_TEMP=str(root / "tmp" / "duckdb"),
    )
    import duckdb

    from tailor import pipeline
    from tailor.settings import get_settings

    s = get_settings()
    con = duckdb.connect(str(history), read_only=True)
    try:
        (last,) = con.execute(
            "select max(_dt) from raw.load_log where source = 'events'"
        ).fetchone()
    finally:
        con.close()
    day = last + dt.timedelta(days=1)
    shutil.rmtree(landing, ignore_errors=True)
    generated = bench / "landing"
    for part in sorted(generated.glob("*/dt=*")):
        if dt.date.fromisoformat(part.name[3:]) <= day:
            shutil.copytree(part, landing / part.relative_to(generated), copy_function=os.link)
    s.warehouse.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(history, s.warehouse)
    ctx = pipeline.RunContext(day=day, settings=s)
    stages = dict(pipeline.STAGES)
    print(f"night of {day} on {history} (code: {home})", flush=True)
    for name in args.stages.split(","):
        started = time.perf_counter()
        result = stages[name](ctx)
        seconds = time.perf_counter() - started
        print(f"{name}: {seconds:.1f} s  {json.dumps(result, default=str)[:300]}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
