"""Landing files per source (products Parquet, CSV partitions, NDJSON) and the ground-truth files
beside them.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from tailor.sources import SOURCES
from tailor.synthetic.common import _csv_line, _csv_text, _iso_seconds, _money, _rng
from tailor.synthetic.config import CURRENCY, GENERATED_SOURCES, GZIP_LEVEL, PERSONAS
from tailor.synthetic.devices import _DEVICE_TYPES, _ID_EMAIL, _ID_LOGIN, _ID_SIGNUP
from tailor.synthetic.dirt import _dirty_csv_rows
from tailor.synthetic.population import _People
from tailor.synthetic.world import _World


@dataclass
class _Output:
    landing: Path
    files: list[Path] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    dirt: list[tuple[str, str, str, int, str, str]] = field(default_factory=list)

    def path(self, source: str, day: dt.date, name: str) -> tuple[Path, str]:
        rel = f"{source}/dt={day.isoformat()}/{name}"
        return self.landing / rel, rel

    def write(self, source: str, day: dt.date, name: str, data: bytes, records: int) -> str:
        path, rel = self.path(source, day, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files.append(path)
        self.counts.setdefault(source, {})[day.isoformat()] = records
        return rel


def _write_products(world: _World, out: _Output, first: int) -> None:
    """products.parquet of days ``first`` on: the full catalog on day 1, then changes."""
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    cfg = world.config
    n0 = int((world.prod_created_day < 0).sum())
    per_day: dict[int, list[tuple[int, int]]] = {
        0: [(p, int(world.prod_created_ms[p])) for p in range(n0)]
    }
    for d, changes in sorted(world.catalog_changes.items()):
        per_day.setdefault(d, []).extend(sorted(changes, key=lambda c: (c[1], c[0])))
    schema = pa.schema(
        [
            ("product_id", pa.string()),
            ("title", pa.string()),
            ("description", pa.string()),
            ("category_path", pa.string()),
            ("brand", pa.string()),
            ("price", pa.decimal128(18, 2)),
            ("currency", pa.string()),
            ("is_active", pa.bool_()),
            ("created_at", pa.string()),
            ("updated_at", pa.string()),
        ]
    )
    for d in sorted(per_day):
        if d < first:
            continue
        rows = per_day[d]
        cols: dict[str, list] = {name: [] for name in schema.names}
        for p, updated in rows:
            cols["product_id"].append(world.prod_ids[p])
            cols["title"].append(world.prod_title[p])
            cols["description"].append(world.prod_desc[p])
            cols["category_path"].append(world.prod_path[p])
            cols["brand"].append(world.prod_brand_name[p])
            cols["price"].append(decimal.Decimal(_money(int(world.prod_price[p, d]))))
            cols["currency"].append(CURRENCY)
            cols["is_active"].append(bool(world.prod_listed[p] and world.prod_active_until[p] > d))
            cols["created_at"].append(_iso_seconds(int(world.prod_created_ms[p])))
            cols["updated_at"].append(_iso_seconds(updated))
        table = pa.table(cols, schema=schema)
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        out.write(
            "products",
            cfg.start + dt.timedelta(days=d),
            "products.parquet",
            buf.getvalue(),
            len(rows),
        )


def _csv_partition(
    world: _World,
    out: _Output,
    source: str,
    d: int,
    fresh: list[list[str]],
    carried: list[list[str]],
    rates: tuple[tuple[str, float], ...],
    write: bool,
) -> list[list[str]]:
    """Day ``d``'s CSV file of ``source`` (written if ``write``): the day's fresh rows, dirt
    injected, then the rows a dirty row of the day before sends again. Returns the rows to
    send again the next day."""
    cfg = world.config
    rows = fresh + carried
    if not rows:
        return []
    rng = _rng(cfg.seed, f"csv:{source}", d)
    lines, dirt, again = _dirty_csv_rows(rng, rows, len(carried), rates, source)
    if write:
        day = cfg.start + dt.timedelta(days=d)
        text = _csv_line(list(SOURCES[source].columns)) + "".join(lines)
        rel = out.write(source, day, f"{source}.csv", text.encode(), len(rows))
        out.dirt.extend((source, day.isoformat(), rel, rec, cls, "") for rec, cls in dirt)
    return again


def _write_csv_partitions(
    world: _World,
    out: _Output,
    source: str,
    rows_by_day: dict[int, list[list[str]]],
    rates: tuple[tuple[str, float], ...],
    first: int,
) -> None:
    """The source's CSV partitions of days ``first`` on (the rows a dirty row of the day
    before sends again are worked out from day 1)."""
    carry: list[list[str]] = []
    for d in range(world.config.days):
        carry = _csv_partition(
            world, out, source, d, rows_by_day.get(d, []), carry, rates, d >= first
        )


def _write_ndjson_gz(out: _Output, source: str, day: dt.date, records: list[dict]) -> None:
    body = b"".join(orjson.dumps(r) + b"\n" for r in records)
    out.write(
        source,
        day,
        f"{source}.ndjson.gz",
        gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0),
        len(records),
    )


def _write_ground_truth(
    world: _World,
    people: _People,
    out: _Output,
    ground_truth: Path,
    consents_final: list[list[str]],
) -> None:
    ground_truth.mkdir(parents=True, exist_ok=True)
    n_c = world.n_customers
    exists = people.signup_ms[:n_c] < world.window_end_ms  # signed up by the window's end
    personas = sorted(
        [
            world.customer_ids[i],
            PERSONAS[int(world.persona[i])],
            _iso_seconds(int(people.signup_ms[i]))[:10],
        ]
        for i in np.flatnonzero(exists).tolist()
    )
    (ground_truth / "personas.csv").write_text(
        _csv_text(["customer_id", "persona", "signup_date"], personas)
    )

    linked = np.zeros(len(world.dev_actor), dtype=np.int64)  # 1 userId, 2 email
    login = (world.s_ident == _ID_LOGIN) | (world.s_ident == _ID_SIGNUP)
    linked[world.s_device[world.s_ident == _ID_EMAIL]] = 2
    linked[world.s_device[login]] = 1
    how = ("none", "userId", "email")
    identities = sorted(
        [
            world.customer_ids[int(a)],
            world.dev_anon[d],
            _DEVICE_TYPES[int(world.dev_type[d])],
            how[int(linked[d])],
        ]
        for d, a in enumerate(world.dev_actor.tolist())
        if a < n_c and exists[a]
    )
    (ground_truth / "identities.csv").write_text(
        _csv_text(
            ["anonymous_id", "customer_id", "device_type", "identified_by"],
            [[r[1], r[0], r[2], r[3]] for r in identities],
        )
    )
    (ground_truth / "consents.csv").write_text(
        _csv_text(["customer_id", "purpose", "granted", "consented_at", "source"], consents_final)
    )
    dirt_rows = sorted(out.dirt, key=lambda r: (r[0], r[1], r[2], r[3]))
    (ground_truth / "dirt.csv").write_text(
        _csv_text(
            ["source", "dt", "file", "line", "dirt_class", "message_id"],
            [[str(x) for x in r] for r in dirt_rows],
        )
    )
    dirt_counts: dict[str, int] = {}
    for r in dirt_rows:
        dirt_counts[r[4]] = dirt_counts.get(r[4], 0) + 1
    persona_counts = {
        p: int((world.persona[:n_c][exists] == k).sum()) for k, p in enumerate(PERSONAS)
    }
    manifest = {
        "config": world.config.as_dict(),
        "window": {
            "start": world.config.start.isoformat(),
            "end": (world.config.start + dt.timedelta(days=world.config.days - 1)).isoformat(),
        },
        "records": {s: dict(sorted(out.counts.get(s, {}).items())) for s in GENERATED_SOURCES},
        "totals": {s: sum(out.counts.get(s, {}).values()) for s in GENERATED_SOURCES},
        "dirt": dict(sorted(dirt_counts.items())),
        "personas": persona_counts,
        "anonymous_visitors": int(len(world.persona) - n_c),
        "devices": int(sum(exists[a] for a in world.dev_actor.tolist() if a < n_c)),
        "erasure_requests": int(
            ((people.erase_ms >= 0) & (people.erase_ms < world.window_end_ms)).sum()
        ),
    }
    (ground_truth / "manifest.json").write_text(
        json.dumps(manifest, indent=2, sort_keys=False) + "\n"
    )


def _previous_truth(ground_truth: Path) -> tuple[list, dict[str, dict[str, int]], list[list[str]]]:
    """The dirt rows, record counts and incident rows of the data set's earlier days, which an
    append keeps; a ValueError if the ground truth is gone."""
    try:
        with open(ground_truth / "dirt.csv", newline="") as f:
            dirt = [(r[0], r[1], r[2], int(r[3]), r[4], r[5]) for r in list(csv.reader(f))[1:]]
        counts = json.loads((ground_truth / "manifest.json").read_text())["records"]
    except (OSError, ValueError, KeyError, IndexError):
        raise ValueError(
            f"the ground truth of the data set ({ground_truth}) is missing or unreadable;"
            " generate the data set again instead of appending"
        ) from None
    incidents: list[list[str]] = []
    if (ground_truth / "incidents.csv").exists():
        with open(ground_truth / "incidents.csv", newline="") as f:
            incidents = list(csv.reader(f))[1:]
    return dirt, counts, incidents
