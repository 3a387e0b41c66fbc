"""Hostile landing input: one night holding every kind at once still completes, every
record is loaded or quarantined with its reason, no name from data runs as SQL, and the
records read (counted here, from the files) equal those loaded plus quarantined.

The night is built by hand the way a CRM, a shop backend and Segment write their files,
then run once with ``tailor run`` (module fixture); each test checks one kind.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import TAILOR_ENV_VARS

pytestmark = pytest.mark.reliability

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-10-01"
# A column name that, pasted into SQL between double quotes, reads the loader's
# environment; CANARY is planted in that environment.
HOSTILE = "a\" || (select content from read_text('/proc/self/environ')) || \"b"
STEAL = "x\" || (select string_agg(email, ';') from _lines) || \"y"
# The same, built on a column the file really has, so that the pasted SQL would bind.
EXEC_CSV = "email\" || (select content from read_text('/proc/self/environ')) || \"email"
EXEC_PARQUET = "title\" || (select content from read_text('/proc/self/environ')) || \"title"
CANARY = "canary-7f3a9c-hostile"
STATUSES = (
    "pending",
    "processing",
    "completed",
    "shipped",
    "delivered",
    "cancelled",
    "refunded",
    "partially_refunded",
    "returned",
    "failed",
    "on-hold",
)
CUSTOMERS = [f"C{i:03d}" for i in range(1, 9)]
PRODUCTS = [f"P{i:03d}" for i in range(1, 21)]


# --------------------------------------------------------------------------- the night


def event(mid: str, user: str | None, name: str = "Product Viewed", **over) -> dict:
    e = {
        "messageId": mid,
        "type": "track",
        "event": name,
        "anonymousId": f"anon-{user or mid}",
        "userId": user,
        "timestamp": f"{DAY}T10:{int(mid[-2:], 36) % 60:02d}:00.000Z",
        "sentAt": f"{DAY}T10:00:01.000Z",
        "receivedAt": f"{DAY}T10:00:02.000Z",
        "properties": {"product_id": PRODUCTS[sum(map(ord, mid)) % len(PRODUCTS)], "price": 19.9},
        "context": {"library": {"name": "analytics.js"}, "locale": "de-DE"},
    }
    e.update(over)
    return e


def _dump(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _csv(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()


def build_night(landing: Path, outside: Path) -> None:
    d = f"dt={DAY}"
    for src in ("products", "customers", "consents", "orders", "order_items", "events"):
        (landing / src / d).mkdir(parents=True)

    # products: Parquet with a hostile column name and a column named like a meta column
    pq.write_table(
        pa.table(
            {
                "product_id": PRODUCTS,
                "title": [f"Mug {p}" for p in PRODUCTS],
                "description": ["Stoneware"] * len(PRODUCTS),
                "category_path": ["Home > Kitchen > Mugs"] * len(PRODUCTS),
                "brand": ["Acme"] * len(PRODUCTS),
                "price": [19.9] * len(PRODUCTS),
                "currency": ["EUR"] * len(PRODUCTS),
                "is_active": [True] * len(PRODUCTS),
                "created_at": [f"{DAY}T00:00:00Z"] * len(PRODUCTS),
                "updated_at": [f"{DAY}T01:00:00Z"] * len(PRODUCTS),
                HOSTILE: [f"hp-{p}" for p in PRODUCTS],
                EXEC_PARQUET: [f"ep-{p}" for p in PRODUCTS],
                "_dt": ["1999-01-01"] * len(PRODUCTS),
            }
        ),
        landing / "products" / d / "catalog.parquet",
    )

    # customers: a CRM export; hostile header names, `_`-prefixed and meta-named columns,
    # an unbalanced quote in the first data line, CRLF line ends
    header = [
        "customer_id",
        "email",
        "first_name",
        "last_name",
        "gender",
        "birth_date",
        "country",
        "city",
        "timezone",
        "phone",
        "created_at",
        "updated_at",
        HOSTILE,
        STEAL,
        EXEC_CSV,
        "_crm_segment",
        "dt",
        "_batch_id",
    ]
    rows = [header]
    for c in CUSTOMERS:
        rows.append(
            [
                c,
                f"{c.lower()}@example.com",
                "Ann",
                "Lee",
                "f",
                "1990-05-04",
                "DE",
                "Berlin",
                "Europe/Berlin",
                "+4930123456",
                "2025-01-01T00:00:00Z",
                f"{DAY}T06:00:00Z",
                f"h-{c}",
                f"s-{c}",
                f"e-{c}",
                "vip",
                "1999-12-31",
                "crm-7",
            ]
        )
    text = _csv(rows)
    first, rest = text.split("\r\n", 1)
    broken = 'C099,"c099@example.com,Bob,Ray,m,1980-01-01,DE,Köln,Europe/Berlin,+49221,2025-01-01T00:00:00Z,2026-10-01T06:00:00Z,h,s,e,vip,1999-12-31,crm-7'
    (landing / "customers" / d / "crm_export.csv").write_text(
        first + "\r\n" + broken + "\r\n" + rest, newline=""
    )
    # a second CRM file whose header has a stray quote inside a name
    (landing / "customers" / d / "crm_delta.csv").write_text(
        'customer_id,email,first"name,updated_at\n'
        f"C100,c100@example.com,Eve,{DAY}T07:00:00Z\n"
        f"C101,c101@example.com,Max,{DAY}T07:00:00Z\n"
    )

    # consents: a hostile key in NDJSON
    consents = [
        {
            "consent_id": f"K-{c}",
            "subject_id": c,
            "purpose": purpose,
            "granted": True,
            "consented_at": f"{DAY}T05:00:00Z",
            "source": "web",
            HOSTILE: f"hk-{c}",
        }
        for c in CUSTOMERS
        for purpose in ("email_marketing", "personalization")
    ]
    (landing / "consents" / d / "consents.ndjson").write_text(
        "\n".join(_dump(x) for x in consents) + "\n"
    )

    # orders: every status a shop sends; a delivered `dt` and `_batch_id` column
    order_header = [
        "order_id",
        "customer_id",
        "ordered_at",
        "status",
        "currency",
        "subtotal",
        "discount",
        "shipping",
        "total",
        "coupon_code",
        "channel",
        "country",
        "updated_at",
        "dt",
        "_batch_id",
    ]
    orders = [order_header]
    items = [
        [
            "order_id",
            "line_number",
            "product_id",
            "title",
            "quantity",
            "unit_price",
            "discount",
            "currency",
        ]
    ]
    for i, status in enumerate(STATUSES, start=1):
        oid = f"O{i:03d}"
        orders.append(
            [
                oid,
                CUSTOMERS[i % len(CUSTOMERS)],
                f"{DAY}T09:{i:02d}:00Z",
                status,
                "EUR",
                "39.80",
                "0",
                "4.90",
                "44.70",
                "",
                "web",
                "DE",
                f"{DAY}T09:{i:02d}:30Z",
                "1999-12-31",
                "shop-1",
            ]
        )
        for line in (1, 2):
            items.append(
                [
                    oid,
                    str(line),
                    PRODUCTS[(i + line) % len(PRODUCTS)],
                    "Mug",
                    "1",
                    "19.90",
                    "0",
                    "EUR",
                ]
            )
    (landing / "orders" / d / "orders.csv").write_text(_csv(orders), newline="")
    (landing / "order_items" / d / "order_items.csv").write_text(_csv(items), newline="")

    # events: Segment NDJSON.gz with the hostile lines, then oddly named and unsupported files
    ev = landing / "events" / d
    lines = []
    n = 0
    for c in CUSTOMERS:
        for name in ("Product Viewed", "Product Added", "Product Viewed"):
            n += 1
            lines.append(_dump(event(f"ev-{n:03d}", c, name)))
    cr_whitespace = _dump(event("ev-cr1", "C001")).replace(',"event"', ',\r"event"')
    cr_in_string = _dump(event("ev-cr2", "C002")).replace("Product Viewed", "Product\rViewed")
    dup = _dump(event("ev-dup", "C003"))[:-1] + ',"userId":"C004"}'
    lines += [
        cr_whitespace,  # loaded: a carriage return is JSON whitespace
        cr_in_string,  # quarantined: a raw control character inside a JSON string
        dup,  # quarantined: duplicate_key
        _dump(event("ev-old", "C005", timestamp="0001-01-01T00:00:00Z")),
        _dump(event("ev-far", "C006", timestamp="9999-12-31T23:59:59Z")),
        _dump(event("ev-hos", "C007", **{HOSTILE: "hv", "_dt": "1999-01-01", "dt": "x"})),
        _dump(event("ev-end", "C008")),  # the last line, without a newline
    ]
    (ev / "events.ndjson.gz").write_bytes(gzip.compress("\n".join(lines).encode(), mtime=0))
    for fname, ids in {
        "part-[0-9].ndjson": ["ev-g01", "ev-g02"],
        "part-1.ndjson": ["ev-g11", "ev-g12"],
        "batch*.ndjson": ["ev-g21", "ev-g22"],
        "batch-2.ndjson": ["ev-g31", "ev-g32"],
        "what?.ndjson": ["ev-g41"],
        "whatX.ndjson": ["ev-g51"],
    }.items():
        (ev / fname).write_text("".join(_dump(event(i, "C001")) + "\n" for i in ids))
    (ev / "empty.ndjson.gz").write_bytes(b"")
    (ev / "notes.txt").write_text("delivered by the nightly sync\n")
    (ev / "bulk.json").write_text(json.dumps([event("ev-json", "C001")]))
    (ev / "old.ndjson.bz2").write_bytes(b"BZh91AY&SY")
    (ev / ".hidden.ndjson").write_text(_dump(event("ev-hid", "C001")) + "\n")
    (ev / "upload.ndjson.tmp").write_text(_dump(event("ev-tmp", "C001")) + "\n")
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "secret.ndjson").write_text(_dump(event("ev-outside", "C001")) + "\n")
    (ev / "outside.ndjson").symlink_to(outside / "secret.ndjson")
    # a folder that looks like a partition of a day that does not exist
    bad = landing / "events" / "dt=2026-13-45"
    bad.mkdir()
    (bad / "events.ndjson").write_text(_dump(event("ev-bad", "C001")) + "\n")


# --------------------------------------------------------------------------- counting


def records_in(path: Path) -> int:
    """Records a file holds, counted from its bytes without the loader's code."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        return pq.ParquetFile(path).metadata.num_rows
    data = path.read_bytes()
    if name.endswith(".gz") and data:
        data = gzip.decompress(data)
    if ".csv" in name:
        text = data.decode()
        try:
            rows = [r for r in csv.reader(io.StringIO(text, newline=""), strict=True) if r]
        except csv.Error:
            # broken quoting (these files have no field spanning lines): one record a line
            rows = [line for line in text.splitlines() if line.strip()]
        return max(len(rows) - 1, 0)
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


# --------------------------------------------------------------------------- fixture


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """The settings, the process output and a read-only connection after one night."""
    root = tmp_path_factory.mktemp("hostile")
    env = {k: v for k, v in os.environ.items() if k not in TAILOR_ENV_VARS}
    env.update(
        TAILOR_HOME=str(REPO),
        TAILOR_DATA=str(root / "data"),
        TAILOR_DUCKDB_MEMORY="2GB",
        AIRFLOW_HOME=str(root / "data" / "airflow"),
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
        TAILOR_CANARY=CANARY,
    )
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        for var in TAILOR_ENV_VARS:
            mp.delenv(var, raising=False)
        from tailor.settings import get_settings

        s = get_settings()
        build_night(s.landing, root / "outside")
        run = subprocess.run(
            [sys.executable, "-m", "tailor.cli", "run", "--date", DAY],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        again = subprocess.run(
            [sys.executable, "-m", "tailor.cli", "load"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        from tailor.warehouse import connect

        con = connect(s.warehouse, read_only=True, settings=s) if s.warehouse.exists() else None
        try:
            yield s, run, again, con
        finally:
            if con is not None:
                con.close()


# An uncaught exception (a traceback printed at the start of a line, not one a library
# quotes inside a logged message).
UNCAUGHT = re.compile(r"^Traceback \(most recent call last\)", re.M)


def _q(con, sql: str, params=()):
    return con.execute(sql, params).fetchall()


def quarantined(con, source: str) -> dict[str, str]:
    """record text or line -> reason_code of a source's quarantine."""
    return {
        (rec or str(line)): code
        for rec, line, code in _q(
            con, "select record, line, reason_code from raw.quarantine where source = ?", [source]
        )
    }


# --------------------------------------------------------------------------- tests


def test_the_night_completes(night):
    _, run, _, con = night
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert not UNCAUGHT.search(run.stderr)
    assert con is not None


def test_every_file_read_equals_loaded_plus_quarantined(night):
    s, _, _, con = night
    landing = s.landing
    for folder in sorted(landing.glob(f"*/dt={DAY}")):
        source = folder.parent.name
        for path in sorted(folder.iterdir()):
            rel = path.relative_to(landing).as_posix()
            logged = _q(
                con,
                "select rows_read, rows_loaded, rows_quarantined, note from raw.load_log "
                "where source_file = ?",
                [rel],
            )
            assert len(logged) == 1, f"{rel}: {logged}"
            read, loaded, quarantined_n, note = logged[0]
            if note and not note.startswith("empty"):
                assert (read, loaded, quarantined_n) == (0, 0, 0)
                continue
            expected = records_in(path)
            in_raw = _q(con, f"select count(*) from raw.{source} where _source_file = ?", [rel])
            in_q = _q(con, "select count(*) from raw.quarantine where source_file = ?", [rel])
            assert (read, loaded, quarantined_n) == (expected, in_raw[0][0], in_q[0][0]), rel
            assert read == loaded + quarantined_n, rel


def test_hostile_names_are_kept_as_data_and_never_run(night):
    _, _, _, con = night
    for table in ("customers", "products", "consents", "events", "quarantine", "load_log"):
        (hits,) = con.execute(
            f"select count(*) from raw.{table} t where t::varchar like ?", [f"%{CANARY}%"]
        ).fetchone()
        assert hits == 0, f"environment leaked into raw.{table}"
    customers = dict(_q(con, "select customer_id, extra::varchar from raw.customers"))
    for c in CUSTOMERS:
        extra = json.loads(customers[c])
        assert extra[HOSTILE] == f"h-{c}"
        assert extra[STEAL] == f"s-{c}"  # the cell's own value, not every row's email
        assert extra[EXEC_CSV] == f"e-{c}"
    products = dict(_q(con, "select product_id, extra::varchar from raw.products"))
    assert {p: json.loads(x)[HOSTILE] for p, x in products.items()} == {
        p: f"hp-{p}" for p in PRODUCTS
    }
    assert {p: json.loads(x)[EXEC_PARQUET] for p, x in products.items()} == {
        p: f"ep-{p}" for p in PRODUCTS
    }
    consents = _q(con, "select subject_id, extra::varchar from raw.consents")
    assert {json.loads(x)[HOSTILE] for _, x in consents} == {f"hk-{c}" for c in CUSTOMERS}
    (extra,) = _q(con, "select extra::varchar from raw.events where message_id = 'ev-hos'")[0]
    assert json.loads(extra)[HOSTILE] == "hv"


def test_meta_named_and_underscore_columns_are_kept_in_extra(night):
    _, _, _, con = night
    for (extra,) in _q(
        con, "select extra::varchar from raw.customers where customer_id like 'C0%'"
    ):
        x = json.loads(extra)
        assert (x["_crm_segment"], x["dt"], x["_batch_id"]) == ("vip", "1999-12-31", "crm-7")
    for dt_, extra in _q(con, "select _dt, extra::varchar from raw.orders"):
        assert str(dt_) == DAY  # the partition, not the delivered column
        assert (json.loads(extra)["dt"], json.loads(extra)["_batch_id"]) == ("1999-12-31", "shop-1")
    for dt_, extra in _q(con, "select _dt, extra::varchar from raw.products"):
        assert str(dt_) == DAY
        assert json.loads(extra)["_dt"] == "1999-01-01"
    (extra,) = _q(con, "select extra::varchar from raw.events where message_id = 'ev-hos'")[0]
    assert (json.loads(extra)["_dt"], json.loads(extra)["dt"]) == ("1999-01-01", "x")


def test_an_unbalanced_quote_costs_one_record(night):
    _, _, _, con = night
    rel = f"customers/dt={DAY}/crm_export.csv"
    bad = _q(con, "select line, reason_code from raw.quarantine where source_file = ?", [rel])
    assert bad == [(2, "malformed_csv")]
    loaded = {
        r[0] for r in _q(con, "select customer_id from raw.customers where _source_file = ?", [rel])
    }
    assert loaded == set(CUSTOMERS)


def test_a_quote_inside_a_header_name_loads_the_file(night):
    _, _, _, con = night
    rows = _q(
        con,
        "select customer_id, extra::varchar from raw.customers where customer_id in ('C100', 'C101') order by 1",
    )
    assert [(c, json.loads(x)) for c, x in rows] == [
        ("C100", {'first"name': "Eve"}),
        ("C101", {'first"name': "Max"}),
    ]


def test_carriage_returns_in_json_lines(night):
    _, _, _, con = night
    assert _q(con, "select count(*) from raw.events where message_id = 'ev-cr1'") == [(1,)]
    codes = [code for rec, code in quarantined(con, "events").items() if "ev-cr2" in rec]
    assert codes == ["malformed_json"]


def test_duplicate_json_keys_are_quarantined_whole(night):
    _, _, _, con = night
    found = [(rec, code) for rec, code in quarantined(con, "events").items() if "ev-dup" in rec]
    assert len(found) == 1
    rec, code = found[0]
    assert code == "duplicate_key"
    assert '"userId":"C003"' in rec and '"userId":"C004"' in rec  # the whole line is kept
    assert _q(con, "select count(*) from raw.events where message_id = 'ev-dup'") == [(0,)]


def test_implausible_timestamps_are_quarantined(night):
    _, _, _, con = night
    q = quarantined(con, "events")
    for mid in ("ev-old", "ev-far"):
        assert [c for r, c in q.items() if f'"{mid}"' in r] == ["invalid_timestamp"], mid
    reasons = _q(con, "select reason from raw.quarantine where record like '%\"ev-old\"%'")
    assert "1990-01-01" in reasons[0][0]


def test_glob_characters_in_file_names_load_each_file_once(night):
    _, _, _, con = night
    rows = _q(
        con,
        "select message_id, _source_file from raw.events where message_id like 'ev-g%' order by 1",
    )
    assert [m for m, _ in rows] == [
        "ev-g01", "ev-g02", "ev-g11", "ev-g12", "ev-g21", "ev-g22", "ev-g31", "ev-g32",
        "ev-g41", "ev-g51",
    ]  # fmt: skip
    assert dict(rows)["ev-g01"] == f"events/dt={DAY}/part-[0-9].ndjson"
    assert dict(rows)["ev-g21"] == f"events/dt={DAY}/batch*.ndjson"


def test_files_not_read_are_logged_with_a_reason(night):
    _, _, _, con = night
    notes = dict(
        _q(
            con,
            "select source_file, note from raw.load_log where note is not null and source = 'events'",
        )
    )
    prefix = f"events/dt={DAY}/"
    assert notes[prefix + "empty.ndjson.gz"].startswith("empty file")
    for name in ("notes.txt", "bulk.json", "old.ndjson.bz2"):
        assert "unsupported file type" in notes[prefix + name], name
    for name in (".hidden.ndjson", "upload.ndjson.tmp"):
        assert "hidden or temporary" in notes[prefix + name], name
    assert "outside the landing zone" in notes[prefix + "outside.ndjson"]
    loaded = {r[0] for r in _q(con, "select message_id from raw.events")}
    assert not loaded & {"ev-json", "ev-hid", "ev-tmp", "ev-outside", "ev-bad"}


def test_a_folder_of_an_impossible_day_is_reported_and_skipped(night):
    _, run, again, _ = night
    for proc in (run, again):
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert not UNCAUGHT.search(proc.stderr)
        assert "dt=2026-13-45" in proc.stderr


def test_every_order_status_a_shop_sends_loads(night):
    _, _, _, con = night
    statuses = {r[0] for r in _q(con, "select status from raw.orders")}
    assert statuses == set(STATUSES)
    purchases = {
        r[0]
        for r in _q(
            con,
            "select o.status from intermediate.int_orders_enriched e "
            "join raw.orders o using (order_id) where e.is_purchase",
        )
    }
    assert purchases == {"processing", "completed", "shipped", "delivered", "partially_refunded"}


# --------------------------------------------------------------------------- single files


@pytest.fixture
def loader(tailor_env):
    from tailor.warehouse import connect

    con = connect(settings=tailor_env)
    yield tailor_env.landing, con
    con.close()


def test_a_line_over_32_mb_is_quarantined_not_lost(loader):
    from tailor import ingest

    landing, con = loader
    folder = landing / "events" / f"dt={DAY}"
    folder.mkdir(parents=True)
    huge = event("ev-big", "C001", properties={"blob": "x" * (33 * 1024 * 1024)})
    lines = [_dump(event("ev-a01", "C001")), _dump(huge), _dump(event("ev-a02", "C002"))]
    (folder / "events.ndjson").write_text("\n".join(lines) + "\n")
    (load,) = ingest.load_day(con, landing, dt.date.fromisoformat(DAY))
    assert (load.rows_read, load.rows_loaded, load.rows_quarantined) == (3, 2, 1)
    line, code, size = con.execute(
        "select line, reason_code, length(record) from raw.quarantine"
    ).fetchone()
    assert (line, code) == (2, "record_too_large")
    assert size == len(lines[1])  # the record is kept whole


def test_a_truncated_gzip_stops_the_load_naming_the_file(loader):
    from tailor import ingest

    landing, con = loader
    folder = landing / "events" / f"dt={DAY}"
    folder.mkdir(parents=True)
    data = gzip.compress(
        ("\n".join(_dump(event(f"ev-t{i:02d}", "C001")) for i in range(50))).encode()
    )
    (folder / "events.ndjson.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ingest.LoadError, match=r"events\.ndjson\.gz: not a readable gzip file"):
        ingest.load_day(con, landing, dt.date.fromisoformat(DAY))
    assert con.execute("select count(*) from raw.events").fetchone()[0] == 0


def test_a_gzip_damaged_inside_stops_the_load_naming_the_file(loader):
    """A valid header over a damaged deflate stream (a bad disk, a broken transfer): the
    decompressor's own error becomes the same clear LoadError, not a traceback."""
    from tailor import ingest

    landing, con = loader
    folder = landing / "events" / f"dt={DAY}"
    folder.mkdir(parents=True)
    data = bytearray(
        gzip.compress(
            ("\n".join(_dump(event(f"ev-d{i:02d}", "C001")) for i in range(200))).encode()
        )
    )
    data[40:80] = bytes(40)  # zeros over the compressed blocks
    (folder / "events.ndjson.gz").write_bytes(bytes(data))
    with pytest.raises(ingest.LoadError, match=r"events\.ndjson\.gz: not a readable gzip file"):
        ingest.load_day(con, landing, dt.date.fromisoformat(DAY))
    assert con.execute("select count(*) from raw.events").fetchone()[0] == 0


def test_csv_quoted_fields_spanning_lines_and_bad_bytes(loader):
    from tailor import ingest

    landing, con = loader
    folder = landing / "customers" / f"dt={DAY}"
    folder.mkdir(parents=True)
    (folder / "crm.csv").write_bytes(
        b"customer_id,city,updated_at\n"
        b'C1,"Main St 1\nBerlin",2026-10-01T00:00:00Z\n'  # an address over two lines: one record
        b"C2,K\xf6ln,2026-10-01T00:00:00Z\n"  # Latin-1 bytes
        b"C3,Bonn,2026-10-01T00:00:00Z"  # no newline at the end
    )
    (load,) = ingest.load_day(con, landing, dt.date.fromisoformat(DAY))
    assert (load.rows_read, load.rows_loaded, load.rows_quarantined) == (3, 2, 1)
    assert con.execute("select customer_id, city from raw.customers order by 1").fetchall() == [
        ("C1", "Main St 1\nBerlin"),
        ("C3", "Bonn"),
    ]
    assert con.execute("select line, reason_code from raw.quarantine").fetchall() == [
        (4, "invalid_encoding")
    ]


def test_a_partition_folder_linked_from_outside_is_not_read(loader, tmp_path):
    from tailor import ingest

    landing, con = loader
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "events.ndjson").write_text(_dump(event("ev-x01", "C001")) + "\n")
    (landing / "events").mkdir(parents=True)
    (landing / "events" / f"dt={DAY}").symlink_to(outside, target_is_directory=True)
    (load,) = ingest.load_day(con, landing, dt.date.fromisoformat(DAY))
    assert load.rows_read == 0 and "outside the landing zone" in load.note
    assert con.execute("select count(*) from raw.events").fetchone()[0] == 0
