"""Export formats, field mapping, configuration and webhook batching: pure functions."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path

import pytest
import yaml

from tailor.exports import FORMATS, ConfigError, holdout_bucket, load_config
from tailor.exports.formats import csv_bytes, jsonl_bytes, parse_field, row_hash, text, to_json
from tailor.exports.webhook import make_batches

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def test_to_json_is_canonical_and_keeps_decimals_exact():
    value = {
        "b": decimal.Decimal("19.90"),
        "a": [1, 2.5, None, True],
        "d": dt.date(2026, 10, 5),
        "s": 'Michał "M"',
        "nan": float("nan"),
    }
    assert to_json(value) == (
        '{"b":19.90,"a":[1,2.5,null,true],"d":"2026-10-05","s":"Michał \\"M\\"","nan":null}'
    )
    assert json.loads(to_json(value))["b"] == 19.9


def test_csv_text_of_values():
    assert text(None) == ""
    assert text(True) == "true"
    assert text(decimal.Decimal("1238.00")) == "1238.00"
    assert text(0.1) == "0.1"
    assert text(dt.date(2026, 1, 2)) == "2026-01-02"
    assert text([{"a": 1}]) == '[{"a":1}]'


def test_csv_is_rfc4180_with_crlf_and_quoting():
    data, n = csv_bytes(["Email", "Name"], [["a@x.com", 'Ann "The" Bee, Jr.'], ["b@x.com", None]])
    assert n == 2
    assert data == b'Email,Name\r\na@x.com,"Ann ""The"" Bee, Jr."\r\nb@x.com,\r\n'


def test_jsonl_one_object_per_line():
    data, n = jsonl_bytes([{"op": "upsert", "data": {"x": 1}}, {"op": "delete", "key": {"x": 2}}])
    assert n == 2
    assert data.decode().splitlines() == [
        '{"op":"upsert","data":{"x":1}}',
        '{"op":"delete","key":{"x":2}}',
    ]


def test_field_kinds_render_from_the_payload():
    row = {
        "email": "a@x.com",
        "first_name": "Ann",
        "audience_id": "rfm_champions",
        "rec_1_product_id": "P1",
        "rec_1_title": "Mug",
        "rec_1_price": decimal.Decimal("9.90"),
        "rec_1_currency": "EUR",
        "rec_1_reason": "because you viewed Cup",
        "rec_2_product_id": None,
    }
    assert parse_field("Email", "email").render(row) == "a@x.com"
    assert parse_field("Src", {"value": "tailor"}).render(row) == "tailor"
    assert (
        parse_field("Tags", {"template": "t,{audience_id},{missing}"}).render(row)
        == "t,rfm_champions,"
    )
    recs = parse_field("recs", {"recommendations": 3}).render(row)
    assert recs == [
        {
            "product_id": "P1",
            "title": "Mug",
            "price": decimal.Decimal("9.90"),
            "currency": "EUR",
            "reason": "because you viewed Cup",
        }
    ]
    assert parse_field("T", {"template": "{first_name} {last_name}"}).columns() == {
        "first_name",
        "last_name",
    }
    with pytest.raises(ValueError):
        parse_field("X", {"nope": 1})


def test_row_hash_ignores_source_types_but_not_values():
    assert row_hash(["a", decimal.Decimal("1.50")]) == row_hash(["a", decimal.Decimal("1.50")])
    assert row_hash(["a", 1]) != row_hash(["a", 2])


def test_every_format_has_its_key_among_its_default_fields():
    for fmt in FORMATS.values():
        assert set(fmt.key) <= set(fmt.default_fields), fmt.name


def test_the_shipped_destinations_file_is_valid():
    config = load_config(REPO / "config" / "destinations.yml")
    names = [d.name for d in config.destinations]
    assert len(names) == len(set(names))
    formats = {d.format for d in config.destinations}
    assert {
        "mailchimp_csv",
        "klaviyo_csv",
        "braze_csv",
        "hubspot_csv",
        "salesforce_csv",
        "jsonl",
        "webhook",
    } <= formats
    assert config.frequency_cap.max_messages >= 1


def _one(**over):
    d = {
        "name": "x",
        "format": "mailchimp_csv",
        "audience": "rfm_champions",
        "consent": "email_marketing",
    }
    d.update(over)
    return {"destinations": [d]}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"format": "fax"}, "unknown format"),
        ({"consent": "telepathy"}, "unknown consent purpose"),
        ({"mode": "sometimes"}, "mode must be"),
        ({"name": "Bad Name"}, "lower-case"),
        ({"fields": {"First Name": "first_name"}}, "key column"),
        ({"fields": {"Email Address": {"bogus": 1}}}, "expected a column name"),
        ({"format": "webhook"}, "needs webhook"),
        ({"format": "webhook", "webhook": {"url": "ftp://x"}}, "http"),
        ({"colour": "red"}, "unknown keys"),
    ],
)
def test_invalid_destinations_are_rejected_with_a_reason(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(_one(**override))


def test_duplicate_names_and_defaults(tmp_path):
    doc = {
        "defaults": {"consent": "email_marketing", "mode": "full"},
        "destinations": [
            {"name": "a", "format": "jsonl", "audience": "x"},
            {"name": "b", "format": "jsonl", "audience": "y", "mode": "delta"},
        ],
    }
    path = tmp_path / "d.yml"
    path.write_text(yaml.safe_dump(doc))
    config = load_config(path)
    assert [d.mode for d in config.destinations] == ["full", "delta"]
    assert config.get("b").consent == "email_marketing"
    doc["destinations"][1]["name"] = "a"
    with pytest.raises(ConfigError, match="duplicate"):
        load_config(doc)


def test_webhook_batches_and_idempotency_keys():
    ops = [{"op": "upsert", "data": {"customer_id": f"C{i}"}} for i in range(5)]
    a = make_batches(ops, destination="d", audience="x", run_date="2026-10-05", batch_size=2)
    b = make_batches(ops, destination="d", audience="x", run_date="2026-10-05", batch_size=2)
    assert [len(json.loads(x.body)["operations"]) for x in a] == [2, 2, 1]
    assert [x.idempotency_key for x in a] == [
        x.idempotency_key for x in b
    ]  # a rerun resends the same keys
    assert len({x.idempotency_key for x in a}) == 3
    changed = make_batches(
        ops[:4], destination="d", audience="x", run_date="2026-10-05", batch_size=2
    )
    assert changed[0].idempotency_key == a[0].idempotency_key
    assert changed[1].idempotency_key == a[1].idempotency_key
    other_day = make_batches(
        ops, destination="d", audience="x", run_date="2026-10-06", batch_size=2
    )
    assert other_day[0].idempotency_key != a[0].idempotency_key
    body = json.loads(a[2].body)
    assert (
        body["batch"] == 3
        and body["batches"] == 3
        and body["idempotency_key"] == a[2].idempotency_key
    )


def test_holdout_bucket_is_deterministic_and_roughly_uniform():
    buckets = [holdout_bucket("exp", f"C{i:07d}") for i in range(20000)]
    assert buckets == [holdout_bucket("exp", f"C{i:07d}") for i in range(20000)]
    assert all(0 <= b < 1 for b in buckets)
    share = sum(b < 0.1 for b in buckets) / len(buckets)
    assert 0.09 < share < 0.11
    # another experiment re-randomizes
    other = [holdout_bucket("exp2", f"C{i:07d}") < 0.1 for i in range(20000)]
    overlap = sum(a < 0.1 and b for a, b in zip(buckets, other, strict=True)) / len(buckets)
    assert overlap < 0.02
