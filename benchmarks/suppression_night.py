"""The nightly suppression pass on a warehouse with erased people: an erasure night, then
plain nights, on this or an older commit.

    .venv/bin/python benchmarks/erase_night.py --no-dbt --repeats 1     # builds the history once
    .venv/bin/python benchmarks/suppression_night.py --nights 3
    TAILOR_HOME=/tmp/before .venv/bin/python benchmarks/suppression_night.py   # an older commit

Uses the history ``benchmarks/erase_night.py`` prepared under
``<TAILOR_DATA>/bench/erase-night-<customers>c-<days>d-raw/`` (every day but the last
loaded, raw tables only). On a copy of it: the erase stage's logical part
(``tailor.privacy.erasure.run``) on the last loaded day with ``--people`` erasure requests,
then ``--nights`` plain nights (the last day's partitions loaded again, as a night loads
its day, and the erase stage). Prints, per night, the stage's own ``suppression`` seconds
and what its pass checked, then the time of the physical pass's check of the whole history
(when the code has one), with ``uptime``'s load.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=int, default=1500)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--people", type=int, default=3)
    p.add_argument("--nights", type=int, default=2)
    args = p.parse_args(argv)

    here = Path(__file__).resolve().parent.parent
    home = Path(os.environ.get("TAILOR_HOME", here))  # the code to measure
    sys.path.insert(0, str(home))
    data = Path(os.environ.get("TAILOR_DATA", here / "data")).resolve()
    root = data / "bench" / f"erase-night-{args.customers}c-{args.days}d-raw"
    if not (root / "history.duckdb").exists():
        print(f"no history at {root}: run benchmarks/erase_night.py --no-dbt first")
        return 1
    folder = root / "suppression" / home.name
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from erase_night import isolate  # the same settings as the history it reuses

    isolate(home, folder / "scratch", root / "tmp")

    from tailor import csvsafe, ingest
    from tailor.pipeline import RunContext
    from tailor.privacy import erasure
    from tailor.settings import get_settings
    from tailor.warehouse import connect

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copyfile(root / "history.duckdb", folder / "tailor.duckdb")
    shutil.copytree(root / "landing", folder / "landing", copy_function=os.link)
    s = dataclasses.replace(
        get_settings(),
        warehouse=folder / "tailor.duckdb",
        landing=folder / "landing",
        exports=folder / "exports",
        reports=folder / "reports",
    )
    last = dt.date(2026, 10, 1) + dt.timedelta(days=args.days - 1)
    erasure_day = last - dt.timedelta(days=1)
    con = connect(s.warehouse, settings=s)
    try:
        people = [
            r[0]
            for r in con.execute(
                "select customer_id from raw.customers group by 1 order by count(*) desc, 1 limit ?",
                [args.people],
            ).fetchall()
        ]
        requests = s.landing / "erasure_requests" / f"dt={erasure_day}"
        requests.mkdir(parents=True, exist_ok=True)
        with (requests / "bench.csv").open("w", newline="") as f:
            w = csvsafe.writer(f)
            w.writerow(["request_id", "customer_id", "email", "requested_at"])
            for i, cid in enumerate(people):
                w.writerow([f"bench-{i}", cid, "", f"{erasure_day}T08:00:00Z"])
        ingest.load_day(con, s.landing, erasure_day, ["erasure_requests"])
    finally:
        con.close()

    def night(day: dt.date, load: bool) -> dict:
        clock = time.perf_counter()
        if load:
            con = connect(s.warehouse, settings=s)
            try:
                ingest.load_day(con, s.landing, day)
            finally:
                con.close()
        loaded = time.perf_counter() - clock
        clock = time.perf_counter()
        out = erasure.run(RunContext(day=day, settings=s))
        return {
            "day": str(day),
            "load_s": round(loaded, 2),
            "erase_stage_s": round(time.perf_counter() - clock, 2),
            "suppression_s": out["seconds"].get("suppression"),
            "requests_applied": out["requests_applied"],
            "checked": out.get("suppression"),
        }

    results = [night(erasure_day, load=False)]
    for _ in range(args.nights):
        results.append(night(last, load=True))
    try:  # the physical pass's safety net, when the code has one
        from tailor.privacy.suppression import full_suppression
    except ImportError:
        full_suppression = None
    full_s = None
    if full_suppression is not None:
        from tailor.warehouse import transaction

        con = connect(s.warehouse, settings=s)
        try:
            clock = time.perf_counter()
            with transaction(con):
                full_suppression(con)
            full_s = time.perf_counter() - clock
        finally:
            con.close()
    load = os.getloadavg()
    print(f"code {home}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for i, r in enumerate(results):
        what = "erasure night" if i == 0 else f"plain night {i}"
        checked = r["checked"] or {}
        scope = (
            f"{checked.get('pass')}, {checked.get('rows')} rows, "
            f"{checked['batches'] if isinstance(checked.get('batches'), int) else len(checked.get('batches', []))} batches"
            if checked
            else "whole history"
        )
        print(
            f"{what:>14}: suppression {r['suppression_s']:.2f} s ({scope}); "
            f"erase stage {r['erase_stage_s']:.2f} s; load {r['load_s']:.2f} s"
        )
    if full_s is not None:
        print(f"the physical pass's check of the whole history: {full_s:.2f} s")
    print(json.dumps(results, default=str))
    shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
