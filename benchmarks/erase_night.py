"""A night with erasure requests against the same night without, side by side on the same
warehouse, and the deadline pass that does their physical part, on this or an older commit.

    .venv/bin/python benchmarks/erase_night.py                        # 1,500 customers, 30 days
    .venv/bin/python benchmarks/erase_night.py --customers 3000 --people 8 --repeats 3
    TAILOR_HOME=/tmp/before .venv/bin/python benchmarks/erase_night.py   # an older commit

Builds (once, reused when the options match) a synthetic history in
``<TAILOR_DATA>/bench/erase-night-<customers>c-<days>d/``: the generator's landing files
(its own erasure requests left out, so that no night inherits pending ones), every day but
the last loaded, and the dbt models built on it (``--no-dbt``: raw tables only). Then, for
each repeat, the two variants of the last night alternate: each gets a fresh copy of the
warehouse and a landing zone of hard links (a purge renames a new file over a link, so the
generated files stay as they were); "with" also gets an ``erasure_requests`` file naming
the ``--people`` customers with the most sessions. Each variant times the night's ``load``
and ``erase`` stages (``tailor.pipeline.stage_erase``, as ``tailor run`` calls it; the
later stages read what it leaves and cost the same either way). After the last "with"
night, the physical pass it queued (``tailor erase --flush``'s
``tailor.privacy.physical.run_pass``: landing files, export copies and other files, the
warehouse file compacted) is timed separately, when the code has one.

Prints one line per variant (median seconds, and each repeat) and the ratio, with
``uptime``'s load; ``--json`` writes them to a file too.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _link_tree(src: Path, dst: Path) -> None:
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, copy_function=os.link)


def isolate(home: Path, scratch: Path, tmp: Path) -> None:
    """This process's settings: the code at ``home``, every path below ``scratch``, DuckDB
    spilling to ``tmp``, no other TAILOR_ configuration (the memory limit and the privacy
    key excepted; the key fixed so erased subjects hash alike on every run)."""
    for var in [v for v in os.environ if v.startswith("TAILOR_")]:
        if var not in ("TAILOR_DUCKDB_MEMORY", "TAILOR_PRIVACY_KEY"):
            del os.environ[var]
    os.environ.update(
        TAILOR_HOME=str(home),
        TAILOR_DATA=str(scratch),
        TAILOR_DUCKDB_TEMP=str(tmp),
        TAILOR_DUCKDB_MEMORY=os.environ.get("TAILOR_DUCKDB_MEMORY", "4GB"),
    )
    os.environ.setdefault("TAILOR_PRIVACY_KEY", "erase-night-benchmark-key")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=int, default=1500)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--people", type=int, default=3, help="erasure requests in the night")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-dbt", action="store_true", help="raw tables only (faster set-up)")
    p.add_argument(
        "--whole-night",
        action="store_true",
        help="time every stage of the night (tailor.pipeline.run_day, no publish or report)",
    )
    p.add_argument("--rebuild", action="store_true", help="build the history again")
    p.add_argument("--json", type=Path, help="also write the results to this file")
    args = p.parse_args(argv)

    # each benchmark is a standalone script (python benchmarks/NAME.py): it finds the code to measure itself
    here = Path(__file__).resolve().parent.parent
    home = Path(os.environ.get("TAILOR_HOME", here))  # the code to measure
    sys.path.insert(0, str(home))
    data = Path(os.environ.get("TAILOR_DATA", here / "data")).resolve()
    root = (
        data
        / "bench"
        / f"erase-night-{args.customers}c-{args.days}d{'-raw' if args.no_dbt else ''}"
    )
    isolate(home, root / "scratch", root / "tmp")

    from tailor import csvsafe, ingest
    from tailor.pipeline import RunContext, run_day, stage_erase
    from tailor.settings import get_settings
    from tailor.warehouse import connect

    base = get_settings()
    start = dt.date(2026, 10, 1)
    night = start + dt.timedelta(days=args.days - 1)
    landing, history = root / "landing", root / "history.duckdb"
    stamp = root / "history.json"
    wanted = {"customers": args.customers, "days": args.days, "dbt": not args.no_dbt}
    if args.rebuild or not stamp.exists() or json.loads(stamp.read_text()) != wanted:
        from tailor.synthetic.config import GeneratorConfig
        from tailor.synthetic.driver import generate

        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        clock = time.perf_counter()
        generate(
            GeneratorConfig(customers=args.customers, days=args.days, start=start, seed=11),
            landing,
            root / "ground_truth",
        )
        shutil.rmtree(landing / "erasure_requests", ignore_errors=True)
        print(f"generated in {time.perf_counter() - clock:.0f} s", flush=True)
        clock = time.perf_counter()
        settings = dataclasses.replace(base, warehouse=history, landing=landing)
        con = connect(history, settings=settings)
        try:
            for day in ingest.available_days(landing):
                if day < night:
                    ingest.load_day(con, landing, day)
        finally:
            con.close()
        if not args.no_dbt:
            from tailor import transform

            transform.build(night - dt.timedelta(days=1), settings=settings, tests=False)
        stamp.write_text(json.dumps(wanted))
        print(f"history loaded and built in {time.perf_counter() - clock:.0f} s", flush=True)

    con = connect(history, read_only=True, settings=dataclasses.replace(base, warehouse=history))
    try:
        # the customers with the longest history: erasure requests come from people with one
        most = (
            "select customer_id from raw.customers group by 1 order by count(*) desc, 1 limit ?"
            if args.no_dbt
            else "select customer_id from marts.customers order by session_count desc, 1 limit ?"
        )
        people = [r[0] for r in con.execute(most, [args.people]).fetchall()]
    finally:
        con.close()

    def variant(name: str) -> tuple[dict, object]:
        folder = root / "nights" / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        shutil.copyfile(history, folder / "tailor.duckdb")
        _link_tree(landing, folder / "landing")
        if name == "with":
            requests = folder / "landing" / "erasure_requests" / f"dt={night}"
            requests.mkdir(parents=True)
            with (requests / "erasure_requests.csv").open("w", newline="") as f:
                w = csvsafe.writer(f)
                w.writerow(["request_id", "customer_id", "email", "requested_at"])
                for i, cid in enumerate(people):
                    w.writerow([f"bench-{i}", cid, "", f"{night}T08:00:00Z"])
        settings = dataclasses.replace(
            base,
            warehouse=folder / "tailor.duckdb",
            landing=folder / "landing",
            exports=folder / "exports",
            reports=folder / "reports",
        )
        if args.whole_night:
            clock = time.perf_counter()
            ctx = run_day(night, settings, publish=False, report=False)
            seconds = {"load": 0.0, "erase": ctx.timings["erase"]}
            seconds["night"] = time.perf_counter() - clock
            return {"seconds": seconds, "result": ctx.results["erase"]}, settings
        ctx = RunContext(day=night, settings=settings)
        timings = {}
        clock = time.perf_counter()
        con = connect(settings.warehouse, settings=settings)
        try:
            ingest.load_day(con, settings.landing, night)
        finally:
            con.close()
        timings["load"] = time.perf_counter() - clock
        clock = time.perf_counter()
        out = stage_erase(ctx)
        timings["erase"] = time.perf_counter() - clock
        return {"seconds": timings, "result": out}, settings

    runs: dict[str, list[dict]] = {"without": [], "with": []}
    last_with = None
    for r in range(args.repeats):
        for name in ("without", "with") if r % 2 == 0 else ("with", "without"):
            measured, settings = variant(name)
            runs[name].append(measured)
            if name == "with":
                last_with = settings
            s = measured["seconds"]
            print(
                f"repeat {r + 1} {name:>7}: "
                + ", ".join(f"{k} {v:.1f} s" for k, v in s.items() if v),
                flush=True,
            )

    deadline = None
    try:
        from tailor.privacy.physical import run_pass
    except ModuleNotFoundError:  # an older commit: the night itself did the physical part
        run_pass = None
    if run_pass is not None and last_with is not None:
        clock = time.perf_counter()
        done = run_pass(last_with, night)
        deadline = {"seconds": time.perf_counter() - clock, "result": done}

    def median(name: str, part: str) -> float:
        return statistics.median(m["seconds"][part] for m in runs[name])

    load = os.getloadavg()
    summary = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "code": str(home),
        "commit": subprocess.run(
            ["git", "-C", str(home), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
        ).stdout.strip(),
        "history": wanted,
        "people": len(people),
        "warehouse_mb": round(history.stat().st_size / 2**20, 1),
        "load_average": [round(x, 2) for x in load],
        "runs": runs,
        "deadline_pass": deadline,
    }
    print(
        f"\n{summary['commit']} at {home}; warehouse {summary['warehouse_mb']} MB; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )

    def night_seconds(name: str) -> float:
        if args.whole_night:
            return median(name, "night")
        return median(name, "load") + median(name, "erase")

    what = "whole night" if args.whole_night else "load + erase"
    for name in ("without", "with"):
        print(
            f"night {name:>7} requests: erase stage {median(name, 'erase'):6.2f} s, "
            f"{what} {night_seconds(name):6.2f} s (median of {len(runs[name])})"
        )
    print(f"with / without ({what}): {night_seconds('with') / night_seconds('without'):.2f}")
    print(
        f"with / without (erase stage): {median('with', 'erase') / median('without', 'erase'):.2f}"
    )
    # where the erase stage of a night with requests spends its time (the code's own timings)
    parts: dict[str, list[float]] = {}
    for m in runs["with"]:
        result = m["result"] if isinstance(m["result"], dict) else {}
        for part, sec in (result.get("seconds") or {}).items():
            parts.setdefault(part, []).append(sec)
    if parts:
        print(
            "erase stage with requests, parts (median s): "
            + ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in parts.items())
        )
    if deadline:
        print(
            f"deadline pass ({deadline['result']['requests']} people): "
            f"{deadline['seconds']:.2f} s {deadline['result']['seconds']}"
        )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, default=str))
    shutil.rmtree(root / "nights", ignore_errors=True)
    # each benchmark script ends the same way: one line of results, exit status 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
