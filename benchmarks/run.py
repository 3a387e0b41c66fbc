"""Benchmark runner (issue 9): the nightly pipeline at 1M / 10M events, stage by stage,
against two reference points measured in the same run.

    .venv/bin/python -m benchmarks.run --size 1m            # or: make bench SIZE=1m
    .venv/bin/python -m benchmarks.run --events 10M
    .venv/bin/python -m benchmarks.run --size small --run-days 3   # a quick look

What one run does, each phase in a child process (so every peak memory is its own):

1. ``generate``: synthetic landing files for ``--days`` days (30) with customers and
   products scaled so that the whole history holds about ``--events`` events, into
   ``<TAILOR_DATA>/bench/<size>/landing`` (reused when the same configuration is there).
2. ``lower_bound``: DuckDB reads every events and orders file once and computes a
   per-customer aggregate (events, order count and total): the cost of touching the data.
   The same on the single partitions of the measured nights (the per-night lower bound).
3. ``pandas``: ``benchmarks/pandas_baseline.py`` (load, dedupe, sessions, RFM, item-item
   recommendations) on the same files.
4. ``fixed``: the pipeline on a tiny data set (300 customers, 2 nights): the second
   night's time is the fixed per-night cost (imports, dbt parse, GX contexts, tests).
5. ``backfill``: the same days built in one pass (``tailor run --from --to``,
   ``tailor.backfill.backfill``) on a fresh warehouse in ``<bench>/backfill``, one process.
6. ``pipeline``: ``tailor.pipeline.run_day`` for every day in order on a fresh warehouse,
   each night in its own process as the nightly schedule runs it (``publish=False``,
   ``report=False``; the snapshot is published once after the last night). Per stage:
   wall time, the night's input rows per second and the peak resident memory sampled
   during the stage; per night: the working-copy cost (``begin_run`` copy plus
   ``commit_run`` checkpoint and rename, i.e. ``run_day`` minus its stages), the process
   start-up and the warehouse size. Every night is appended to
   ``<bench>/pipeline-nights.jsonl`` as it ends; ``--resume`` continues an interrupted
   run from there (same folder and size, the warehouse its last recorded night left).

DuckDB runs with ``TAILOR_DUCKDB_MEMORY`` (``--memory``, 6GB) and spills to
``<bench>/tmp/duckdb``. Results go to ``benchmarks/results/<size>-<UTC timestamp>.json``
and, as markdown, between the ``bench:<size>`` markers of ``benchmarks/README.md``.

This module runs the phases; what they do lives in ``benchmarks/scale/`` (sizes and data
generation, the lower bound and pandas references, the timed nights, memory probes, the
summary and README block).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.scale.measure import load_average, machine
from benchmarks.scale.nights import phase_backfill, phase_fixed, phase_night, phase_pipeline
from benchmarks.scale.references import phase_lower_bound, phase_pandas
from benchmarks.scale.report import render_markdown, replace_block, summarize
from benchmarks.scale.sizes import (
    INCREMENTAL_NIGHTS,
    SIZES,
    parse_events,
    phase_generate,
    scaled_config,
    size_label,
)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE / "README.md"


# --------------------------------------------------------------------------- children


def bench_env(root: Path, memory: str, threads: int | None) -> dict[str, str]:
    """The environment of every child: Tailor's paths under ``root``, DuckDB limits."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("TAILOR_") and k != "AIRFLOW_HOME"
    }
    env.update(
        TAILOR_HOME=str(HERE.parent),
        TAILOR_DATA=str(root),
        TAILOR_DUCKDB_MEMORY=memory,
        TAILOR_DUCKDB_TEMP=str(root / "tmp" / "duckdb"),
        AIRFLOW_HOME=str(root / "airflow"),
        OPENBLAS_NUM_THREADS=env.get("OPENBLAS_NUM_THREADS", "1"),
        PYTHONUNBUFFERED="1",
    )
    if threads:
        env["TAILOR_DUCKDB_THREADS"] = str(threads)
    return env


def last_line(path: Path, tail: int = 64 * 1024) -> str:
    """The last non-empty line of a log (a failed child's exception), or ''."""
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - tail))
        lines = fh.read().decode("utf-8", errors="replace").splitlines()
    return next((ln.strip() for ln in reversed(lines) if ln.strip()), "")


def _child(
    phase: str, root: Path, args: argparse.Namespace, log: Path, extra: list[str] | None = None
) -> dict:
    """Run one phase in a child process; its stdout/stderr go to ``log``."""
    out = root / f"phase-{phase}.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "benchmarks.run", "--phase", phase, "--root", str(root)]
    cmd += [
        "--events",
        str(args.events_n),
        "--days",
        str(args.days),
        "--run-days",
        str(args.run_days),
    ]
    cmd += extra or []
    t = time.perf_counter()
    with log.open("a") as fh:
        fh.write(f"\n=== {phase}: {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.run(
            cmd,
            cwd=HERE.parent,
            env=bench_env(root, args.memory, args.threads),
            stdout=fh,
            stderr=fh,
        )
    wall = time.perf_counter() - t
    if proc.returncode != 0 or not out.exists():
        why = last_line(log)
        return {
            "error": f"exit code {proc.returncode}{': ' + why if why else ''}; see {log}",
            "wall_seconds": wall,
        }
    res = json.loads(out.read_text())
    res["process_wall_seconds"] = wall
    return res


def run_phase(args: argparse.Namespace) -> int:
    """Inside a child: run ``args.phase`` and write ``phase-<name>.json``."""
    root = args.root
    cfg = scaled_config(args.events_n, args.days)
    if args.phase == "generate":
        res = phase_generate(root, cfg)
    elif args.phase == "lower_bound":
        res = phase_lower_bound(root, cfg, [n for n in INCREMENTAL_NIGHTS if n <= args.days])
    elif args.phase == "pipeline":
        res = phase_pipeline(
            root, cfg, args.run_days, root / "pipeline-nights.jsonl", resume=args.resume
        )
    elif args.phase == "night":
        res = phase_night(root, args.night, dt.date.fromisoformat(args.day))
        (root / f"night-{args.night}.json").write_text(json.dumps(res, default=str))
        return 0
    elif args.phase == "fixed":
        res = phase_fixed(root)
    elif args.phase == "backfill":
        res = phase_backfill(root, cfg, args.run_days)
    elif args.phase == "pandas":
        res = phase_pandas(root, args.pandas_limit_gb)
    else:
        raise SystemExit(f"unknown phase {args.phase}")
    (root / f"phase-{args.phase}.json").write_text(json.dumps(res, indent=2, default=str))
    return 0


# --------------------------------------------------------------------------- entry point


def load_range(res: dict) -> str:
    """The 1-minute load averages seen at phase boundaries and after every night."""
    seen = list(res.get("load_samples") or [])
    seen += [n.get("load_average", "?") for n in (res.get("pipeline") or {}).get("nights") or []]
    samples = [float(x.split()[0]) for x in seen if x and x != "?"]
    return f"{min(samples):.1f}-{max(samples):.1f} (1-min)" if samples else "?"


def rerender(path: Path, readme: bool = True) -> int:
    """Recompute the summary of a results file and put its block into the README."""
    res = json.loads(path.read_text())
    res["load_average"] = load_range(res)
    res["summary"] = summarize(res)
    path.write_text(json.dumps(res, indent=2, default=str) + "\n")
    block = render_markdown(res)
    if readme:
        text = README.read_text() if README.exists() else "# Benchmarks\n"
        README.write_text(replace_block(text, res["size"], block))
    print(block)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="benchmarks.run", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--size", choices=sorted(SIZES), help="a named size (small=100k, 1m, 10m, 50m events)"
    )
    p.add_argument("--events", help="events over the whole history, e.g. 1M, 250k (default 1M)")
    p.add_argument("--days", type=int, default=30, help="days of history (default 30)")
    p.add_argument(
        "--run-days",
        type=int,
        help="run only the first N nights through the pipeline; whole-history figures are "
        "then extrapolated and labelled so (default: all)",
    )
    p.add_argument(
        "--memory", default="6GB", help="DuckDB memory limit (TAILOR_DUCKDB_MEMORY, default 6GB)"
    )
    p.add_argument("--threads", type=int, help="DuckDB threads (default: all cores)")
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["pandas", "lower_bound", "fixed", "backfill", "pipeline"],
    )
    p.add_argument(
        "--reuse",
        action="append",
        default=[],
        choices=["pandas", "lower_bound", "fixed", "backfill"],
        help="reuse that phase's result from an earlier run in the same scratch folder",
    )
    p.add_argument(
        "--regenerate", action="store_true", help="regenerate even if the landing data matches"
    )
    p.add_argument(
        "--pandas-limit-gb",
        type=float,
        default=16.0,
        help="address-space limit of the pandas child",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted pipeline phase in the same scratch folder: keep its "
        "recorded nights and the warehouse they left, run the nights after them",
    )
    p.add_argument("--no-readme", action="store_true", help="do not update benchmarks/README.md")
    # each benchmark script parses its own options (it runs standalone)
    p.add_argument("--dir", type=Path, help="scratch folder (default <TAILOR_DATA>/bench/<size>)")
    p.add_argument(
        "--render",
        type=Path,
        metavar="RESULTS_JSON",
        help="only re-render the README block (and the summary) of an existing results file",
    )
    p.add_argument("--phase", help=argparse.SUPPRESS)
    p.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--night", type=int, help=argparse.SUPPRESS)
    p.add_argument("--day", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; ``argv`` as on the command line (``None``: ``sys.argv[1:]``).

    Returns 0 when every phase ran (targets met or not), 1 when a phase failed."""
    args = build_parser().parse_args(argv)
    if args.render:
        return rerender(args.render, readme=not args.no_readme)
    if args.size and args.events:
        raise SystemExit("give --size or --events, not both")
    args.events_n = SIZES[args.size] if args.size else parse_events(args.events or "1M")
    args.run_days = min(args.run_days or args.days, args.days)
    if args.phase:
        return run_phase(args)

    from tailor.settings import get_settings

    label = size_label(args.events_n)
    root = (args.dir or get_settings().data / "bench" / label).resolve()
    root.mkdir(parents=True, exist_ok=True)
    log = root / "bench.log"
    cfg = scaled_config(args.events_n, args.days)
    started = dt.datetime.now(dt.UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    res: dict = {
        "size": label,
        "target_events": args.events_n,
        "command": command.strip(),
        "started_at": started.strftime("%Y-%m-%d %H:%M"),
        "machine": machine(),
        "config": {
            **cfg,
            "duckdb_memory": args.memory,
            "duckdb_threads": args.threads,
            "duckdb_temp_rel": "<bench>/tmp/duckdb",
            "run_days": args.run_days,
        },
        "load_samples": [load_average()],
    }

    def say(msg: str) -> None:
        print(f"[bench {label}] {msg}  (load {load_average()})", flush=True)

    manifest = root / "phase-generate.json"
    same = manifest.exists() and json.loads(manifest.read_text()).get("config") == cfg
    if args.resume and (not same or args.regenerate or "pipeline" in args.skip):
        raise SystemExit(
            "--resume continues the pipeline phase on the data already generated in "
            f"{root}: that needs the same size and days, no --regenerate, no --skip pipeline"
        )
    if same and not args.regenerate:
        res["generate"] = json.loads(manifest.read_text())
        say(f"reusing generated data: {res['generate']['events']:,} events")
    else:
        say(f"generating {cfg['customers']:,} customers x {cfg['days']} days ...")
        shutil.rmtree(root / "landing", ignore_errors=True)
        res["generate"] = _child("generate", root, args, log)
        if "error" in res["generate"]:
            say(f"generation failed: {res['generate']['error']}")
            return 1
        say(f"generated {res['generate']['events']:,} events in {res['generate']['seconds']:.0f} s")

    failed = False
    for phase in ("lower_bound", "pandas", "fixed", "backfill", "pipeline"):
        if phase in args.skip:
            continue
        extra_root = root / phase if phase in ("fixed", "backfill") else root
        done = extra_root / f"phase-{phase}.json"
        if phase in args.reuse and done.exists():
            res[phase] = {**json.loads(done.read_text()), "reused": True}
            say(f"{phase}: reusing {done}")
            continue
        say(f"{phase} ...")
        if phase in ("fixed", "backfill"):
            extra_root.mkdir(exist_ok=True)
            out = _child(phase, extra_root, args, log)
        elif phase == "pipeline" and args.resume:
            out = _child(phase, root, args, log, ["--resume"])
        else:
            out = _child(phase, root, args, log)
        if phase == "pipeline" and "error" in out:
            # keep the nights that finished
            lines = root / "pipeline-nights.jsonl"
            nights = (
                [json.loads(x) for x in lines.read_text().splitlines()] if lines.exists() else []
            )
            out = {**out, "nights": nights}
        res[phase] = out
        res["load_samples"].append(load_average())
        failed |= "error" in out
        say(
            f"{phase}: "
            + (
                "FAILED " + out["error"]
                if "error" in out
                else f"{out.get('process_wall_seconds', 0):.0f} s"
            )
        )

    res["finished_at"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
    res["load_average"] = load_range(res)
    res["summary"] = summarize(res)
    RESULTS.mkdir(exist_ok=True)
    res["results_file"] = f"{label}-{stamp}.json"
    (RESULTS / res["results_file"]).write_text(json.dumps(res, indent=2, default=str) + "\n")
    block = render_markdown(res)
    if not args.no_readme:
        text = README.read_text() if README.exists() else "# Benchmarks\n"
        README.write_text(replace_block(text, label, block))
    print(block)
    say(f"results: {RESULTS / res['results_file']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
