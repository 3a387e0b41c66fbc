"""The loader on hand-made files whose right answers are known."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tailor import ingest
from tailor.warehouse import connect

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 10, 1)


def event(i: int, **over) -> dict:
    e = {
        "messageId": f"m{i}",
        "type": "track",
        "event": "Product Viewed",
        "anonymousId": f"a{i}",
        "userId": None,
        "timestamp": "2026-10-01T10:00:00.000+02:00",
        "receivedAt": "2026-10-01T08:00:01.000Z",
        "properties": {"product_id": "P000001", "price": 12.5},
        "context": {"device": {"type": "mobile"}},
    }
    e.update(over)
    return {k: v for k, v in e.items() if v is not ...}


def write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode()
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    return tmp_path / "landing"


@pytest.fixture
def con(tailor_env):
    c = connect(settings=tailor_env)
    yield c
    c.close()


def quarantine(con, source: str) -> dict[int, str]:
    return dict(
        con.execute(
            "select line, reason_code from raw.quarantine where source = ? order by line", [source]
        ).fetchall()
    )


def test_each_bad_event_line_is_quarantined_with_its_reason(con, landing):
    lines = [
        json.dumps(event(1)),  # good
        "{truncated",  # 2 malformed
        "",  # 3 empty line
        json.dumps(event(4, messageId=...)),  # 4 missing messageId
        json.dumps(event(5, anonymousId=None)),  # 5 neither anonymousId nor userId
        json.dumps(event(6, timestamp="yesterday")),  # 6 unparseable timestamp
        json.dumps(event(7, properties={"price": 0})),  # 7 zero price
        json.dumps(event(8, properties={"price": -3})),  # 8 negative price
        json.dumps(event(9, properties={"price": "cheap"})),  # 9 price not a number
        "[1, 2]",  # 10 JSON, not an object
        json.dumps(event(11, userId="C1", anonymousId=None)),  # good: userId alone is enough
    ]
    write_lines(landing / "events" / "dt=2026-10-01" / "events.ndjson.gz", lines)
    (load,) = ingest.load_day(con, landing, DAY)
    assert (load.rows_read, load.rows_loaded, load.rows_quarantined) == (11, 2, 9)
    assert quarantine(con, "events") == {
        2: "malformed_json",
        3: "malformed_json",
        4: "missing_required_field",
        5: "missing_required_field",
        6: "invalid_timestamp",
        7: "non_positive_price",
        8: "non_positive_price",
        9: "invalid_value",
        10: "malformed_json",
    }
    assert con.execute("select list(_line order by _line) from raw.events").fetchone()[0] == [1, 11]
    reason, record = con.execute(
        "select reason, record from raw.quarantine where line = 4"
    ).fetchone()
    assert reason == "missing required field: messageId"
    assert json.loads(record)["anonymousId"] == "a4"  # the original text is kept


def test_unknown_fields_are_kept_not_dropped(con, landing):
    write_lines(
        landing / "events" / "dt=2026-10-01" / "e.ndjson",
        [json.dumps(event(1, experimentId="exp-7", appBuild=42))],
    )
    ingest.load_day(con, landing, DAY)
    (extra,) = con.execute("select extra from raw.events").fetchone()
    assert json.loads(extra) == {"experimentId": "exp-7", "appBuild": 42}
    (props,) = con.execute("select properties->>'$.product_id' from raw.events").fetchone()
    assert props == "P000001"


def test_csv_structural_errors_keep_physical_line_numbers(con, landing):
    path = landing / "customers" / "dt=2026-10-01" / "customers.csv"
    path.parent.mkdir(parents=True)
    path.write_text(
        "customer_id,email,updated_at,loyalty_tier\n"
        "C1, Anna@Example.com ,2026-10-01T08:00:00Z,gold\n"  # line 2 good, drift column kept
        "C2,too,many,fields,here\n"  # line 3 malformed
        ",b@example.com,2026-10-01T08:00:00Z,\n"  # line 4 missing customer_id
        "C5,c@example.com,not a time,\n"  # line 5 bad timestamp
        "C6,d@example.com,2026-10-01T09:00:00+02:00,silver\n"  # line 6 good
    )
    (load,) = ingest.load_day(con, landing, DAY)
    assert (load.rows_read, load.rows_loaded, load.rows_quarantined) == (5, 2, 3)
    assert quarantine(con, "customers") == {
        3: "malformed_csv",
        4: "missing_required_field",
        5: "invalid_timestamp",
    }
    rows = con.execute(
        "select customer_id, email, _line, extra->>'$.loyalty_tier' from raw.customers order by 1"
    ).fetchall()
    assert rows == [
        ("C1", " Anna@Example.com ", 2, "gold"),
        ("C6", "c@example.com".replace("c@", "d@"), 6, "silver"),
    ]
    (record,) = con.execute("select record from raw.quarantine where line = 3").fetchone()
    assert record == "C2,too,many,fields,here"


def test_parquet_rows_are_checked_like_the_rest(con, landing):
    path = landing / "products" / "dt=2026-10-01" / "products.parquet"
    path.parent.mkdir(parents=True)
    table = pa.table(
        {
            "product_id": ["P1", "P2", None],
            "title": ["Mug", "Free sample", "Ghost"],
            "price": [9.5, 0.0, 3.0],
            "is_active": [True, True, False],
            "updated_at": ["2026-10-01T00:00:00Z"] * 3,
            "season": ["winter", None, None],
        }
    )
    pq.write_table(table, path)
    (load,) = ingest.load_day(con, landing, DAY)
    assert (load.rows_read, load.rows_loaded, load.rows_quarantined) == (3, 1, 2)
    assert quarantine(con, "products") == {2: "non_positive_price", 3: "missing_required_field"}
    assert con.execute(
        "select product_id, price, extra->>'$.season' from raw.products"
    ).fetchall() == [("P1", pytest.approx(9.5), "winter")]


def test_a_free_order_line_loads_and_a_negative_one_is_quarantined(con, landing):
    """A shop backend's order lines: a free sample (0.00) is a line like any other; only a
    price below zero is refused, with its reason."""
    path = landing / "order_items" / "dt=2026-10-01" / "order_items.csv"
    path.parent.mkdir(parents=True)
    path.write_text(
        "order_id,line_number,product_id,title,quantity,unit_price,discount,currency\n"
        "O1,1,SKU-1,Tea towel,2,4.50,0.00,EUR\n"  # line 2
        "O1,2,SKU-9,Free sample,1,0.00,0.00,EUR\n"  # line 3: free, loaded
        "O2,1,SKU-1,Tea towel,1,-4.50,0.00,EUR\n"  # line 4: refused
    )
    (load,) = ingest.load_day(con, landing, DAY)
    assert (load.rows_read, load.rows_loaded, load.rows_quarantined) == (3, 2, 1)
    assert quarantine(con, "order_items") == {4: "negative_price"}
    (reason,) = con.execute("select reason from raw.quarantine").fetchone()
    assert reason == "unit_price must be 0 or greater, got -4.50"
    assert con.execute(
        "select product_id, unit_price from raw.order_items order by _line"
    ).fetchall() == [("SKU-1", 4.5), ("SKU-9", 0)]


def test_reloading_a_partition_replaces_it(con, landing):
    path = landing / "events" / "dt=2026-10-01" / "events.ndjson"
    write_lines(path, [json.dumps(event(i)) for i in range(5)])
    ingest.load_day(con, landing, DAY)
    ingest.load_day(con, landing, DAY)
    assert con.execute("select count(*) from raw.events").fetchone()[0] == 5
    assert con.execute("select count(*) from raw.load_log").fetchone()[0] == 1
    # The file is corrected upstream and redelivered with fewer lines: the partition follows.
    write_lines(path, [json.dumps(event(i)) for i in range(3)])
    ingest.load_day(con, landing, DAY)
    assert con.execute("select count(*) from raw.events").fetchone()[0] == 3
    # Other days are untouched by a reload of this one.
    write_lines(landing / "events" / "dt=2026-10-02" / "events.ndjson", [json.dumps(event(9))])
    ingest.load_day(con, landing, dt.date(2026, 10, 2))
    ingest.load_day(con, landing, DAY)
    assert con.execute("select _dt, count(*) from raw.events group by 1 order by 1").fetchall() == [
        (DAY, 3),
        (dt.date(2026, 10, 2), 1),
    ]


def test_unreadable_file_fails_clearly_and_changes_nothing(con, landing):
    good = landing / "events" / "dt=2026-10-01" / "a.ndjson"
    write_lines(good, [json.dumps(event(1))])
    ingest.load_day(con, landing, DAY)
    bad = landing / "events" / "dt=2026-10-01" / "b.ndjson.gz"
    bad.write_bytes(gzip.compress(b'{"messageId": "x"}\n' * 1000)[:60])  # truncated gzip
    with pytest.raises(ingest.LoadError, match="b.ndjson.gz"):
        ingest.load_day(con, landing, DAY)
    assert con.execute("select message_id from raw.events").fetchall() == [("m1",)]
    assert con.execute("select count(*) from raw.load_log").fetchone()[0] == 1


def test_reconciliation_is_enforced(con, landing, monkeypatch):
    """A record lost between reading and writing fails the load instead of vanishing."""
    write_lines(
        landing / "events" / "dt=2026-10-01" / "e.ndjson", [json.dumps(event(i)) for i in range(3)]
    )
    real = ingest.check_parsed

    def lose_a_row(c, source, extra_checks=(), day=None):
        real(c, source, extra_checks, day)
        c.execute("delete from _cand where _line = 2")

    monkeypatch.setattr(ingest.load, "check_parsed", lose_a_row)  # where load_file looks it up
    with pytest.raises(
        ingest.ReconciliationError, match="read 3 records but loaded 2 and quarantined 0"
    ):
        ingest.load_day(con, landing, DAY)
    assert con.execute("select count(*) from raw.events").fetchone()[0] == 0
    assert con.execute("select count(*) from raw.load_log").fetchone()[0] == 0


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n",
        b"a",
        b"a\n",
        b"\n\n\n",
        b"ab\ncd\r\nef",
        b"x\n" * 40 + b"tail",
        b"\r\n\r\r\nab\rc\r\n\xc3\xa9\r",
        b"\r",
    ],
)
def test_lines_split_a_block_at_a_time_as_in_one_search(data):
    """The newline search works in blocks (:func:`_newlines`); blocks of 3 bytes put
    newlines on every side of a block edge. The lines must be those of one search."""
    import numpy as np

    from tailor.ingest.ndjson import _newlines, _split_lines

    np.testing.assert_array_equal(
        _newlines(data, block=3), np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    )
    split = _split_lines(data)
    lines = split.column("_bytes").to_pylist()
    want = data.split(b"\n")
    if data.endswith(b"\n") or not data:
        want = want[:-1]
    # each line keeps its newline; the record is the line without it and without the
    # carriage returns before it
    assert [line.rstrip(b"\n") for line in lines] == want
    lengths = split.column("_text_bytes").to_pylist()
    assert [line[:n] for line, n in zip(lines, lengths, strict=True)] == [
        w.rstrip(b"\r") for w in want
    ]
