"""The tables part of a night's erasures (every table searched and cleaned for the night's
requests), on this or an older commit, rolled back afterwards.

    .venv/bin/python benchmarks/stage_night.py --size 10m run --stages load   # once
    .venv/bin/python benchmarks/erase_tables.py --size 10m --repeat 2
    TAILOR_HOME=/tmp/before .venv/bin/python benchmarks/erase_tables.py --size 10m --repeat 2

``stage_night.py ... --stages load`` leaves ``<bench>/stage-night/warehouse/tailor.duckdb``
with the next night loaded and its erasure requests pending. Each repetition copies it,
resolves the pending requests' identities and times removing their rows from every table
(``tailor.privacy.erase_tables.erase_rows_many`` for all of them at once where the code has
it, else ``erase_rows`` once per person, as older commits did), then rolls back. It prints
the seconds and the rows found per person, which must be the same on both commits.
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
    p.add_argument("--repeat", type=int, default=1)
    args = p.parse_args(argv)

    # each benchmark is a standalone script (python benchmarks/NAME.py): it finds the code to measure itself
    here = Path(__file__).resolve().parent.parent
    home = Path(os.environ.get("TAILOR_HOME", here))  # the code to measure
    sys.path.insert(0, str(home))
    data = Path(os.environ.get("TAILOR_DATA", here / "data"))
    root = data / "bench" / args.size / "stage-night"
    loaded = root / "warehouse" / "tailor.duckdb"
    if not loaded.exists():
        p.error(f"no {loaded}: run stage_night.py --size {args.size} run --stages load first")
    os.environ.update(
        TAILOR_DATA=str(root),
        TAILOR_LANDING=str(root / "landing"),
        TAILOR_DUCKDB_MEMORY=os.environ.get("TAILOR_DUCKDB_MEMORY", "6GB"),
        TAILOR_DUCKDB_TEMP=str(root / "tmp" / "duckdb"),
    )
    try:
        from tailor.privacy.erase_tables import erase_rows, erase_rows_many
        from tailor.privacy.identity import resolve_identity
        from tailor.privacy.requests import pending_requests
    except ModuleNotFoundError:  # an older commit: tailor/privacy.py, one module
        from tailor import privacy

        erase_rows, resolve_identity = privacy.erase_rows, privacy.resolve_identity
        pending_requests = privacy.pending_requests
        erase_rows_many = getattr(privacy, "erase_rows_many", None)
    from tailor.settings import get_settings
    from tailor.warehouse import connect

    s = get_settings()
    copy = root / "erase-tables.duckdb"
    for i in range(args.repeat):
        shutil.copyfile(loaded, copy)
        con = connect(copy, settings=s)
        try:
            (day,) = con.execute(
                "select max(_dt) from raw.load_log where source = 'events'"
            ).fetchone()
            requests = pending_requests(con, day)
            idents = [resolve_identity(con, r["customer_id"], r["email"]) for r in requests]
            con.execute("begin transaction")
            started = time.perf_counter()
            if erase_rows_many is not None:
                touched = erase_rows_many(con, idents)
            else:
                touched = [erase_rows(con, ident) for ident in idents]
            seconds = time.perf_counter() - started
            con.execute("rollback")
        finally:
            con.close()
            copy.unlink(missing_ok=True)
        rows = [sum(t.rows_removed + t.rows_anonymized for t in ts) for ts in touched]
        # each benchmark script ends the same way: one line of results, exit status 0
        print(
            f"{i + 1}: night of {day}, {len(idents)} requests: {seconds:.1f} s, rows per person "
            f"{rows}, load {os.getloadavg()[0]:.2f} (code: {home})",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
