"""The fixed cost of a night: two nights of `tailor run` on tiny data, this commit and an
older one side by side (issue 25: at most 15 s a night on tiny data).

    .venv/bin/python benchmarks/fixed_cost.py                    # against main
    .venv/bin/python benchmarks/fixed_cost.py --base eb39eef --rounds 3

Tiny data: ``tailor generate --customers 300 --products 100 --days 3`` (generated once,
by this commit, shared by both). Each code version runs on its own copy of the landing
files, in its own data folder, night 1 then night 2, each night a ``tailor run --date D``
process of its own (as the nightly schedule runs it). Night 1 parses the dbt project in
full and builds everything from nothing; night 2 is what every later night pays: its
wall time is the fixed cost. The rounds alternate the versions, so a busy machine slows
both alike; the medians are compared. Per stage, the times ``tailor run`` prints.

The older commit is checked out with ``git worktree add --detach`` into the scratch
folder (``<TAILOR_DATA>/bench/fixed-cost``) and removed afterwards. Both run with this
checkout's Python environment. ``--json PATH`` writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # a standalone script: benchmarks.scale from this checkout

from benchmarks.scale.versions import base_and_head  # noqa: E402

NIGHTS = ("2026-10-01", "2026-10-02")
STAGE_LINE = re.compile(r"^(\d{4}-\d\d-\d\d)  (\w+)\s+([\d.]+) s\b", re.M)


def _cli(home: Path, data: Path, *args: str) -> tuple[float, float, str]:
    """Run ``tailor <args>`` with the code at ``home`` on ``data``: (wall s, CPU s, stderr)."""
    env = dict(os.environ, TAILOR_HOME=str(home), TAILOR_DATA=str(data), PYTHONPATH=str(home))
    for name in ("TAILOR_WAREHOUSE", "TAILOR_SNAPSHOT", "TAILOR_LANDING", "TAILOR_REPORTS"):
        env.pop(name, None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "tailor.cli", *args],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode:
        raise SystemExit(f"tailor {' '.join(args)} failed ({home}):\n{proc.stderr[-3000:]}")
    return wall, cpu, proc.stderr


def _two_nights(home: Path, seed: Path, data: Path) -> dict:
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    shutil.copytree(seed / "landing", data / "landing", copy_function=os.link)
    out = {}
    for n, day in enumerate(NIGHTS, start=1):
        wall, cpu, err = _cli(home, data, "run", "--date", day)
        stages = {m[1]: float(m[2]) for m in STAGE_LINE.findall(err) if m[0] == day}
        out[f"night{n}"] = {"wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2)}
        out[f"night{n}"]["stages"] = stages
        out[f"night{n}"]["outside_stages_seconds"] = round(wall - sum(stages.values()), 2)
    return out


def _median(rounds: list[dict], night: str, key: str) -> float:
    return round(statistics.median(r[night][key] for r in rounds), 2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", default="main", help="the older commit (default main)")
    p.add_argument("--rounds", type=int, default=2, help="runs of each version (default 2)")
    p.add_argument("--json", type=Path, help="write the results here")
    args = p.parse_args(argv)

    data = Path(os.environ.get("TAILOR_DATA", REPO / "data"))
    root = data / "bench" / "fixed-cost"
    root.mkdir(parents=True, exist_ok=True)
    seed = root / "seed"
    with base_and_head(args.base, root) as versions:
        if not (seed / "landing").exists():
            _cli(REPO, seed, "generate", "--customers", "300", "--products", "100", "--days", "3")
        results: dict[str, list[dict]] = {name: [] for name in versions}
        for r in range(args.rounds):
            for name, home in versions.items():
                res = _two_nights(home, seed, root / name.split()[0])
                results[name].append(res)
                print(
                    f"round {r + 1} {name}: night 1 {res['night1']['wall_seconds']:.1f} s,"
                    f" night 2 {res['night2']['wall_seconds']:.1f} s"
                    f" (CPU {res['night2']['cpu_seconds']:.1f} s)",
                    flush=True,
                )
    load = os.getloadavg()
    (old_name, old), (new_name, new) = results.items()
    stages = list(dict.fromkeys([*old[-1]["night2"]["stages"], *new[-1]["night2"]["stages"]]))
    print(f"\nnight 2 of 2 on 300 customers, median of {args.rounds} round(s); load {load}")
    print(f"{'':24}{old_name:>14}{new_name:>14}")
    for key, label in (("wall_seconds", "wall"), ("cpu_seconds", "CPU")):
        print(f"{label:24}{_median(old, 'night2', key):>14.1f}{_median(new, 'night2', key):>14.1f}")
    for stage in [*stages, "outside_stages"]:

        def med(rounds: list[dict], stage: str = stage) -> float:
            if stage == "outside_stages":
                return _median(rounds, "night2", "outside_stages_seconds")
            return statistics.median(r["night2"]["stages"].get(stage, 0.0) for r in rounds)

        print(f"  {stage:22}{med(old):>14.1f}{med(new):>14.1f}")
    ratio = _median(old, "night2", "wall_seconds") / _median(new, "night2", "wall_seconds")
    cpu_ratio = _median(old, "night2", "cpu_seconds") / _median(new, "night2", "cpu_seconds")
    print(f"ratio base / this: wall {ratio:.2f}x, CPU {cpu_ratio:.2f}x")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"load_average": load, "ratio_wall": ratio, "ratio_cpu": cpu_ratio, **results},
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
