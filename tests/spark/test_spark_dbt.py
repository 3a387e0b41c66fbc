"""The dbt project on Spark gives the marts DuckDB gives (issue 26).

A tiny generated data set is loaded into DuckDB, then built two nights in a row on both
engines (the first night a first build, the second an incremental one), every dbt test
included: each mart Spark writes (Parquet, tailor.engines.spark_table_path) must hold the
rows DuckDB's holds, keys and counts exactly, doubles to 1e-6.

Opt-in (Spark starts a JVM and builds slowly): run with TAILOR_SPARK_TESTS=1, as `make test`
does once, e.g. ``TAILOR_SPARK_TESTS=1 pytest -n 2 --dist loadfile -m spark tests/spark``
(one process per file: a process's Spark session serves one data folder).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import math
import os

import duckdb
import pytest

from tailor import engines, transform
from tailor.warehouse import connect
from tests.conftest import run_cli, use_data_folder

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(
        os.environ.get("TAILOR_SPARK_TESTS") != "1",
        reason="Spark tests are opt-in: set TAILOR_SPARK_TESTS=1 (Java 17 and pyspark needed)",
    ),
]

START = dt.date(2026, 10, 1)
NIGHTS = [START + dt.timedelta(days=1), START + dt.timedelta(days=2)]
TOLERANCE = 1e-6

# The dbt layers of a night before the ML jobs, as tailor.pipeline builds them.
SELECT = "resource_type:seed staging intermediate marts"


def _value(v: object) -> object:
    """A cell in a form both engines' outputs compare in: timestamps naive UTC, numbers
    as floats, dates as dates."""
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(v, decimal.Decimal | int) and not isinstance(v, bool):
        return float(v)
    return v


def _sort_key(row: tuple) -> tuple:
    return tuple(
        (0, "") if v is None else (1, f"{v:.6g}") if isinstance(v, float) else (1, str(v))
        for v in row
    )


def _rows(con: duckdb.DuckDBPyConnection, sql: str, columns: list[str]) -> list[tuple]:
    listed = ", ".join(f'"{c}"' for c in columns)
    rows = [
        tuple(_value(v) for v in r) for r in con.execute(f"select {listed} from {sql}").fetchall()
    ]
    return sorted(rows, key=_sort_key)


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE) or (
            math.isnan(a) and math.isnan(b)
        )
    return a == b


def mart_differences(settings) -> dict[str, str]:
    """{mart: what differs} between the DuckDB warehouse and the Spark build's Parquet."""
    diffs: dict[str, str] = {}
    with connect(settings.warehouse, read_only=True, settings=settings) as con:
        marts = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables"
                " where table_schema = 'marts' and table_type = 'BASE TABLE' order by 1"
            ).fetchall()
        ]
        assert marts, "the DuckDB build wrote no marts"
        for mart in marts:
            folder = engines.spark_table_path(settings, "marts", mart)
            if not folder.is_dir():
                diffs[mart] = "not written by Spark"
                continue
            columns = [
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns"
                    " where table_schema = 'marts' and table_name = ? order by ordinal_position",
                    [mart],
                ).fetchall()
            ]
            spark = f"read_parquet('{folder}/**/*.parquet', hive_partitioning = true)"
            ours = _rows(con, f"marts.{mart}", columns)
            theirs = _rows(con, spark, columns)
            if len(ours) != len(theirs):
                diffs[mart] = f"{len(ours)} rows on DuckDB, {len(theirs)} on Spark"
                continue
            for a, b in zip(ours, theirs, strict=True):
                bad = [c for c, x, y in zip(columns, a, b, strict=True) if not _same(x, y)]
                if bad:
                    diffs[mart] = f"first difference in {bad}: {a} != {b}"
                    break
    return diffs


HOSTILE = [
    'O\'Brien "Bobby" <script>alert(1)</script>',
    '=HYPERLINK("http://evil.example","x")',
    "'); drop table marts.customers; --",
    "{{ run_query('select 1') }}",
]


def write_hostile_events(landing, day: dt.date) -> None:
    """Beside the generated file, a second events file of the day written the way
    analytics.js and Segment's export write it, carrying values neither engine may
    execute or choke on: quotes, a formula, a script tag, SQL and Jinja in names and
    search terms; a common word where an email should be; an unknown time zone, a URL
    that does not parse, an order whose products[] name a product with a quote."""
    stamp = f"{day}T10:15:00.000Z"
    ctx = {
        "library": {"name": "analytics.js", "version": "4.1.0"},
        "timezone": "Mars/Olympus_Mons",
        "page": {"url": "http://[broken", "referrer": "not a url at all"},
    }
    events = [
        {
            "messageId": f"hostile-{day}-identify",
            "type": "identify",
            "anonymousId": f"hostile-anon-{day}",
            "userId": None,
            "traits": {"email": "none", "name": HOSTILE[0], "first_name": HOSTILE[1]},
            "timestamp": stamp,
            "context": ctx,
        },
        *(
            {
                "messageId": f"hostile-{day}-search-{i}",
                "type": "track",
                "event": "Products Searched",
                "anonymousId": f"hostile-anon-{day}",
                "properties": {"query": value},
                "timestamp": stamp,
                "context": ctx,
            }
            for i, value in enumerate(HOSTILE)
        ),
        {
            "messageId": f"hostile-{day}-page",
            "type": "page",
            "name": HOSTILE[2],
            "anonymousId": f"hostile-anon-{day}",
            "properties": {"url": "http://[broken", "title": HOSTILE[3]},
            "timestamp": stamp,
            "context": ctx,
        },
        {
            "messageId": f"hostile-{day}-order",
            "type": "track",
            "event": "Order Completed",
            "anonymousId": f"hostile-anon-{day}",
            "properties": {
                "order_id": f"hostile-order-{day}",
                "total": 12.5,
                "currency": "EUR",
                "products": [
                    {"product_id": "P-O'Hara", "name": HOSTILE[0], "price": 12.5, "quantity": 1}
                ],
            },
            "timestamp": stamp,
            "context": ctx,
        },
    ]
    folder = landing / "events" / f"dt={day}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hostile.ndjson").write_text("".join(json.dumps(e) + "\n" for e in events))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Three generated days in the landing zone; the first loaded into DuckDB."""
    mp = pytest.MonkeyPatch()
    settings = use_data_folder(mp, tmp_path_factory.mktemp("spark") / "data")
    out = run_cli(
        "generate",
        "--customers",
        "60",
        "--products",
        "40",
        "--days",
        "3",
        "--start",
        START.isoformat(),
    )
    assert out.returncode == 0, out.stderr
    for day in NIGHTS:
        write_hostile_events(settings.landing, day)
    out = run_cli("load", "--date", START.isoformat())
    assert out.returncode == 0, out.stderr
    yield settings
    mp.undo()


@pytest.mark.parametrize("night", NIGHTS, ids=["first night", "second night"])
def test_spark_build_equals_duckdb_build(data, night):
    out = run_cli("load", "--date", night.isoformat())
    assert out.returncode == 0, out.stderr
    # Both builds raise DbtError naming the node if any model or dbt test fails.
    transform.build(night, select=SELECT, settings=data, unit_tests=False)
    spark = dataclasses.replace(data, dbt_target="spark")
    transform.build(night, select=SELECT, settings=spark, unit_tests=False)
    assert mart_differences(data) == {}
    # the hand-written hostile events went through the Spark build as data
    stitched = engines.spark_table_path(data, "intermediate", "int_events_stitched")
    with duckdb.connect() as con:
        (n,) = con.execute(
            "select count(*) from read_parquet(?) where message_id like ?",
            [f"{stitched}/**/*.parquet", f"hostile-{night}-%"],
        ).fetchone()
    assert n == 1 + len(HOSTILE) + 2
