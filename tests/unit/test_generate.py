"""The synthetic source generator: determinism, referential integrity, dirt and its ground truth."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field, fields
from pathlib import Path

import duckdb
import numpy as np
import orjson
import pyarrow.parquet as pq
import pytest

from tailor.sources import CONSENT_PURPOSES, EVENT_FIELDS, SOURCES
from tailor.synthetic.config import PERSONAS, DirtConfig, GenerationSummary, GeneratorConfig
from tailor.synthetic.driver import generate

pytestmark = pytest.mark.unit

SMALL = GeneratorConfig(customers=300, products=80, days=5, seed=11, dirt=DirtConfig().scaled(5))


@dataclass
class Generated:
    landing: Path
    truth: Path
    summary: GenerationSummary
    progress: list[tuple[int, int]]
    cache: dict = field(default_factory=dict)


def _generate(root: Path, config: GeneratorConfig, workers: int = 1) -> Generated:
    calls: list[tuple[int, int]] = []
    summary = generate(
        config, root / "landing", root / "truth", lambda d, n: calls.append((d, n)), workers=workers
    )
    return Generated(root / "landing", root / "truth", summary, calls)


@pytest.fixture(scope="module")
def dirty(tmp_path_factory) -> Generated:
    return _generate(tmp_path_factory.mktemp("dirty"), SMALL)


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Generated:
    config = GeneratorConfig(
        customers=300, products=80, days=5, seed=3, dirt=DirtConfig().scaled(0)
    )
    return _generate(tmp_path_factory.mktemp("clean"), config)


# --------------------------------------------------------------------------- readers


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _dirt(g: Generated) -> list[dict]:
    with open(g.truth / "dirt.csv", newline="") as f:
        return list(csv.DictReader(f))


def _event_lines(g: Generated) -> list[tuple[str, str, int, bytes]]:
    """(partition day, file relative to landing, 1-based line, raw line) for every event line."""
    if "lines" in g.cache:
        return g.cache["lines"]
    out = g.cache["lines"] = []
    for path in sorted((g.landing / "events").glob("dt=*/events.ndjson.gz")):
        rel = path.relative_to(g.landing).as_posix()
        raw = gzip.decompress(path.read_bytes())
        assert raw.endswith(b"\n")
        for n, line in enumerate(raw[:-1].split(b"\n"), start=1):
            out.append((path.parent.name[3:], rel, n, line))
    return out


def _csv_records(g: Generated, source: str) -> list[tuple[str, str, int, list[str]]]:
    """(partition day, file, 1-based record number without the header, fields) per data row."""
    out = []
    for path in sorted((g.landing / source).glob("dt=*/*.csv")):
        rel = path.relative_to(g.landing).as_posix()
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        assert rows[0] == list(SOURCES[source].columns)
        out += [(path.parent.name[3:], rel, k, row) for k, row in enumerate(rows[1:], start=1)]
    return out


def _good_rows(g: Generated, source: str) -> list[dict]:
    """Rows of a CSV source that are not listed as dirt, as dicts with their partition."""
    dirty = {(d["file"], int(d["line"])) for d in _dirt(g) if d["source"] == source}
    header = list(SOURCES[source].columns)
    return [
        dict(zip(header, row, strict=True), _dt=day)
        for day, rel, k, row in _csv_records(g, source)
        if (rel, k) not in dirty
    ]


def _utc_days(timestamps: list[str]) -> dict[str, str | None]:
    """Timestamp string -> its UTC date as DuckDB's timestamptz cast (the loader's rule) sees it."""
    rows = (
        duckdb.connect()
        .execute(
            "select s, cast(try_cast(s as timestamptz) at time zone 'UTC' as date)::varchar from unnest(?) t(s)",
            [sorted(set(timestamps))],
        )
        .fetchall()
    )
    return dict(rows)


def _clean_events(g: Generated) -> list[tuple[str, dict]]:
    """Events on lines that dirt.csv does not list, parsed, with their partition day."""
    if "clean" not in g.cache:
        dirty = {(d["file"], int(d["line"])) for d in _dirt(g)}
        g.cache["clean"] = [
            (day, orjson.loads(line))
            for day, rel, n, line in _event_lines(g)
            if (rel, n) not in dirty
        ]
    return g.cache["clean"]


def _truth_customers(g: Generated) -> set[str]:
    """The customers who have signed up by the data set's last day (ground truth)."""
    with open(g.truth / "personas.csv", newline="") as f:
        return {r["customer_id"] for r in csv.DictReader(f)}


def _dirty_on_last_day(g: Generated, source: str) -> int:
    """Rows of ``source`` that are dirty on the last day: they are sent again, corrected, on
    the day after it, which the data set does not hold yet."""
    last = max(d["dt"] for d in _dirt(g))
    return sum(1 for d in _dirt(g) if d["source"] == source and d["dt"] == last)


def cents(value: str) -> int:
    return round(float(value) * 100)


# --------------------------------------------------------------------------- determinism and layout


def test_same_seed_gives_byte_identical_files_with_any_number_of_workers(dirty, clean, tmp_path):
    # a rerun into used folders replaces the previous output of the generated sources
    (tmp_path / "landing" / "events" / "dt=2099-01-01").mkdir(parents=True)
    (tmp_path / "truth").mkdir()
    (tmp_path / "truth" / "dirt.csv").write_text("stale")
    again = _generate(tmp_path, SMALL, workers=2)
    assert _digests(again.landing) == _digests(dirty.landing)
    assert _digests(again.truth) == _digests(dirty.truth)
    assert _digests(clean.landing).keys() & _digests(dirty.landing).keys()
    assert not set(_digests(clean.landing).values()) & set(_digests(dirty.landing).values())


def test_layout_headers_and_types_follow_the_source_contract(dirty):
    days = [(SMALL.start + dt.timedelta(days=d)).isoformat() for d in range(SMALL.days)]
    for source in SOURCES:
        for part in (dirty.landing / source).iterdir():
            assert part.name[3:] in days, part
    first = dirty.landing / "products" / f"dt={days[0]}" / "products.parquet"
    schema = pq.read_schema(first)
    assert schema.names == list(SOURCES["products"].columns)
    assert str(schema.field("price").type) == "decimal128(18, 2)"
    assert str(schema.field("is_active").type) == "bool"
    assert (dirty.landing / "customers" / f"dt={days[0]}" / "customers.csv").exists()
    catalog = pq.read_table(first).to_pylist()
    assert len(catalog) == SMALL.products
    assert all(
        p["product_id"].startswith("P") and p["price"] > 0 and p["currency"] == "EUR"
        for p in catalog
    )
    assert all(" > " in p["category_path"] and p["description"] for p in catalog)
    later = [
        p
        for p in pq.read_table(dirty.landing / "products").to_pylist()
        if p["updated_at"] >= days[1]
    ]
    assert later and all(p["updated_at"][:10] in days[1:] for p in later)  # new or changed products
    for path in (dirty.landing / "consents").glob("dt=*/*.ndjson.gz"):
        for line in gzip.decompress(path.read_bytes()).splitlines():
            assert list(orjson.loads(line)) == list(SOURCES["consents"].columns)
    for source in ("customers", "orders", "order_items", "erasure_requests"):
        _csv_records(dirty, source)  # asserts the header
    manifest = json.loads((dirty.truth / "manifest.json").read_text())
    assert manifest["records"]["events"] == dict(
        Counter(day for day, _, _, _ in _event_lines(dirty))
    )
    assert dirty.summary.rows == manifest["totals"]
    assert dirty.summary.events == dirty.summary.rows["events"] == len(_event_lines(dirty))
    assert sorted(dirty.summary.files) == sorted(p for p in dirty.landing.rglob("*") if p.is_file())
    assert dirty.progress == [(d, SMALL.days) for d in range(1, SMALL.days + 1)]


# --------------------------------------------------------------------------- business invariants


def test_every_order_completed_event_has_its_order_and_the_totals_add_up(dirty):
    orders: dict[str, dict] = {}
    for r in _good_rows(dirty, "orders"):
        orders.setdefault(r["order_id"], r)  # later rows are status updates of the same order
    items: dict[str, list[dict]] = defaultdict(list)
    for r in _good_rows(dirty, "order_items"):
        items[r["order_id"]].append(r)
    completed = [e for _, e in _clean_events(dirty) if e.get("event") == "Order Completed"]
    assert len(completed) > 50
    pending = [e for e in completed if e["properties"]["order_id"] not in orders]
    assert len(pending) <= _dirty_on_last_day(dirty, "orders")  # corrected the day after
    for e in completed:
        p = e["properties"]
        if e in pending:
            continue
        order = orders[p["order_id"]]
        assert order["customer_id"] == e["userId"]
        assert float(order["total"]) == pytest.approx(p["total"])
        assert {(x["product_id"], x["quantity"]) for x in p["products"]} == {
            (i["product_id"], int(i["quantity"])) for i in items[p["order_id"]]
        }
    for oid, order in orders.items():
        lines = sorted(items[oid], key=lambda i: int(i["line_number"]))
        assert [int(i["line_number"]) for i in lines] == list(range(1, len(lines) + 1))
        subtotal = sum(int(i["quantity"]) * cents(i["unit_price"]) for i in lines)
        assert subtotal == cents(order["subtotal"])
        assert cents(order["total"]) == subtotal - cents(order["discount"]) + cents(
            order["shipping"]
        )
        assert sum(cents(i["discount"]) for i in lines) == cents(order["discount"])
        assert (order["coupon_code"] != "") == (cents(order["discount"]) > 0)
        assert all(cents(i["unit_price"]) > 0 for i in lines)
    channels = Counter(o["channel"] for o in orders.values())
    assert channels["web"] > channels["app"] > 0
    assert {o["status"] for o in orders.values()} <= {"completed", "cancelled", "returned"}


def test_every_customer_referenced_exists_in_the_crm(dirty):
    customers = _good_rows(dirty, "customers")
    ids = {c["customer_id"] for c in customers}
    # everyone signed up by the last day, but a sign-up whose row is dirty on the last day
    # (new explorers sign up over three weeks, so not all of them yet)
    known = _truth_customers(dirty)
    assert ids <= known and len(known - ids) <= _dirty_on_last_day(dirty, "customers")
    assert len(known) < SMALL.customers
    assert {e["userId"] for _, e in _clean_events(dirty) if e.get("userId")} <= ids
    assert {o["customer_id"] for o in _good_rows(dirty, "orders")} <= ids
    erasures = [r for _, _, _, r in _csv_records(dirty, "erasure_requests")]
    assert erasures and all(r[1] in ids or r[2] for r in erasures)
    emails = {(c["customer_id"], c["email"].strip().lower()) for c in customers}
    assert len(emails) == len({e for _, e in emails}) == len(ids)  # one address per person
    assert any(
        c["email"] != c["email"].strip().lower() for c in customers
    )  # and the CRM is not tidy


def test_personas_cover_every_customer_and_use_each_persona(dirty):
    with open(dirty.truth / "personas.csv", newline="") as f:
        personas = list(csv.DictReader(f))
    crm = {c["customer_id"] for c in _good_rows(dirty, "customers")}
    assert crm <= {p["customer_id"] for p in personas}
    assert len(personas) - len(crm) <= _dirty_on_last_day(dirty, "customers")
    assert set(Counter(p["persona"] for p in personas)) == set(PERSONAS)
    start = SMALL.start.isoformat()
    for p in personas:
        assert (p["signup_date"] >= start) == (p["persona"] == "new_explorer")
    landing_text = b"".join(p.read_bytes() for p in dirty.landing.rglob("*.csv"))
    assert b"persona" not in landing_text


def test_identities_map_every_anonymous_id_that_got_a_user_id(dirty):
    with open(dirty.truth / "identities.csv", newline="") as f:
        identities = {r["anonymous_id"]: r["customer_id"] for r in csv.DictReader(f)}
    events = [e for _, e in _clean_events(dirty)]
    linked = {
        (e["anonymousId"], e["userId"]) for e in events if e.get("userId") and e.get("anonymousId")
    }
    assert linked and all(identities[a] == u for a, u in linked)
    crm = {c["email"].strip().lower(): c["customer_id"] for c in _good_rows(dirty, "customers")}
    by_email = [e for e in events if e["type"] == "identify" and not e["userId"]]
    assert by_email, "some devices are only identified through a newsletter email"
    for e in by_email:
        assert crm[e["traits"]["email"].strip().lower()] == identities[e["anonymousId"]]
    devices = Counter(identities.values())
    assert 0.1 < sum(1 for n in devices.values() if n == 2) / len(devices) < 0.4
    anonymous = {e["anonymousId"] for e in events if e.get("anonymousId")} - set(identities)
    assert anonymous, "never-identified visitors browse too"


def test_consents_use_known_purposes_and_the_truth_is_the_last_record(dirty):
    records = []
    for path in sorted((dirty.landing / "consents").glob("dt=*/*.ndjson.gz")):
        records += [orjson.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
    assert {r["purpose"] for r in records} == set(CONSENT_PURPOSES)
    assert all(isinstance(r["granted"], bool) for r in records)
    assert len({r["consent_id"] for r in records}) == len(records)
    assert {r["source"] for r in records} == {"signup_form", "preference_center"}
    last = {}
    for r in sorted(records, key=lambda r: (r["consented_at"], r["consent_id"])):
        last[(r["subject_id"], r["purpose"])] = r["granted"]
    with open(dirty.truth / "consents.csv", newline="") as f:
        truth = {
            (r["customer_id"], r["purpose"]): r["granted"] == "true" for r in csv.DictReader(f)
        }
    assert truth == last
    assert len(truth) == len(_truth_customers(dirty)) * len(CONSENT_PURPOSES)


def test_sessions_are_separated_by_more_than_the_inactivity_rule(clean):
    times = defaultdict(list)
    for _, e in _clean_events(clean):
        times[e["anonymousId"]].append(dt.datetime.fromisoformat(e["timestamp"]).timestamp())
    gaps = Counter()
    for ts in times.values():
        ts.sort()
        for a, b in zip(ts, ts[1:], strict=False):
            gaps[
                "within" if b - a < 30 * 60 else "between" if b - a >= 50 * 60 else "ambiguous"
            ] += 1
    assert gaps["ambiguous"] == 0
    assert gaps["within"] > 10 * gaps["between"] > 0


# --------------------------------------------------------------------------- dirt and its ground truth


def test_dirt_rows_point_at_records_that_really_are_dirty(dirty):
    dirt = _dirt(dirty)
    classes = Counter(d["dirt_class"] for d in dirt)
    for cls in (
        "malformed_json",
        "missing_required",
        "duplicate",
        "late",
        "schema_drift",
        "bad_price",
        "unknown_product",
        "invalid_timestamp",
        "malformed_csv",
    ):
        assert classes[cls] > 0, cls
    assert "mixed_timezones" not in classes
    lines = {(rel, n): (day, line) for day, rel, n, line in _event_lines(dirty)}
    catalog = {p["product_id"] for p in pq.read_table(dirty.landing / "products").to_pylist()}
    first_seen: dict[str, tuple[str, str]] = {}
    for _, rel, _, line in _event_lines(dirty):
        if line.startswith(b"{") and line.endswith(b"}"):
            e = orjson.loads(line)
            if e.get("messageId"):
                first_seen.setdefault(e["messageId"], (e["receivedAt"], rel))
    event_dirt = [d for d in dirt if d["source"] == "events"]
    parsed = {}
    for d in event_dirt:
        day, line = lines[(d["file"], int(d["line"]))]
        assert d["dt"] == day
        if d["dirt_class"] == "malformed_json":
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(line)
            continue
        parsed[(d["file"], int(d["line"]))] = (d, day, orjson.loads(line))
    stamps = _utc_days([e["timestamp"] for _, _, e in parsed.values() if "timestamp" in e])
    for d, day, e in parsed.values():
        cls = d["dirt_class"]
        if cls == "missing_required":
            assert (
                "messageId" not in e
                or "timestamp" not in e
                or ("anonymousId" not in e and "userId" not in e)
            )
        elif cls == "bad_price":
            assert e["properties"]["price"] <= 0
        elif cls == "invalid_timestamp":
            assert stamps[e["timestamp"]] is None
        elif cls == "schema_drift":
            assert set(e) - set(EVENT_FIELDS)
        elif cls == "unknown_product":
            assert e["properties"]["product_id"] not in catalog
        elif cls == "late":
            assert stamps[e["timestamp"]] < day
        elif cls == "duplicate":
            received, _ = first_seen[e["messageId"]]
            assert received < e["receivedAt"]
            assert stamps[e["timestamp"]] <= day
        assert d["message_id"] == e.get("messageId", "")
    for source in ("customers", "orders", "order_items"):
        width = len(SOURCES[source].columns)
        records = {(rel, k): row for _, rel, k, row in _csv_records(dirty, source)}
        for d in (d for d in dirt if d["source"] == source):
            row = records[(d["file"], int(d["line"]))]
            if d["dirt_class"] == "malformed_csv":
                assert len(row) != width
            elif d["dirt_class"] == "missing_required":
                assert len(row) == width and row[0] == ""
            else:
                assert d["dirt_class"] == "bad_price" and float(row[5]) <= 0
    # a dirty CRM or shop row is sent again, corrected, the next day
    good = {c["customer_id"] for c in _good_rows(dirty, "customers")}
    assert len(_truth_customers(dirty) - good) <= _dirty_on_last_day(dirty, "customers")


def test_records_not_listed_as_dirt_are_clean(dirty):
    events = _clean_events(dirty)
    stamps = _utc_days([e["timestamp"] for _, e in events] + [e["receivedAt"] for _, e in events])
    ids = Counter(e["messageId"] for _, e in events)
    assert max(ids.values()) == 1
    for day, e in events:
        assert set(e) <= set(EVENT_FIELDS)
        assert e["messageId"] and e["type"] in ("track", "page", "identify")
        assert e.get("anonymousId") or e.get("userId")
        assert stamps[e["timestamp"]] == day == stamps[e["receivedAt"]] == e["receivedAt"][:10]
        assert e["receivedAt"].endswith("Z") and e["receivedAt"] >= e["sentAt"]
        if e["type"] == "track":
            assert e["event"]
            price = e["properties"].get("price")
            assert price is None or price > 0
        if e["type"] == "page":
            assert e["name"] and e["context"]["page"]["url"].startswith("https://")
    mixed = sum(1 for _, e in events if not e["timestamp"].endswith("Z"))
    assert mixed / len(events) == pytest.approx(SMALL.dirt.mixed_timezones, abs=0.1)
    for source in ("customers", "orders", "order_items"):
        for row in _good_rows(dirty, source):
            assert row[list(SOURCES[source].columns)[0]]
    assert all(float(i["unit_price"]) > 0 for i in _good_rows(dirty, "order_items"))


def test_scaled_zero_gives_no_dirt_at_all(clean):
    assert all(getattr(DirtConfig().scaled(0), f.name) == 0 for f in fields(DirtConfig))
    assert DirtConfig().scaled(2).late == pytest.approx(0.02)
    assert DirtConfig().scaled(1e6).mixed_timezones == 1.0
    assert _dirt(clean) == []
    events = [orjson.loads(line) for _, _, _, line in _event_lines(clean)]
    assert len({e["messageId"] for e in events}) == len(events)
    assert all(e["timestamp"].endswith("Z") and set(e) <= set(EVENT_FIELDS) for e in events)
    stamps = _utc_days([e["timestamp"] for e in events])
    assert None not in stamps.values()
    catalog = {p["product_id"] for p in pq.read_table(clean.landing / "products").to_pylist()}
    for e in events:
        props = e.get("properties") or {}
        if "price" in props:
            assert props["price"] > 0 and props["product_id"] in catalog
    for source in ("customers", "orders", "order_items"):
        width = len(SOURCES[source].columns)
        assert all(len(row) == width and row[0] for _, _, _, row in _csv_records(clean, source))


def _kmeans(x: np.ndarray, k: int, seed: int = 0, n_init: int = 10, iters: int = 100) -> np.ndarray:
    """Labels of the best of ``n_init`` k-means++ / Lloyd runs (lowest inertia)."""
    rng = np.random.default_rng(seed)
    best, best_inertia = None, np.inf
    for _ in range(n_init):
        centers = [x[rng.integers(len(x))]]
        for _ in range(k - 1):
            d2 = np.min(((x[:, None, :] - np.array(centers)[None]) ** 2).sum(-1), axis=1)
            centers.append(x[rng.choice(len(x), p=d2 / d2.sum())])
        c = np.array(centers)
        for _ in range(iters):
            labels = ((x[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
            new = np.array(
                [x[labels == j].mean(0) if (labels == j).any() else c[j] for j in range(k)]
            )
            if np.allclose(new, c):
                break
            c = new
        inertia = ((x - c[labels]) ** 2).sum()
        if inertia < best_inertia:
            best, best_inertia = labels, inertia
    return best


def _pairs(n: int) -> float:
    return n * (n - 1) / 2


def _adjusted_rand_index(truth: list[str], labels: np.ndarray) -> float:
    pairs = Counter(zip(truth, labels.tolist(), strict=True))
    index = sum(_pairs(n) for n in pairs.values())
    rows = sum(_pairs(n) for n in Counter(truth).values())
    cols = sum(_pairs(n) for n in Counter(labels.tolist()).values())
    expected = rows * cols / _pairs(len(truth))
    return (index - expected) / ((rows + cols) / 2 - expected)


def test_kmeans_and_rand_index_helpers_on_a_known_answer():
    x = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0], [10.0, 0.0], [10.0, 0.1]])
    labels = _kmeans(x, 3)
    assert _adjusted_rand_index(list("aabbcc"), labels) == pytest.approx(1.0)
    assert _adjusted_rand_index(list("aabbcc"), np.array([0, 1, 0, 1, 0, 1])) < 0


def test_personas_are_separable_from_what_the_warehouse_can_compute(tmp_path):
    """k-means on per-customer behaviour (identity stitched through identify calls, sessions by
    a 30-minute rule, orders from the backend) recovers the latent personas."""
    config = GeneratorConfig(
        customers=400,
        products=80,
        days=21,
        seed=5,
        anonymous_visitors=0.0,
        dirt=DirtConfig().scaled(0),
    )
    g = _generate(tmp_path, config)
    con = duckdb.connect()
    land = g.landing.as_posix()
    con.execute(f"""
        create table ev as
        select anonymousId as anon, userId as uid, type, traits->>'email' as email,
               context->'device'->>'type' as device, cast(timestamp as timestamptz) as ts
        from read_json('{land}/events/*/*.ndjson.gz', format = 'newline_delimited',
             columns = {{anonymousId: 'VARCHAR', userId: 'VARCHAR', type: 'VARCHAR', timestamp: 'VARCHAR',
                         traits: 'JSON', context: 'JSON'}})
    """)
    con.execute(
        f"create table crm as select * from read_csv('{land}/customers/*/*.csv', all_varchar = true)"
    )
    con.execute(
        f"create table ord as select * from read_csv('{land}/orders/*/*.csv', all_varchar = true)"
    )
    rows = con.execute(f"""
        with ids as (
            select anon, any_value(uid) as cid from ev where uid is not null group by anon
            union
            select ev.anon, any_value(crm.customer_id) from ev join crm on lower(trim(crm.email)) = ev.email
            where ev.type = 'identify' and ev.uid is null group by ev.anon
        ),
        marked as (
            select ev.*, ids.cid,
                   coalesce(ts - lag(ts) over (partition by ev.anon order by ts) > interval 30 minute, true) as starts
            from ev join ids using (anon)
        ),
        numbered as (select *, sum(starts::int) over (partition by anon order by ts) as sn from marked),
        sessions as (
            select cid, anon, sn, min(ts) as st, count(*) filter (where type = 'page') as views,
                   any_value(device) as device
            from numbered group by all
        ),
        tz as (select customer_id, any_value(timezone) as tz from crm group by 1),
        per as (
            select cid, count(*) as visits, avg(views) as views, avg((device = 'mobile')::int) as mobile,
                   avg((hour(timezone(tz.tz, st)) >= 18)::int) as evening,
                   date_diff('hour', max(st), (select max(st) from sessions)) / 24.0 as recency
            from sessions join tz on tz.customer_id = sessions.cid group by cid
        ),
        money as (
            select customer_id as cid, sum(total::double) as revenue,
                   avg((coalesce(coupon_code, '') <> '')::int) as coupons
            from (select distinct on (order_id) * from ord) group by 1
        )
        select p.persona, coalesce(visits, 0), coalesce(revenue, 0), coalesce(recency, 21.0), coalesce(views, 0),
               coalesce(coupons, 0), coalesce(mobile, 0), coalesce(evening, 0)
        from read_csv('{g.truth.as_posix()}/personas.csv') p
        left join per on per.cid = p.customer_id left join money on money.cid = p.customer_id
        order by p.customer_id
    """).fetchall()
    truth = [r[0] for r in rows]
    x = np.array([r[1:] for r in rows], dtype=float)
    x[:, :4] = np.log1p(x[:, :4])  # visits, revenue, recency, views per session
    x = (x - x.mean(0)) / x.std(0)
    assert _adjusted_rand_index(truth, _kmeans(x, len(PERSONAS))) >= 0.6
