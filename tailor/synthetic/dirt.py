"""The deliberate bad records: dirt injected into a day's events (stamped with ids and times
here) and into CSV rows, with the ground truth of each dirty record.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass

import numpy as np
import orjson

from tailor.synthetic.common import _csv_line, _iso_ms_list, _offset_str, _uuid4_list
from tailor.synthetic.config import (
    DIRT_CLASSES,
    DRIFT_FIELDS,
    GZIP_LEVEL,
    INVALID_TIMESTAMPS,
    MS_PER_DAY,
    MS_PER_HOUR,
)
from tailor.synthetic.devices import _K_CRITICAL, _K_PRICED, _K_VIEWED
from tailor.synthetic.world import _World


@dataclass
class _DayOutput:
    day: int
    member: bytes  # gzip member holding the day's own event lines, in receivedAt order
    n_own: int
    own_dirt: list[tuple[int, str, str]]  # (0-based position among own lines, class, messageId)
    forward: list[
        tuple[int, int, int, int, bytes, str, str]
    ]  # (dest day, receivedAt ms, src day, seq, line, class, messageId)
    orders: list[
        tuple[int, int, int, list[str], list[list[str]]]
    ]  # (dest day, updated ms, order no, row, items)
    n_events: int


def _finish_day(
    w: _World,
    day: int,
    rng: np.random.Generator,
    evs: list[dict],
    times: list[int],
    kinds: list[int],
    sess_of: list[int],
    orders: list,
) -> _DayOutput:
    """Stamp ids and times, inject dirt, serialize, and split own lines from later partitions."""
    cfg = w.config
    dirt = cfg.dirt
    n = len(evs)
    start_ms = w.window_start_ms
    if n == 0:
        return _DayOutput(day, b"", 0, [], [], orders, 0)
    t = np.array(times, dtype=np.int64)
    kind = np.array(kinds, dtype=np.int8)
    sidx = np.array(sess_of, dtype=np.int64)
    ev_day = (t - start_ms) // MS_PER_DAY
    day_end = start_ms + (ev_day + 1) * MS_PER_DAY - 1
    delay = 20 + np.minimum(rng.lognormal(np.log(350), 1.0, size=n), 90_000).astype(np.int64)
    recv = np.minimum(t + delay, day_end)
    sent = np.minimum(t + rng.integers(2, 300, size=n), recv)
    dest = ev_day.copy()

    # one kind of dirt per record, each class among the records it can apply to
    cls = np.zeros(n, dtype=np.int8)
    u = rng.random(n)
    cum = np.zeros(n)
    destructive = kind != _K_CRITICAL
    specs = (
        (1, dirt.malformed_json, destructive),
        (2, dirt.missing_required, destructive),
        (3, dirt.invalid_timestamp, destructive),
        (4, dirt.bad_price, (kind == _K_PRICED) | (kind == _K_VIEWED)),
        (5, dirt.unknown_product, kind == _K_VIEWED),
        (6, dirt.schema_drift, np.ones(n, dtype=bool)),
        (7, dirt.late, np.ones(n, dtype=bool)),
        (8, dirt.duplicate, np.ones(n, dtype=bool)),
    )
    for code, rate, eligible in specs:
        if rate <= 0:
            continue
        p = np.where(eligible, rate, 0.0)
        cls[(u >= cum) & (u < cum + p)] = code
        cum = cum + p
    variant = rng.integers(0, 1 << 30, size=n)
    late = np.flatnonzero(cls == 7)
    if len(late):
        dest[late] = ev_day[late] + 1 + variant[late] % 3
        recv[late] = (
            start_ms + dest[late] * MS_PER_DAY + rng.integers(0, 20 * MS_PER_HOUR, size=len(late))
        )
        sent[late] = recv[late] - rng.integers(50, 2_000, size=len(late))
    dup = np.flatnonzero(cls == 8)
    dup_recv = recv[dup] + np.clip(
        rng.lognormal(np.log(600_000), 1.3, size=len(dup)), 1_000, 6 * MS_PER_HOUR
    ).astype(np.int64)
    dup_dest = (dup_recv - start_ms) // MS_PER_DAY

    # timestamps: UTC "Z", or the shopper's local offset for sessions of SDKs that send it
    s_lo = int(np.searchsorted(w.s_day, day))
    sess_g = s_lo + sidx
    mixed = w.s_mixed[sess_g]
    off_min = w.tz_offsets[w.tz[w.s_actor[sess_g]], np.clip(ev_day, -4, cfg.days + 3) + 4]
    local = t + np.where(mixed, off_min * 60_000, 0)
    suffixes = {m: _offset_str(m) for m in np.unique(off_min).tolist()}
    ts = [
        b + (suffixes[o] if m else "Z")
        for b, m, o in zip(_iso_ms_list(local), mixed.tolist(), off_min.tolist(), strict=True)
    ]
    sent_s = [b + "Z" for b in _iso_ms_list(sent)]
    recv_s = [b + "Z" for b in _iso_ms_list(recv)]
    mids = _uuid4_list(rng, n)
    for i, e in enumerate(evs):
        e["messageId"] = mids[i]
        e["timestamp"] = ts[i]
        e["sentAt"] = sent_s[i]
        e["receivedAt"] = recv_s[i]

    names = ("",) + DIRT_CLASSES
    dirt_mid = list(mids)
    dirty = np.flatnonzero((cls >= 2) & (cls <= 6)).tolist()
    for i in dirty:
        e = evs[i]
        c = int(cls[i])
        v = int(variant[i])
        if c == 2:
            which = v % 3
            if which == 0:
                del e["messageId"]
                dirt_mid[i] = ""
            elif which == 1:
                del e["timestamp"]
            else:
                del e["anonymousId"]
                del e["userId"]
        elif c == 3:
            e["timestamp"] = INVALID_TIMESTAMPS[v % len(INVALID_TIMESTAMPS)]
        elif c == 4:
            props = e["properties"] = dict(e["properties"])
            props["price"] = 0.0 if v % 2 == 0 else -props["price"]
        elif c == 5:
            props = e["properties"] = dict(e["properties"])
            props["product_id"] = f"P{900_000 + v % 99_999:06d}"
            props["sku"] = f"UNK-{v % 99_999:06d}"
        elif c == 6:
            for k in range(1 + v % 2):
                fname, values = DRIFT_FIELDS[(v // 7 + k) % len(DRIFT_FIELDS)]
                e[fname] = values[(v // 131) % len(values)]
    dumps = orjson.dumps
    lines = [dumps(e) for e in evs]
    for i in np.flatnonzero(cls == 1).tolist():
        full = lines[i]
        cut = max(8, int(len(full) * (0.2 + 0.75 * (int(variant[i]) % 1000) / 1000)))
        broken = full[:cut].decode("utf-8", "ignore").encode()
        # cut mid-record: never a whole document, never ending as if it closed one
        while broken and (_is_json(broken) or broken.endswith(b"}")):
            broken = broken[:-1]
        lines[i] = broken or b"{"
    dup_lines = []
    for i, r in zip(dup.tolist(), _iso_ms_list(dup_recv), strict=True):
        copy = dict(evs[i])
        copy["receivedAt"] = r + "Z"
        dup_lines.append(dumps(copy))
    cls[dup] = 0

    all_lines = lines + dup_lines
    all_recv = np.concatenate([recv, dup_recv])
    all_dest = np.concatenate([dest, dup_dest])
    all_cls = np.concatenate([cls, np.full(len(dup), 8, dtype=np.int8)])
    all_mid = dirt_mid + [mids[i] for i in dup.tolist()]
    own = np.flatnonzero(all_dest == day)
    own = own[np.argsort(all_recv[own], kind="stable")]
    body = b"\n".join([all_lines[i] for i in own.tolist()])
    member = gzip.compress(body + b"\n", compresslevel=GZIP_LEVEL, mtime=0) if len(own) else b""
    own_cls = all_cls[own]
    own_dirt = [
        (int(k), names[int(own_cls[k])], all_mid[int(own[k])]) for k in np.flatnonzero(own_cls)
    ]
    fwd = np.flatnonzero(all_dest != day).tolist()
    forward = [
        (
            int(all_dest[i]),
            int(all_recv[i]),
            day,
            i,
            all_lines[i],
            names[int(all_cls[i])],
            all_mid[i],
        )
        for i in fwd
    ]
    return _DayOutput(day, member, len(own), own_dirt, forward, orders, len(all_lines))


def _is_json(raw: bytes) -> bool:
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return True


def _dirty_csv_rows(
    rng: np.random.Generator,
    rows: list[list[str]],
    redelivered: int,
    rates: tuple[tuple[str, float], ...],
    source: str,
) -> tuple[list[str], list[tuple[int, str]], list[list[str]]]:
    """CSV lines for ``rows`` with dirt injected; the last ``redelivered`` rows stay clean.

    A dirty row is sent again, corrected, in the next day's export, the way a backend
    re-exports a record after a fix, so no entity is lost for good (a dirty row of a data
    set's last day is corrected on the day after it, when the data set is extended). The
    draws depend only on the day's fresh rows.
    """
    fresh = len(rows) - redelivered
    u = rng.random(fresh)
    variant = rng.integers(0, 1 << 30, size=fresh)
    lines: list[str] = []
    dirt: list[tuple[int, str]] = []
    again: list[list[str]] = []
    for k, row in enumerate(rows):
        cls = ""
        if k < fresh:
            cum = 0.0
            for name, rate in rates:
                if cum <= u[k] < cum + rate:
                    cls = name
                    break
                cum += rate
        if not cls:
            lines.append(_csv_line(row))
            continue
        v = int(variant[k])
        bad = list(row)
        if cls == "missing_required":
            bad[0] = ""
        elif cls == "malformed_csv":
            if v % 2 == 0:
                bad = bad[:-2]
            elif source == "customers":  # the city and its country spilled into two fields
                bad = bad[:8] + [bad[6]] + bad[8:]
            else:  # an amount written with a decimal comma, unquoted
                whole, _, cents = bad[8].partition(".")
                bad = bad[:8] + [whole, cents] + bad[9:]
        elif cls == "bad_price":
            bad[5] = "-" + bad[5]  # a line at 0.00 is a free item, loaded
        lines.append(",".join(bad) + "\n" if cls == "malformed_csv" else _csv_line(bad))
        dirt.append((k + 1, cls))
        again.append(row)
    return lines, dirt, again
