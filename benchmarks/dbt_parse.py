"""dbt's project parse in a new process, as every night pays it: each ``tailor run`` and
each Airflow dbt task is a process of its own, working on a new copy of the warehouse.

    .venv/bin/python benchmarks/dbt_parse.py --repeat 4
    TAILOR_HOME=/tmp/before .venv/bin/python benchmarks/dbt_parse.py --repeat 4

Each repetition starts a fresh interpreter that begins a run (``tailor.pipeline.begin_run``
with a new run id, as a night does) and times ``tailor.transform.parsed_manifest`` for
the run's working copy. The first repetition may parse the project in full (no saved
parse yet); the later ones show what a night pays. To compare with an older commit, check
it out in a worktree and point ``TAILOR_HOME`` at it. Scratch data goes to
``<TAILOR_DATA>/bench/dbt-parse`` (its own warehouse and dbt target).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path


def child(run_id: str) -> None:
    from tailor import pipeline, transform
    from tailor.settings import get_settings

    s = get_settings()
    work = pipeline.begin_run(s, run_id)
    try:
        started = time.perf_counter()
        manifest = transform.parsed_manifest(work)
        seconds = time.perf_counter() - started
    finally:
        pipeline.abort_run(s, run_id)
    print(f"parse {seconds:.1f} s ({len(manifest.nodes)} nodes)", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=4)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    here = Path(__file__).resolve().parent.parent
    home = Path(os.environ.get("TAILOR_HOME", here))  # the code to measure
    if args.child:
        sys.path.insert(0, str(home))
        child(args.child)
        return 0
    data = Path(os.environ.get("TAILOR_DATA", here / "data")) / "bench" / "dbt-parse"
    env = dict(os.environ, TAILOR_HOME=str(home), TAILOR_DATA=str(data))
    print(f"code: {home}; data: {data}", flush=True)
    for i in range(args.repeat):
        started = time.perf_counter()
        cmd = [sys.executable, __file__, "--child", f"parse-{uuid.uuid4().hex[:8]}"]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if out.returncode != 0:
            print(out.stderr[-2000:], file=sys.stderr)
            return out.returncode
        line = out.stdout.strip().splitlines()[-1]
        print(f"process {i + 1}: {line}, process wall {wall:.1f} s, load {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
