"""The load of one landing day at scale, this commit and an older one side by side.

    .venv/bin/python benchmarks/load_day.py --base 0984985 --rounds 3
    .venv/bin/python benchmarks/load_day.py --size 10m --day 2026-10-15

Reads the landing day a ``benchmarks/run.py --size <size>`` run generated (default 10M,
2026-10-15: 44 MB of gzipped events, ~300k lines), gives each version hard links to that
day's files in a scratch data folder of its own and a fresh warehouse, and times
``tailor.pipeline.load_days`` (every record parsed, checked, written or quarantined) in a
process of its own. The rounds alternate the versions, so a busy machine slows both
alike; the medians are compared. Both versions must leave the same rows: a fingerprint of
every ``raw.*`` table (the quarantine and the load log included; every column but the
load's own timestamps) is compared.

The older commit is checked out with ``git worktree add --detach`` into the scratch
folder (``<TAILOR_DATA>/bench/load-day``) and removed afterwards. Both run with this
checkout's Python environment.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # a standalone script: benchmarks.scale from this checkout

from benchmarks.scale.versions import base_and_head  # noqa: E402

# Runs in the measured version's process: the load, then the fingerprint of what it wrote.
CHILD = """
import datetime as dt, json, sys, time
import duckdb
from tailor.pipeline import load_days
from tailor.settings import get_settings

WHEN = {"_loaded_at", "started_at", "finished_at"}  # when the load ran, not what it wrote
s = get_settings()
t = time.perf_counter()
totals = load_days(s, [dt.date.fromisoformat(sys.argv[1])])
seconds = time.perf_counter() - t
con = duckdb.connect(str(s.warehouse), read_only=True)
prints = {}
for (table,) in con.execute(
    "select table_name from duckdb_tables() where schema_name = 'raw' order by 1"
).fetchall():
    cols = [
        c
        for (c,) in con.execute(
            "select column_name from duckdb_columns() where schema_name = 'raw' "
            "and table_name = ? order by column_index",
            [table],
        ).fetchall()
        if c not in WHEN
    ]
    prints[table] = con.execute(
        f"select count(*), coalesce(sum(hash({', '.join(cols)})), 0)::varchar from raw.{table}"
    ).fetchone()
print(json.dumps({"seconds": seconds, "totals": totals, "fingerprint": prints}))
"""


def _load(home: Path, landing: Path, data: Path, day: str) -> dict:
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    for part in sorted(landing.glob(f"*/dt={day}")):
        shutil.copytree(
            part, data / "landing" / part.parent.name / part.name, copy_function=os.link
        )
    env = dict(os.environ, TAILOR_HOME=str(home), TAILOR_DATA=str(data), PYTHONPATH=str(home))
    for name in ("TAILOR_WAREHOUSE", "TAILOR_SNAPSHOT", "TAILOR_LANDING"):
        env.pop(name, None)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, day], cwd=home, env=env, capture_output=True, text=True
    )
    if proc.returncode:
        raise SystemExit(f"the load failed ({home}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", default="main", help="the older commit (default main)")
    p.add_argument("--rounds", type=int, default=3, help="loads of each version (default 3)")
    p.add_argument("--size", default="10m", help="the benchmarks/run.py size whose data to load")
    p.add_argument("--day", default="2026-10-15", help="the landing day (default 2026-10-15)")
    args = p.parse_args(argv)

    data = Path(os.environ.get("TAILOR_DATA", REPO / "data"))
    landing = data / "bench" / args.size / "landing"
    if not any(landing.glob(f"*/dt={args.day}")):
        p.error(f"no landing files for {args.day} under {landing}: run benchmarks/run.py first")
    root = data / "bench" / "load-day"
    root.mkdir(parents=True, exist_ok=True)
    with base_and_head(args.base, root) as versions:
        results: dict[str, list[dict]] = {name: [] for name in versions}
        try:
            for r in range(args.rounds):
                for name, home in versions.items():
                    res = _load(home, landing, root / name.split()[0], args.day)
                    results[name].append(res)
                    print(
                        f"round {r + 1} {name}: {res['seconds']:.2f} s {res['totals']}", flush=True
                    )
        finally:
            for name in versions:
                shutil.rmtree(root / name.split()[0], ignore_errors=True)
    (old_name, old), (new_name, new) = results.items()
    same = old[-1]["fingerprint"] == new[-1]["fingerprint"]
    t_old = statistics.median(r["seconds"] for r in old)
    t_new = statistics.median(r["seconds"] for r in new)
    print(
        f"\n{args.size} landing day {args.day}, median of {args.rounds}; load {os.getloadavg()}\n"
        f"{old_name}: {t_old:.2f} s   {new_name}: {t_new:.2f} s   ratio {t_old / t_new:.2f}x\n"
        f"same rows loaded and quarantined: {same}"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
