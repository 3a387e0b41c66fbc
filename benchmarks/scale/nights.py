"""The timed nights: the pipeline phase (every night in order, each in its own process, with
its stages timed and its memory sampled), a night inside its process, the fixed per-night
cost on a tiny data set, and where an interrupted pipeline phase resumes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.scale.measure import RssSampler, children_peak_rss_mb, load_average, peak_rss_mb
from benchmarks.scale.sizes import SEED, START

# the repository: where the night processes run ``python -m benchmarks.run``
REPO = Path(__file__).resolve().parents[2]


def _run_settings(root: Path):
    """The settings of the measured nights: the run's own landing zone (see phase_pipeline)."""
    from tailor.settings import get_settings

    return dataclasses.replace(get_settings(), landing=root / "run-landing")


def resume_point(nights: list[dict], last_loaded: dt.date | None) -> int:
    """How many recorded nights a resumed pipeline phase keeps: all of them, provided the
    warehouse is the one the last of them committed (its latest loaded day is that night's
    day). Anything else (a night committed but not recorded, a warehouse from another run)
    would make the numbers that follow belong to no run, so it is refused."""
    if not nights:
        raise ValueError("nothing to resume: no night of an earlier run is recorded")
    numbers = [n["night"] for n in nights]
    if numbers != list(range(1, len(nights) + 1)):
        raise ValueError(f"the recorded nights are not 1..{len(nights)} in order: {numbers}")
    last = nights[-1]
    if last_loaded is None or last_loaded.isoformat() != last["day"]:
        raise ValueError(
            f"the warehouse does not hold what night {last['night']} ({last['day']}) left: "
            f"its latest loaded day is {last_loaded}; run without --resume"
        )
    return len(nights)


def phase_pipeline(
    root: Path, cfg: dict, run_days: int, out_lines: Path, resume: bool = False
) -> dict:
    """Every night in order on a fresh warehouse, each night in its own process (as the
    nightly schedule runs it: one ``tailor run`` a night, or one process per Airflow task),
    so a night's peak memory is its own and no state carries over in memory; one JSON line
    per night to ``out_lines`` as it finishes (so a crash keeps the nights before it).

    ``resume``: keep the nights ``out_lines`` holds and the warehouse, landing zone and
    exports they left (an interrupted run), and run the nights after them."""
    import duckdb

    from tailor.publish import publish_snapshot
    from tailor.settings import get_settings

    s = get_settings()
    nights: list[dict] = []
    if resume:
        nights = [json.loads(x) for x in out_lines.read_text().splitlines() if x.strip()]
        con = duckdb.connect(str(s.warehouse), read_only=True)
        try:
            (last_loaded,) = con.execute("select max(_dt) from raw.load_log").fetchone()
        finally:
            con.close()
        done = resume_point(nights, last_loaded)
    else:
        done = 0
        for p in (s.warehouse, s.snapshot):
            p.unlink(missing_ok=True)
            Path(str(p) + ".wal").unlink(missing_ok=True)
        for sub in ("dbt", "exports", "reports", "tmp"):
            shutil.rmtree(root / sub, ignore_errors=True)
    # The nights read hard links of the generated files: applying an erasure request
    # purges the person's records from the landing zone (a new file renamed over the old
    # name), which would leave the next run on the same data set without its erasures.
    # A partition appears when its night comes (dt=D is delivered by night D), as in
    # production, where the landing zone holds no future days: an erasure purges the
    # files delivered so far.
    generated = s.landing
    run_landing = _run_settings(root).landing
    if not resume:
        shutil.rmtree(run_landing, ignore_errors=True)
        shutil.copytree(
            generated,
            run_landing,
            copy_function=os.link,
            ignore=lambda folder, names: [n for n in names if n.startswith("dt=")],
        )
    start = dt.date.fromisoformat(cfg["start"])
    last_without: dict | None = None
    with out_lines.open("a" if resume else "w") as out:
        for i in range(done, run_days):
            day = start + dt.timedelta(days=i)
            for part in sorted(generated.glob(f"*/dt={day.isoformat()}")):
                target = run_landing / part.relative_to(generated)
                if target.exists():
                    # delivered before the interruption (and maybe purged since): as is
                    continue
                shutil.copytree(part, target, copy_function=os.link)
            if i == run_days - 1:
                # the night without erasures, side by side with the same night
                # with its requests: both on the state night N-1 left
                twin = twin_night(root, i + 1, day)
                if twin is not None:
                    last_without = twin
            night = _night_process(root, i + 1, day)
            process_wall = night["process_wall_seconds"]
            nights.append(night)
            out.write(json.dumps(night, default=str) + "\n")
            out.flush()
            print(
                f"night {i + 1}/{run_days} {day}: {night['wall_seconds']:.1f} s "
                f"(process {process_wall:.1f} s), {night['events']:,} events, "
                f"rss {night['peak_rss_mb']:.0f} MB, load {night['load_average']}",
                file=sys.__stderr__,
                flush=True,
            )
    t = time.perf_counter()
    publish_snapshot(s)
    publish_seconds = time.perf_counter() - t
    return {
        "nights": nights,
        **({"resumed_after_night": done} if resume else {}),
        **({"last_night_without_requests": last_without} if last_without else {}),
        "publish_seconds": publish_seconds,
        "peak_rss_mb": max([n["peak_rss_mb"] for n in nights] + [peak_rss_mb()]),
        "children_peak_rss_mb": children_peak_rss_mb(),
    }


# What a night reads and writes besides its landing zone and warehouse (dbt's saved
# parse, Great Expectations' context, earlier exports, run logs, reports, scratch).
_NIGHT_STATE = ("airflow", "dbt", "exports", "ground_truth", "gx", "reports", "runs", "tmp")


def twin_night(root: Path, night_no: int, day: dt.date) -> dict | None:
    """Night ``night_no`` without the erasure requests delivered for ``day``, on a copy of
    the state the nights before left (warehouse, landing zone as hard links, the other
    files a night reads), in its own process; then the copy is removed. None when the day
    delivers no request. Issue 25 states night 30 without erasures against night 1 and
    pandas, and a night with requests against one without: run just before the real
    night, both are measured on the same state and the same machine."""
    landing = _run_settings(root).landing
    requests = landing / "erasure_requests" / f"dt={day.isoformat()}"
    if not any(requests.glob("*")):
        return None
    from tailor.settings import get_settings

    twin = root / "twin"
    shutil.rmtree(twin, ignore_errors=True)
    twin.mkdir()
    try:
        shutil.copytree(
            landing,
            twin / landing.name,
            copy_function=os.link,
            ignore=lambda folder, names: [n for n in names if Path(folder, n) == requests],
        )
        for name in _NIGHT_STATE:
            if (root / name).is_dir():
                shutil.copytree(root / name, twin / name)
        warehouse = get_settings().warehouse
        (twin / "warehouse").mkdir()
        shutil.copyfile(warehouse, twin / "warehouse" / warehouse.name)
        # the copies' gigabytes written back now, not during the night (the night's load
        # still took 4-7 s longer than the same night's right after it in the 10M runs of
        # 2026-12-05, with and without this: not explained yet, see benchmarks/README.md)
        os.sync()
        env = {
            **os.environ,
            "TAILOR_DATA": str(twin),
            "TAILOR_DUCKDB_TEMP": str(twin / "tmp" / "duckdb"),
            "AIRFLOW_HOME": str(twin / "airflow"),
        }
        night = _night_process(twin, night_no, day, env=env)
    finally:
        shutil.rmtree(twin, ignore_errors=True)
        os.sync()  # and the removal's, before the night with the requests
    print(
        f"night {night_no} {day} without its erasure requests: {night['wall_seconds']:.1f} s",
        file=sys.__stderr__,
        flush=True,
    )
    return night


def _night_process(
    root: Path, night_no: int, day: dt.date, env: dict[str, str] | None = None
) -> dict:
    """Run night ``night_no``, for ``day`` (:func:`phase_night`), in a new process; its
    result with the process's wall time, start-up included. ``env``: the process's
    environment (default: this one's)."""
    result = root / f"night-{night_no}.json"
    result.unlink(missing_ok=True)
    t = time.perf_counter()
    cmd = [sys.executable, "-m", "benchmarks.run", "--phase", "night", "--root", str(root)]
    cmd += ["--night", str(night_no), "--day", day.isoformat()]
    proc = subprocess.run(cmd, cwd=REPO, env=env)
    process_wall = time.perf_counter() - t
    if proc.returncode != 0 or not result.exists():
        raise RuntimeError(f"night {night_no} failed: exit code {proc.returncode}")
    night = json.loads(result.read_text())
    result.unlink()
    night["process_wall_seconds"] = process_wall
    night["load_average"] = load_average()
    return night


def phase_night(root: Path, night_no: int, day: dt.date) -> dict:
    """One night of phase_pipeline, inside its own process: ``run_day`` on the warehouse the
    nights before left, with the peak memory sampled per stage."""
    import duckdb

    from tailor.pipeline import run_day

    s = _run_settings(root)
    with RssSampler() as sampler:
        sampler.switch("working_copy")
        t = time.perf_counter()

        def on_stage(name: str, ctx) -> None:
            sampler.switch(name)

        ctx = run_day(day, s, publish=False, report=False, on_stage=on_stage)
        wall = time.perf_counter() - t
        sampler.switch("between")
    con = duckdb.connect(str(s.warehouse), read_only=True)
    try:
        by_source = dict(
            con.execute(
                "select source, sum(rows_read) from raw.load_log where _dt = ? group by source",
                [day],
            ).fetchall()
        )
        history = con.execute("select count(*) from raw.events").fetchone()[0]
    finally:
        con.close()
    rows = int(sum(by_source.values()))
    stages = {
        name: {"seconds": secs, "rows": rows, "peak_rss_mb": sampler.peaks.get(name)}
        for name, secs in ctx.timings.items()
    }
    return {
        "night": night_no,
        "day": day.isoformat(),
        "events": int(by_source.get("events", 0)),
        "rows": rows,
        "rows_by_source": {k: int(v) for k, v in by_source.items()},
        "raw_events_history": int(history),
        "wall_seconds": wall,
        "working_copy_seconds": wall - sum(ctx.timings.values()),
        "working_copy_peak_rss_mb": sampler.peaks.get("working_copy"),
        "warehouse_mb": s.warehouse.stat().st_size / 2**20,
        "stages": stages,
        "dbt_slowest": (ctx.results.get("dbt_build") or {}).get("slowest"),
        # what the night's erasures cost, part by part (landing purge, tables, compaction)
        "erase": ctx.results.get("erase"),
        "peak_rss_mb": peak_rss_mb(),
    }


def phase_fixed(root: Path) -> dict:
    """The per-night fixed cost: the second of two nights on 300 customers (about 3k rows;
    fewer customers leave segmentation without enough data and the ML gate fails), each
    night in its own process as in the pipeline phase."""
    from tailor.settings import get_settings
    from tailor.synthetic.config import GeneratorConfig
    from tailor.synthetic.driver import generate

    s = get_settings()
    cfg = {"customers": 300, "products": 200, "days": 2, "start": START, "seed": SEED}
    generate(GeneratorConfig(**cfg), s.landing, s.ground_truth)
    s.warehouse.unlink(missing_ok=True)
    for sub in ("dbt", "run-landing"):
        shutil.rmtree(root / sub, ignore_errors=True)
    shutil.copytree(s.landing, _run_settings(root).landing, copy_function=os.link)
    nights = [_night_process(root, n, START + dt.timedelta(days=n - 1)) for n in (1, 2)]
    return {
        "night_seconds": nights[-1]["process_wall_seconds"],
        "first_night_seconds": nights[0]["process_wall_seconds"],
        "stages": {k: v["seconds"] for k, v in nights[-1]["stages"].items()},
        "peak_rss_mb": max(n["peak_rss_mb"] for n in nights),
    }


def phase_backfill(root: Path, cfg: dict, run_days: int) -> dict:
    """The history built in one pass, as ``tailor run --from D1 --to DN`` builds it
    (:func:`tailor.backfill.backfill`) on a fresh warehouse in ``root`` (the benchmark's
    ``backfill`` folder), in this process, with the peak memory sampled per stage. It reads
    hard links of the generated files (``<bench>/landing``; an erasure request purges the
    person's records from the landing zone by renaming a new file over the old name). No
    snapshot or report, as in the pipeline phase's nights."""
    import duckdb

    from tailor.backfill import backfill

    s = _run_settings(root)
    for p in (s.warehouse, s.snapshot):
        p.unlink(missing_ok=True)
        Path(str(p) + ".wal").unlink(missing_ok=True)
    for sub in ("dbt", "exports", "reports", "tmp", "run-landing"):
        shutil.rmtree(root / sub, ignore_errors=True)
    shutil.copytree(root.parent / "landing", s.landing, copy_function=os.link)
    start = dt.date.fromisoformat(cfg["start"])
    end = start + dt.timedelta(days=run_days - 1)
    with RssSampler() as sampler:
        t = time.perf_counter()

        def on_stage(name: str, ctx) -> None:
            sampler.switch(name)

        ctx = backfill(start, end, s, publish=False, report=False, on_stage=on_stage)
        wall = time.perf_counter() - t
        sampler.switch("between")
    con = duckdb.connect(str(s.warehouse), read_only=True)
    try:
        (events,) = con.execute("select count(*) from raw.events").fetchone()
    finally:
        con.close()
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "days": run_days,
        "raw_events": int(events),
        "wall_seconds": wall,
        "working_copy_seconds": wall - sum(ctx.timings.values()),
        "stages": {
            name: {"seconds": secs, "peak_rss_mb": sampler.peaks.get(name)}
            for name, secs in ctx.timings.items()
        },
        "warehouse_mb": s.warehouse.stat().st_size / 2**20,
        "peak_rss_mb": peak_rss_mb(),
    }
