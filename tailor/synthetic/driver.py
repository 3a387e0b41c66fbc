"""``generate``: plans the world, builds the days (in parallel processes for large data sets) and
writes every source and the ground truth.
"""

from __future__ import annotations

import datetime as dt
import gzip
import multiprocessing as mp
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tailor.incidents import (
    EVENT_INCIDENTS,
    Incident,
    check_window,
)
from tailor.sources import SOURCES
from tailor.synthetic.common import _csv_line
from tailor.synthetic.config import (
    GENERATED_SOURCES,
    GROUND_TRUTH_FILES,
    GZIP_LEVEL,
    GenerationSummary,
    GeneratorConfig,
    omit_for_shape,
)
from tailor.synthetic.crm import _consent_records, _customer_rows, _erasure_rows
from tailor.synthetic.dirt import _DayOutput
from tailor.synthetic.incident_hooks import (
    _inject_event_incident,
    _write_incidents,
)
from tailor.synthetic.manifest import MANIFEST, check_continues, consent_incidents, write_manifest
from tailor.synthetic.sessions import _build_day
from tailor.synthetic.world import _plan_world, _World
from tailor.synthetic.writers import (
    _csv_partition,
    _Output,
    _previous_truth,
    _write_csv_partitions,
    _write_ground_truth,
    _write_ndjson_gz,
    _write_products,
)

_WORKER_WORLD: list[_World] = []


def _init_worker(world: _World) -> None:
    _WORKER_WORLD[:] = [world]


def _worker_day(day: int) -> _DayOutput:
    return _build_day(_WORKER_WORLD[0], day)


def _day_outputs(world: _World, days: range, workers: int) -> Iterator[_DayOutput]:
    """Each day's output, in day order; with workers > 1 days are built in parallel."""
    if workers <= 1 or len(days) == 1:
        for d in days:
            yield _build_day(world, d)
        return
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=mp.get_context(method),
        initializer=_init_worker,
        initargs=(world,),
    ) as pool:
        yield from pool.map(_worker_day, days)


# Records of a day reach partitions up to this many days later (a return is exported 3-9
# days after an order placed up to a day after its session began; late events 1-3 days):
# an append builds the days this far back again, to hand their records to the new days.
LOOKBACK_DAYS = 11


def _clear_previous(landing: Path, ground_truth: Path) -> None:
    for source in GENERATED_SOURCES:
        shutil.rmtree(landing / source, ignore_errors=True)
    (landing / MANIFEST).unlink(missing_ok=True)
    for name in GROUND_TRUTH_FILES:
        (ground_truth / name).unlink(missing_ok=True)


def _default_workers(world: _World) -> int:
    expected_events = int(world.s_views.sum()) * 3
    cpus = os.cpu_count() or 1
    return min(2, cpus) if expected_events > 200_000 else 1


def generate(
    config: GeneratorConfig,
    landing: Path,
    ground_truth: Path,
    progress: Callable[[int, int], None] | None = None,
    *,
    workers: int | None = None,
    incidents: tuple[Incident, ...] = (),
    shape: str = "both",
    first_day: int = 0,
) -> GenerationSummary:
    """Write synthetic source data for ``config.days`` days into ``landing``.

    Every day is drawn from streams of (seed, day) given the days before it, so ``days=5``
    gives the first five days of ``days=30`` exactly. With ``first_day`` 0, removes the
    previous output of the generated sources (and the ground-truth files) first, so a
    rerun with the same config gives byte-identical files. With ``first_day`` > 0, appends
    days ``first_day`` to ``config.days - 1`` to the data set already in ``landing``
    (``manifest.appended_config`` gives the config): the result is the same as generating
    all the days at once. A ValueError says why a data set cannot be extended.

    ``progress(done, total)`` is called as days finish. ``workers`` (default: 2 for large
    configs, else 1) builds days in parallel processes without changing the output.
    ``incidents`` (``tailor.incidents``) break the new days they name; without them nothing
    changes. ``shape`` (``SHAPE_OMITS``) leaves out the sources a store of that shape does
    not send.
    """
    began = time.perf_counter()
    config.validate()
    landing, ground_truth = Path(landing), Path(ground_truth)
    if not 0 <= first_day < config.days:
        raise ValueError(f"first_day must be between 0 and {config.days - 1}")
    start = config.start
    check_window(incidents, start + dt.timedelta(days=first_day), config.days - first_day)
    out = _Output(landing)
    earlier: tuple[Incident, ...] = ()
    previous_incidents: list[list[str]] = []
    if first_day:
        check_continues(landing, config, shape, first_day)
        earlier = consent_incidents(landing)
        out.dirt, out.counts, previous_incidents = _previous_truth(ground_truth)
    else:
        _clear_previous(landing, ground_truth)
    world, people = _plan_world(config)
    dirt = config.dirt
    crm_rates = (("missing_required", dirt.missing_required), ("malformed_csv", dirt.malformed_csv))

    _write_products(world, out, first_day)
    _write_csv_partitions(
        world, out, "customers", _customer_rows(world, people), crm_rates, first_day
    )
    consent_days, consents_final, bugs = _consent_records(world, people, earlier + incidents)
    injected = [(inc, bugs[inc]) for inc in incidents if inc in bugs]
    for d in sorted(consent_days):
        if d >= first_day:
            _write_ndjson_gz(out, "consents", start + dt.timedelta(days=d), consent_days[d])
    for d, rows in sorted(_erasure_rows(world, people).items()):
        if d < first_day:
            continue
        text = _csv_line(list(SOURCES["erasure_requests"].columns)) + "".join(
            _csv_line(r) for r in rows
        )
        day = start + dt.timedelta(days=d)
        out.write("erasure_requests", day, "erasure_requests.csv", text.encode(), len(rows))

    forward: dict[int, list[tuple[int, int, int, int, bytes, str, str]]] = {}
    order_rows: dict[int, list[tuple[int, int, int, list[str], list[list[str]]]]] = {}
    carry_orders: list[list[str]] = []
    carry_items: list[list[str]] = []
    n_events = 0
    n_workers = _default_workers(world) if workers is None else max(1, workers)
    days = range(max(0, first_day - LOOKBACK_DAYS), config.days)
    for res in _day_outputs(world, days, n_workers):
        d = res.day
        day = start + dt.timedelta(days=d)
        for item in res.forward:
            forward.setdefault(item[0], []).append(item)
        for o in res.orders:
            order_rows.setdefault(o[0], []).append(o)

        incoming = sorted(forward.pop(d, []), key=lambda x: (x[1], x[2], x[3]))
        if d >= first_day and (incoming or res.n_own):
            head = b"".join(x[4] + b"\n" for x in incoming)
            data = (
                gzip.compress(head, compresslevel=GZIP_LEVEL, mtime=0) if incoming else b""
            ) + res.member
            rel = out.write("events", day, "events.ndjson.gz", data, len(incoming) + res.n_own)
            n_events += len(incoming) + res.n_own
            for k, x in enumerate(incoming, start=1):
                if x[5]:
                    out.dirt.append(("events", day.isoformat(), rel, k, x[5], x[6]))
            for pos, cls, mid in res.own_dirt:
                out.dirt.append(("events", day.isoformat(), rel, len(incoming) + pos + 1, cls, mid))

        todays = sorted(order_rows.pop(d, []), key=lambda o: (o[1], o[2]))
        write = d >= first_day
        carry_orders = _csv_partition(
            world, out, "orders", d, [o[3] for o in todays], carry_orders, crm_rates, write
        )
        carry_items = _csv_partition(
            world,
            out,
            "order_items",
            d,
            [it for o in todays for it in o[4]],
            carry_items,
            (("bad_price", dirt.bad_price),),
            write,
        )
        if progress and write:
            progress(d + 1 - first_day, config.days - first_day)

    for inc in incidents:
        if inc.kind in EVENT_INCIDENTS:
            n_new, affected = _inject_event_incident(out, inc, config.seed)
            n_events += n_new
            injected.append((inc, affected))
    _write_ground_truth(world, people, out, ground_truth, consents_final)
    if injected or previous_incidents:
        _write_incidents(ground_truth, injected, previous_incidents)
    omit_for_shape(landing, shape, start + dt.timedelta(days=first_day), config.days - first_day)
    out.files.append(write_manifest(landing, config, shape, earlier + incidents))
    new_days = {(start + dt.timedelta(days=d)).isoformat() for d in range(first_day, config.days)}
    rows_per_source = {
        s: sum(n for day, n in out.counts.get(s, {}).items() if day in new_days)
        for s in GENERATED_SOURCES
    }
    return GenerationSummary(
        files=sorted(out.files),
        rows=rows_per_source,
        events=n_events,
        seconds=time.perf_counter() - began,
    )
