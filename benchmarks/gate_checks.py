"""A gate's checks evaluated by Great Expectations and as plain SQL, side by side.

The gates evaluate their suites as SQL (``expectations/sql_checks.py``) into GX's result
objects. This measures both evaluations of the same suites on the same warehouse in one
run, rounds alternating the two, the medians compared: for ``--layer raw`` (the default)
the raw partitions of the days ``--from`` to ``--to`` (every day's suites, as a
backfill's range gate plans them); for ``--layer marts`` or ``ml`` the suites of the day
``--to`` (those layers hold the current state, checked once a night). Data Docs and the
results table are left out: both evaluations share them. Each round also checks that
both gave the same verdicts.

    TAILOR_DATA=/tmp/demo .venv/bin/python benchmarks/gate_checks.py --from 2026-10-01 --to 2026-10-21
    TAILOR_DATA=/tmp/demo .venv/bin/python benchmarks/gate_checks.py --layer marts --to 2026-10-22

The warehouse is the one settings resolve (``TAILOR_DATA``), loaded beforehand (e.g.
``tailor generate`` and ``tailor run --from --to``); it is only read. ``--json PATH``
writes the numbers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", choices=["raw", "marts", "ml"], default="raw")
    parser.add_argument("--from", dest="start", type=dt.date.fromisoformat)
    parser.add_argument("--to", dest="end", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from expectations import runner  # (before GX: it keeps GX from importing Spark Connect)
    from expectations.suites import LAYERS as SUITES
    from expectations.suites.base import SuiteContext
    from tailor.backfill import _DaySuite, days_of
    from tailor.settings import get_settings
    from tailor.warehouse import connect

    s = get_settings()
    import great_expectations  # noqa: F401  (its import is paid by both; not measured)

    if args.layer == "raw" and args.start is None:
        parser.error("--layer raw needs --from")
    days = days_of(args.start, args.end) if args.layer == "raw" else [args.end]
    con = connect(s.warehouse, settings=s)
    try:
        report = runner.ValidationReport(
            run_id=f"bench-{args.layer}-gate",
            run_date=days[-1],
            layer=args.layer,
            warehouse=str(s.warehouse),
            started_at=runner.utcnow(),
        )

        def planned() -> list:  # anew each round: GX ties an expectation to one suite
            plans = []
            for d in days:
                ctx = SuiteContext(layer=args.layer, run_date=d, settings=s, con=con)
                plans += [
                    (_DaySuite(suite, d) if args.layer == "raw" else suite, plan)
                    for suite, plan in runner.plan_suites(report, SUITES[args.layer], ctx)
                ]
            return plans

        plans = planned()
        expectations = sum(len(plan.expectations) for _, plan in plans)
        runner.gx_context(s)  # the context's set-up is paid once a process by both

        def verdicts(results: dict) -> list:
            def check(r) -> str:  # GX adds the batch id to the kwargs it validated
                kwargs = {k: v for k, v in r.expectation_config.kwargs.items() if k != "batch_id"}
                return f"{r.expectation_config.type} {kwargs}"

            return sorted(
                (v.suite_name, check(r), r.success) for v in results.values() for r in v.results
            )

        times: dict[str, list[float]] = {"gx": [], "sql": []}
        for _ in range(args.rounds):
            plans = planned()
            started = time.perf_counter()
            gx, _ = runner._run_gx(report, plans, s, s.warehouse)
            times["gx"].append(time.perf_counter() - started)
            started = time.perf_counter()
            sql = runner._run_sql(report, plans, con)
            times["sql"].append(time.perf_counter() - started)
            failing = sum(not ok for *_, ok in verdicts(gx))
            if verdicts(gx) != verdicts(sql):
                differ = sorted(set(verdicts(gx)) ^ set(verdicts(sql)))
                raise SystemExit(f"GX and SQL disagree on a verdict: {differ[:6]}")
    finally:
        con.close()
    gx_s, sql_s = statistics.median(times["gx"]), statistics.median(times["sql"])
    result = {
        "layer": args.layer,
        "days": len(days),
        "suites": len(plans),
        "expectations": expectations,
        "rounds": args.rounds,
        "gx_seconds": round(gx_s, 2),
        "sql_seconds": round(sql_s, 2),
        "ratio_gx_over_sql": round(gx_s / sql_s, 1),
        "failing_checks": failing,
        "machine": f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "command": " ".join(sys.argv),
    }
    print(
        f"{args.layer}: {len(days)} day(s), {len(plans)} suites, {expectations:,} expectations; median of "
        f"{args.rounds} rounds: GX {gx_s:.1f} s, SQL {sql_s:.1f} s ({gx_s / sql_s:.1f}x); "
        f"same verdicts ({failing} failing)"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
