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
from tailor.synthetic.common import _csv_line, _rng
from tailor.synthetic.config import (
    GENERATED_SOURCES,
    GROUND_TRUTH_FILES,
    GZIP_LEVEL,
    GenerationSummary,
    GeneratorConfig,
)
from tailor.synthetic.crm import _consent_records, _customer_rows, _erasure_rows
from tailor.synthetic.dirt import _DayOutput, _dirty_csv_rows
from tailor.synthetic.incident_hooks import (
    _inject_consent_bug,
    _inject_event_incident,
    _write_incidents,
)
from tailor.synthetic.sessions import _build_day
from tailor.synthetic.world import _plan_world, _World
from tailor.synthetic.writers import (
    _Output,
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


def _day_outputs(world: _World, workers: int) -> Iterator[_DayOutput]:
    """Each day's output, in day order; with workers > 1 days are built in parallel."""
    if workers <= 1 or world.config.days == 1:
        for d in range(world.config.days):
            yield _build_day(world, d)
        return
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=mp.get_context(method),
        initializer=_init_worker,
        initargs=(world,),
    ) as pool:
        yield from pool.map(_worker_day, range(world.config.days))


def _clear_previous(landing: Path, ground_truth: Path) -> None:
    for source in GENERATED_SOURCES:
        shutil.rmtree(landing / source, ignore_errors=True)
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
) -> GenerationSummary:
    """Write synthetic source data for ``config.days`` days into ``landing``.

    Removes the previous output of the generated sources (and the ground-truth files)
    first, so a rerun with the same config gives byte-identical files. ``progress(done,
    total)`` is called as days finish. ``workers`` (default: 2 for large configs, else 1)
    builds days in parallel processes without changing the output. ``incidents``
    (``tailor.incidents``) break the days they name; without them nothing changes.
    """
    began = time.perf_counter()
    config.validate()
    check_window(incidents, config.start, config.days)
    injected: list[tuple[Incident, int]] = []
    landing, ground_truth = Path(landing), Path(ground_truth)
    _clear_previous(landing, ground_truth)
    world, people = _plan_world(config)
    out = _Output(landing)
    start = config.start
    dirt = config.dirt

    _write_products(world, out)
    _write_csv_partitions(
        world,
        out,
        "customers",
        _customer_rows(world, people),
        (("missing_required", dirt.missing_required), ("malformed_csv", dirt.malformed_csv)),
    )
    consent_days, consents_final = _consent_records(world, people)
    for inc in incidents:
        if inc.kind == "consent_banner_bug":
            injected.append(
                (inc, _inject_consent_bug(world, people, inc, consent_days, consents_final))
            )
    for d in sorted(consent_days):
        _write_ndjson_gz(out, "consents", start + dt.timedelta(days=d), consent_days[d])
    for d, rows in sorted(_erasure_rows(world, people).items()):
        text = _csv_line(list(SOURCES["erasure_requests"].columns)) + "".join(
            _csv_line(r) for r in rows
        )
        out.write(
            "erasure_requests",
            start + dt.timedelta(days=d),
            "erasure_requests.csv",
            text.encode(),
            len(rows),
        )

    forward: dict[int, list[tuple[int, int, int, int, bytes, str, str]]] = {}
    order_rows: dict[int, list[tuple[int, int, int, list[str], list[list[str]]]]] = {}
    carry_orders: list[list[str]] = []
    carry_items: list[list[str]] = []
    order_header = list(SOURCES["orders"].columns)
    item_header = list(SOURCES["order_items"].columns)
    n_events = 0
    n_workers = _default_workers(world) if workers is None else max(1, workers)
    for res in _day_outputs(world, n_workers):
        d = res.day
        day = start + dt.timedelta(days=d)
        for item in res.forward:
            forward.setdefault(item[0], []).append(item)
        for o in res.orders:
            order_rows.setdefault(o[0], []).append(o)

        incoming = sorted(forward.pop(d, []), key=lambda x: (x[1], x[2], x[3]))
        if incoming or res.n_own:
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
        rows = [o[3] for o in todays] + carry_orders
        items = [it for o in todays for it in o[4]] + carry_items
        last = d == config.days - 1
        if rows:
            lines, bad, carry_orders = _dirty_csv_rows(
                _rng(config.seed, "csv:orders", d),
                rows,
                len(carry_orders),
                (
                    ("missing_required", dirt.missing_required),
                    ("malformed_csv", dirt.malformed_csv),
                ),
                not last,
                "orders",
            )
            rel = out.write(
                "orders",
                day,
                "orders.csv",
                (_csv_line(order_header) + "".join(lines)).encode(),
                len(rows),
            )
            out.dirt.extend(("orders", day.isoformat(), rel, rec, cls, "") for rec, cls in bad)
        else:
            carry_orders = []
        if items:
            lines, bad, carry_items = _dirty_csv_rows(
                _rng(config.seed, "csv:order_items", d),
                items,
                len(carry_items),
                (("bad_price", dirt.bad_price),),
                not last,
                "order_items",
            )
            rel = out.write(
                "order_items",
                day,
                "order_items.csv",
                (_csv_line(item_header) + "".join(lines)).encode(),
                len(items),
            )
            out.dirt.extend(("order_items", day.isoformat(), rel, rec, cls, "") for rec, cls in bad)
        else:
            carry_items = []
        if progress:
            progress(d + 1, config.days)

    for inc in incidents:
        if inc.kind in EVENT_INCIDENTS:
            n_new, affected = _inject_event_incident(out, inc, config.seed)
            n_events += n_new
            injected.append((inc, affected))
    _write_ground_truth(world, people, out, ground_truth, consents_final)
    if injected:
        _write_incidents(ground_truth, injected)
    rows_per_source = {s: sum(out.counts.get(s, {}).values()) for s in GENERATED_SOURCES}
    return GenerationSummary(
        files=sorted(out.files),
        rows=rows_per_source,
        events=n_events,
        seconds=time.perf_counter() - began,
    )
