"""Erasure in diagnostics: failure samples, error messages and files outside the tables."""

from __future__ import annotations

import html
import json

import duckdb
import pytest

from tailor import erased
from tailor.erased import Identity
from tailor.privacy.erase_tables import erase_rows
from tailor.privacy.files import redact_files
from tailor.privacy.landing import (
    REQUESTS_SOURCE,
    TEXT_SUFFIXES,
    _Finder,
    landing_files,
    purge_applied_requests,
    purge_landing_many,
)
from tailor.privacy.matching import ERASED_MARK
from tailor.privacy.traces import find_traces

pytestmark = pytest.mark.unit

ANN = Identity(
    customer_ids={"C0000042"},
    emails={"ann.lee@example.com"},
    anonymous_ids={"anon-7f3a"},
    order_ids={"O-991"},
)


def test_validation_samples_and_run_log_lose_the_identifiers_but_keep_the_rows():
    con = duckdb.connect()
    con.execute("create schema ops")
    con.execute(
        "create table ops.validation_results (expectation varchar, sample_unexpected json, "
        "observed_value json)"
    )
    con.execute(
        """
        insert into ops.validation_results values
            ('unique', '["C0000042", "C00000421", "C0000007"]', '3'),
            ('in_set', '[{"customer_id": "C0000042", "email": "Ann.Lee@Example.com"}]', null),
            ('other', '["C0000008"]', null)
        """
    )
    con.execute("create table ops.run_log (event_id varchar, error varchar, record json)")
    msg = "customer_id sample: C0000042,anon-7f3a; order O-991"
    con.execute("insert into ops.run_log values ('e1', ?, ?)", [msg, json.dumps({"error": msg})])

    touched = {t.table: t for t in erase_rows(con, ANN)}

    assert touched["ops.validation_results"].rows_anonymized == 2
    assert touched["ops.run_log"].rows_anonymized == 1
    rows = con.execute("select sample_unexpected::varchar from ops.validation_results").fetchall()
    assert json.loads(rows[0][0]) == [ERASED_MARK, "C00000421", "C0000007"]  # whole tokens only
    assert json.loads(rows[1][0]) == [{"customer_id": ERASED_MARK, "email": ERASED_MARK}]
    assert json.loads(rows[2][0]) == ["C0000008"]
    error, record = con.execute("select error, record::varchar from ops.run_log").fetchone()
    assert error == f"customer_id sample: {ERASED_MARK},{ERASED_MARK}; order {ERASED_MARK}"
    assert json.loads(record) == {"error": error}
    # (find_traces matches substrings: C00000421, someone else, would count)
    con.execute("delete from ops.validation_results where expectation = 'unique'")
    assert find_traces(con, ANN.tokens() | ANN.order_ids) == []


def test_other_files_are_scrubbed_and_landing_and_exports_left_to_their_own_rules(tailor_env):
    s = tailor_env
    docs = s.reports / "data_docs" / "validations" / "page.html"
    results = s.data / "gx" / "validations" / "result.json"
    run_log = s.data / "runs" / "run_log.jsonl"
    landing = s.landing / "customers" / "dt=2026-10-01" / "customers.csv"
    other_data_set = s.data / "bench" / "1m" / "ground_truth" / "personas.csv"
    for path in (docs, results, run_log, landing, other_data_set):
        path.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text("<td>C0000042</td><td>C0000043</td>")
    results.write_text(json.dumps({"partial_unexpected_list": ["C0000042", "anon-7f3a"]}))
    run_log.write_text('{"error": "C0000007 bad"}\n{"error": "ann.lee@example.com bad"}\n')
    landing.write_text("customer_id,email\nC0000042,ann.lee@example.com\n")
    other_data_set.write_text("customer_id,persona\nC0000042,loyal\n")

    files, changes = redact_files(s, ANN)

    assert (files, changes) == (3, 4)
    assert docs.read_text() == f"<td>{ERASED_MARK}</td><td>C0000043</td>"
    assert json.loads(results.read_text()) == {"partial_unexpected_list": [ERASED_MARK] * 2}
    assert run_log.read_text() == '{"error": "C0000007 bad"}\n'
    assert "C0000042" in landing.read_text()  # purge_landing's job, with its own rules
    assert "C0000042" in other_data_set.read_text()  # another data set's C0000042


BOB = Identity(customer_ids={"C0000077"}, emails={"bob.ray@example.com"})
# Cy's device id starts with Ann's: a search that reports one match per place would find
# Ann's id there and miss Cy's
CY = Identity(customer_ids={"C0000555"}, anonymous_ids={"anon-7f3a9"})


@pytest.mark.parametrize("many", [1, 10_000], ids=["one automaton", "one search per id"])
def test_one_landing_pass_removes_several_people_and_counts_each(tmp_path, monkeypatch, many):
    import gzip

    monkeypatch.setattr(_Finder, "MANY", many)

    events = tmp_path / "events" / "dt=2026-10-01" / "events.ndjson.gz"
    customers = tmp_path / "customers" / "dt=2026-10-01" / "customers.csv"
    untouched = tmp_path / "events" / "dt=2026-10-02" / "events.ndjson.gz"
    for path in (events, customers, untouched):
        path.parent.mkdir(parents=True)
    lines = [
        '{"messageId":"m1","userId":"C0000042","anonymousId":"anon-7f3a"}',
        '{"messageId":"m2","userId":"C0000077"}',
        '{"messageId":"m3","userId":"C0000420","properties":{"order_id":"O-991"}}',
        '{"messageId":"m4","userId":"C0000008","traits":{"email":"Bob.Ray@example.com"}}',
        '{"messageId":"m5","userId":"C0000008","properties":{"note":"C0000077x"}}',
        '{"messageId":"m6","anonymousId":"anon-7f3a9"}',
    ]
    events.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
    customers.write_text(
        "customer_id,email\nC0000042,ann.lee@example.com\nC0000077,x@example.com\nC0000008,c@example.com\n"
    )
    other = gzip.compress(b'{"messageId":"m9","userId":"C0000008"}\n', mtime=0)
    untouched.write_bytes(other)
    before = untouched.stat().st_ino

    nobody = Identity(customer_ids={"C0000999"})
    out = purge_landing_many(tmp_path, [ANN, nobody, BOB, CY])

    # (files rewritten, records removed) per person
    assert out == [(2, 3), (0, 0), (2, 3), (1, 1)]
    kept = gzip.decompress(events.read_bytes()).decode().splitlines()
    assert kept == [lines[4]]  # "C0000077x" is not Bob's id
    assert customers.read_text() == "customer_id,email\nC0000008,c@example.com\n"
    assert untouched.stat().st_ino == before and untouched.read_bytes() == other
    assert purge_landing_many(tmp_path, [ANN, BOB, CY]) == [(0, 0)] * 3


def test_a_request_row_leaves_the_landing_zone_only_once_its_request_is_applied(tmp_path):
    import gzip

    plain = tmp_path / "erasure_requests" / "dt=2026-10-01" / "erasure_requests.csv"
    packed = tmp_path / "erasure_requests" / "dt=2026-10-02" / "erasure_requests.csv.gz"
    for path in (plain, packed):
        path.parent.mkdir(parents=True)
    plain.write_text(
        "request_id,customer_id,email,requested_at\n"
        "R1,C0000042,ann.lee@example.com,2026-10-01T09:00:00Z\n"
        'R2,,"bob.ray@example.com",2026-10-01T10:00:00Z\n'
    )
    packed.write_bytes(
        gzip.compress(
            b"Request_ID,customer_id,email,requested_at\n R3 ,C0000008,,2026-10-02T09:00:00Z\n",
            mtime=0,
        )
    )
    # an erase stage leaves every request file alone, the people in them included
    assert purge_landing_many(tmp_path, [ANN], skip_sources={REQUESTS_SOURCE}) == [(0, 0)]
    assert "R1,C0000042" in plain.read_text()

    con = duckdb.connect()
    assert purge_applied_requests(con, tmp_path) == 0  # nothing applied anywhere
    erased.ensure_tables(con)
    assert purge_applied_requests(con, tmp_path) == 0
    con.execute(  # R1 and R3 applied, and an erasure by `tailor erase` (no request)
        """
        insert into ops.erasure_audit
        select coalesce(r, 'cli'), 'h', r, 'erasure_requests', date '2026-10-02', null, now(),
               '{}', '[]', 0, 0, 0, 0, 0, 0, '[]', 'at_next_publish', 'applied', null, null, null
        from (values ('R1'), ('R3'), (null)) v(r)
        """
    )
    assert purge_applied_requests(con, tmp_path) == 2
    assert plain.read_text() == (
        'request_id,customer_id,email,requested_at\nR2,,"bob.ray@example.com",2026-10-01T10:00:00Z\n'
    )
    assert gzip.decompress(packed.read_bytes()) == b"Request_ID,customer_id,email,requested_at\n"
    assert purge_applied_requests(con, tmp_path) == 0


def test_erasure_purges_every_kind_of_file_the_loader_reads(tmp_path):
    from tailor import ingest

    assert set(ingest.DATA_SUFFIXES) <= set(TEXT_SUFFIXES) | {".parquet"}
    part = tmp_path / "events" / "dt=2026-10-01"
    part.mkdir(parents=True)
    for name in ("events.ndjson", ".late.ndjson", ".hidden.csv.gz", "x.parquet"):
        (part / name).write_bytes(b"")
    found = {p.name for _, p in landing_files(tmp_path)}
    assert found == {"events.ndjson", ".late.ndjson", ".hidden.csv.gz", "x.parquet"}


def test_an_identifier_with_quotes_and_accents_is_erased_from_documents_and_logs(tmp_path):
    # a customer id a JSON document escapes (quotes; \u escapes or UTF-8), HTML escapes
    # and a log line writes as is: every form goes, the other customer stays
    from types import SimpleNamespace

    cid = 'ZOË "Q" O\'Brien'
    gx, runs = tmp_path / "gx", tmp_path / "runs"
    gx.mkdir()
    runs.mkdir()
    (gx / "ascii.json").write_text(json.dumps({"sample": [cid, "C3"]}))
    (gx / "utf8.json").write_text(json.dumps({"sample": [cid, "C3"]}, ensure_ascii=False))
    (gx / "page.html").write_text(f"<td>{html.escape(cid)}</td><td>C3</td>")
    (runs / "run.log").write_text(f"failed for {cid}\nok C3\n")
    s = SimpleNamespace(
        data=tmp_path,
        reports=tmp_path / "reports",
        ground_truth=tmp_path / "truth",
        airflow_home=tmp_path / "airflow",
    )
    files, _ = redact_files(s, Identity(customer_ids={cid}))
    assert files == 4
    for path in (gx / "ascii.json", gx / "utf8.json", gx / "page.html", runs / "run.log"):
        text = path.read_text()
        assert "Q" not in text and "C3" in text, (path, text)
