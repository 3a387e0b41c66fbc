"""The landing part of a night's erasures (every landing file delivered so far searched for
the night's people, and rewritten without them), on this or an older commit.

    .venv/bin/python benchmarks/erase_landing.py --size 10m --people 1,3,8
    TAILOR_HOME=/tmp/before .venv/bin/python benchmarks/erase_landing.py --size 10m --people 1,3,8

Works on what a ``benchmarks/run.py`` run left in ``<bench>/<size>``: its warehouse and its
landing zone (``run-landing``, every day the run delivered). The people are the customers
with the most sessions (as erasure requests at that scale come from people with a history),
their identities resolved on the warehouse as the erase stage does. Each measurement copies
the landing zone as hard links (a purge writes a new file and renames it over the name, so
the run's files stay as they were), times ``tailor.privacy.landing.purge_landing_many`` for the first N of
them, prints the seconds and the records removed per person (the same on both commits),
and deletes the copy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", default="10m", help="the benchmarks/run.py size whose data to use")
    p.add_argument("--people", default="1,3,8", help="how many people, e.g. 1,3,8")
    args = p.parse_args(argv)

    # each benchmark is a standalone script (python benchmarks/NAME.py): it finds the code to measure itself
    here = Path(__file__).resolve().parent.parent
    home = Path(os.environ.get("TAILOR_HOME", here))  # the code to measure
    sys.path.insert(0, str(home))
    data = Path(os.environ.get("TAILOR_DATA", here / "data"))
    root = data / "bench" / args.size
    warehouse, landing = root / "warehouse" / "tailor.duckdb", root / "run-landing"
    if not warehouse.exists() or not landing.is_dir():
        p.error(f"no {warehouse} or {landing}: run benchmarks/run.py --size {args.size} first")
    os.environ.update(
        TAILOR_DATA=str(root / "erase-landing-tmp"),
        TAILOR_DUCKDB_TEMP=str(root / "tmp" / "duckdb"),
    )
    try:
        from tailor.privacy.identity import resolve_identity
        from tailor.privacy.landing import purge_landing_many
    except ModuleNotFoundError:  # an older commit: tailor/privacy.py, one module
        from tailor import privacy

        resolve_identity, purge_landing_many = privacy.resolve_identity, privacy.purge_landing_many
    from tailor.warehouse import connect

    counts = [int(n) for n in args.people.split(",")]
    con = connect(warehouse, read_only=True)
    try:
        ids = [
            r[0]
            for r in con.execute(
                "select customer_id from marts.customers "
                "order by session_count desc, customer_id limit ?",
                [max(counts)],
            ).fetchall()
        ]
        idents = [resolve_identity(con, customer_id=c) for c in ids]
    finally:
        con.close()
    copy = root / "erase-landing"
    for n in counts:
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(landing, copy, copy_function=os.link)
        started = time.perf_counter()
        out = purge_landing_many(copy, idents[:n])
        seconds = time.perf_counter() - started
        shutil.rmtree(copy)
        identifiers = sum(len(i.tokens() | i.order_ids) for i in idents[:n])
        # each benchmark script ends the same way: one line of results, exit status 0
        print(
            f"{n} people ({identifiers} identifiers): {seconds:.1f} s, records removed per "
            f"person {[r for _, r in out]}, load {os.getloadavg()[0]:.2f} (code: {home})",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
