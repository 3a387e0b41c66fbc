"""Customers and products named like spreadsheet formulas (OWASP's CSV-injection strings)
reach no CSV Tailor writes as a cell a spreadsheet would evaluate: the Mailchimp, Braze
and Salesforce imports, a redacted export, and `tailor sql --csv`. Phones stay E.164."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from click.testing import CliRunner

from tailor import csvsafe, erased
from tailor.cli import main
from tailor.exports import formats
from tailor.exports.redact import redact_folder
from tailor.warehouse import connect
from tests.unit.test_csvsafe import OWASP
from tests.unit.test_export_rules import D1, Warehouse, config, dest, folder, rows, run

pytestmark = pytest.mark.reliability

# OWASP's strings, each also tab- and CR-led
HOSTILE = [*OWASP, "\t=1+1", "\r=1+1"]


NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def formulas(table: list[list[str]]) -> list[str]:
    """Cells a spreadsheet would evaluate as a formula: a dangerous first character, and
    not a plain number or an E.164 phone (which it reads as the value they are)."""
    return [
        c
        for row in table
        for c in row
        if c[:1] in csvsafe.DANGEROUS_PREFIXES
        and not NUMBER.fullmatch(c)
        and not csvsafe.E164_RE.fullmatch(c)
    ]


def evaluated_cells(path) -> list[str]:
    return formulas(rows(path))


@pytest.fixture
def wh(tailor_env):
    w = Warehouse(tailor_env)
    yield w
    w.close()


def _members(wh) -> list[dict]:
    members = []
    for i, value in enumerate(HOSTILE, 1):
        cid = f"C{i}"
        wh.consent(cid, True, "2026-10-01T08:00:00Z", dt.date(2026, 10, 1))
        members.append(
            {
                "audience_id": "rfm_champions",
                "customer_id": cid,
                "first_name": value,
                "last_name": value,
                "phone": "0151 1234 567" + str(i),
                "rec_1_product_id": "P1",
                "rec_1_title": value,
                "rec_1_price": -1 if i == 1 else 19.9,  # a number stays a number
                "recommendation_count": 1,
            }
        )
    wh.audiences(D1, members)
    wh.con.execute("alter table marts.audiences add column city varchar")
    wh.con.execute("alter table marts.audiences add column country varchar default 'DE'")
    wh.con.execute("update marts.audiences set city = first_name")
    return members


def _destinations():
    extra = {"City": "city", "Product 1 Title": "rec_1_title"}
    return [
        dest(
            name=f"{fmt.split('_')[0]}_x",
            fmt=fmt,
            fields={**formats.FORMATS[fmt].default_fields, **extra},
        )
        for fmt in ("mailchimp_csv", "braze_csv", "salesforce_csv", "klaviyo_csv", "hubspot_csv")
    ]


def test_no_export_file_holds_a_formula(wh):
    _members(wh)
    cfg = config(*_destinations(), cap=10)
    results = run(wh, cfg, D1)
    assert {r.status for r in results.values()} == {"succeeded"}
    for name in results:
        path = folder(wh, cfg, name, D1) / f"{name}.upserts.csv"
        table = rows(path)
        assert len(table) == 1 + len(HOSTILE), name
        assert evaluated_cells(path) == [], name
        header = table[0]
        for field in ("City", "Product 1 Title"):
            assert sorted(r[header.index(field)] for r in table[1:]) == sorted(
                "'" + v for v in HOSTILE
            ), (name, field)


def test_phones_are_e164_and_prices_numbers(wh):
    _members(wh)
    cfg = config(*_destinations(), cap=10)
    run(wh, cfg, D1)
    sf = rows(folder(wh, cfg, "salesforce_x", D1) / "salesforce_x.upserts.csv")
    phones = [r[sf[0].index("Phone")] for r in sf[1:]]
    assert sorted(phones) == [f"+49151123456{i}" for i in range(71, 71 + len(HOSTILE))]
    assert all(csvsafe.E164_RE.fullmatch(p) for p in phones)
    mc = rows(folder(wh, cfg, "mailchimp_x", D1) / "mailchimp_x.upserts.csv")
    prices = sorted(r[mc[0].index("Product 1 Price")] for r in mc[1:])
    assert prices[0] == "-1.00"  # a real number keeps its sign


def test_a_redacted_export_stays_neutralised(wh):
    _members(wh)
    cfg = config(*_destinations(), cap=10)
    run(wh, cfg, D1)
    out = folder(wh, cfg, "mailchimp_x", D1)
    ident = erased.Identity(customer_ids={"C2"}, emails={"c2@example.com"})
    assert redact_folder(out, ident)[1] == 1
    path = out / "mailchimp_x.upserts.csv"
    assert len(rows(path)) == len(HOSTILE)
    assert evaluated_cells(path) == []
    table = rows(path)
    assert "-1.00" in [r[table[0].index("Product 1 Price")] for r in table[1:]]


def test_tailor_sql_csv_neutralises_formulas(tailor_env):
    s = tailor_env
    con = connect(s.warehouse, settings=s)
    con.execute("create schema marts")
    con.execute(
        "create table marts.customers (customer_id varchar, first_name varchar, "
        "last_name varchar, city varchar, net_revenue decimal(18, 2), phone varchar)"
    )
    for i, v in enumerate(HOSTILE):
        con.execute(
            "insert into marts.customers values (?, ?, ?, ?, ?, ?)",
            [f"C{i}", v, v, v, -12.5, "+4915112345678"],
        )
    con.close()
    result = CliRunner().invoke(
        main, ["sql", "--warehouse", "--csv", "select * from marts.customers order by 1"]
    )
    assert result.exit_code == 0, result.output
    table = list(csv.reader(io.StringIO(result.stdout, newline="")))
    assert table[0] == ["customer_id", "first_name", "last_name", "city", "net_revenue", "phone"]
    assert formulas(table) == []
    assert [r[1] for r in table[1:]] == ["'" + v for v in HOSTILE]
    assert {(r[4], r[5]) for r in table[1:]} == {("-12.50", "+4915112345678")}
