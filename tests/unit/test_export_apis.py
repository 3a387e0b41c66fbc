"""Each CRM export's API requests against a local stand-in of the tool: the documented
request shapes for adds, updates, removes, unsubscribes and erasures; a 429 and a 500 in
the middle of a delivery lose nothing and send nothing twice; a delivery that stops half
way resumes at the failed request; replaying every day's requests gives the tool exactly
the audience Tailor recorded."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import types

import pytest

from tailor.exports import apis, outbox
from tailor.warehouse import connect
from tests.unit.fake_crm import TOKEN, FakeCrm
from tests.unit.test_export_rules import D1, D2, config, dest, folder, member, run, wh  # noqa: F401

pytestmark = pytest.mark.unit

D3 = D2 + dt.timedelta(days=1)
TOOLS = {
    "mailchimp": (
        "mailchimp_csv",
        {"list_id": "a1b2c3", "tag": "tailor-champions", "batch_size": 2},
    ),
    "klaviyo": ("klaviyo_csv", {"list_id": "Xy12Ab"}),
    "braze": ("braze_csv", {}),
    "hubspot": ("hubspot_csv", {"list_id": "123"}),
    "salesforce": ("salesforce_csv", {}),
}


def tool_key(tool: str, key: dict) -> str:
    """How the tool names a contact Tailor exported with ``key``."""
    (value,) = key.values()
    if tool == "mailchimp":
        return hashlib.md5(value.lower().encode()).hexdigest()
    return value


@pytest.fixture
def crm(request, monkeypatch):
    fake = FakeCrm(request.param)
    monkeypatch.setenv("TAILOR_CRM_TOKEN", TOKEN)
    yield fake
    fake.close()


def destination(tool: str, url: str | None, **api):
    fmt, extra = TOOLS[tool]
    settings = {**extra, **api}
    if url:
        settings.update(base_url=url, token_env="TAILOR_CRM_TOKEN", backoff_seconds=0.0)
    return dest(name=f"{tool}_champions", fmt=fmt, api=settings, capped=False)


def three_days(wh, cfg, name):  # noqa: F811
    """D1: C1..C3 join. D2: C2 leaves the audience, C3 withdraws consent, C4 joins, C1's
    name changes. D3: C1 is erased (the erasure deletes its rows and queues the remove)."""
    for c in ("C1", "C2", "C3", "C4"):
        wh.consent(c, True, "2026-10-01T08:00:00Z", dt.date(2026, 10, 1))
    wh.audiences(D1, [member("C1"), member("C2"), member("C3")])
    run(wh, cfg, D1)
    wh.consent("C3", False, "2026-10-06T08:00:00Z", D2)
    wh.audiences(D2, [member("C1", first_name="Ann"), member("C3"), member("C4")])
    run(wh, cfg, D2)
    outbox.queue_erasure(
        wh.con, wh.settings, types.SimpleNamespace(customer_ids={"C1"}), D3, "subj1"
    )
    wh.con.execute("delete from ops.export_state where customer_id = 'C1'")
    wh.audiences(D3, [member("C3"), member("C4")])
    run(wh, cfg, D3)


def recorded(wh, name):  # noqa: F811
    return [
        json.loads(k)
        for (k,) in wh.con.execute(
            "select key_fields::varchar from ops.export_state where destination = ? and valid_to is null",
            [name],
        ).fetchall()
    ]


def api_requests(wh, cfg, name, day):  # noqa: F811
    path = folder(wh, cfg, name, day) / apis.API_FILE.format(name=name)
    return apis.read_requests(path.read_bytes())


@pytest.mark.parametrize("crm", list(TOOLS), indirect=True)
def test_every_day_reaches_the_tool_in_its_documented_shape(wh, crm):  # noqa: F811
    cfg = config(destination(crm.tool, crm.url))
    name = f"{crm.tool}_champions"
    crm.fail = {2: 429, 4: 500}  # in the middle of the first day's delivery
    three_days(wh, cfg, name)
    assert crm.problems == []
    # Nothing lost: every request written was acknowledged once, in order.
    written = [r for d in (D1, D2, D3) for r in api_requests(wh, cfg, name, d)]
    acknowledged = [k for k in crm.applied if k is not None]
    expected = [r.idempotency_key for r in written]
    assert [k for k in acknowledged if k in expected] == [k for k in expected if k in acknowledged]
    assert len(acknowledged) == len(set(acknowledged))
    # The tool holds exactly who Tailor recorded as exported; the erased person is deleted.
    assert crm.in_audience() == {tool_key(crm.tool, k) for k in recorded(wh, name)}
    expect_erased = tool_key(
        crm.tool, {"k": "C1" if crm.tool in ("braze", "salesforce") else "c1@example.com"}
    )
    assert expect_erased in crm.deleted
    statuses = wh.con.execute(
        "select status, http_attempts from ops.export_log where destination = ? order by run_date",
        [name],
    ).fetchall()
    assert [s for s, _ in statuses] == ["succeeded"] * 3
    # Every attempt is counted in ops.export_log; exactly the two failed ones were retried.
    assert sum(a for _, a in statuses) == len(crm.requests) == len(crm.applied) + 2


@pytest.mark.parametrize("crm", ["mailchimp", "salesforce", "hubspot"], indirect=True)
def test_a_delivery_that_gives_up_resumes_at_the_failed_request(wh, crm):  # noqa: F811
    cfg = config(destination(crm.tool, crm.url, max_attempts=1))
    name = f"{crm.tool}_champions"
    for c in ("C1", "C2"):
        wh.consent(c, True, "2026-10-01T08:00:00Z", dt.date(2026, 10, 1))
    wh.audiences(D1, [member("C1"), member("C2")])
    crm.fail = {2: 503}
    with pytest.raises(Exception, match="not retried|gave up"):
        run(wh, cfg, D1)
    (status,) = wh.con.execute(
        "select status from ops.export_log where destination = ?", [name]
    ).fetchone()
    assert status == "send_failed"
    from tailor.exports import publication

    wh.con.close()
    try:
        publication.publish(wh.settings, config=cfg)
    finally:
        wh.con = connect(wh.settings.warehouse, settings=wh.settings)
    keys = [r.idempotency_key for r in api_requests(wh, cfg, name, D1)]
    assert crm.applied == keys  # each once, in order, the first not sent again
    assert crm.problems == []
    assert crm.in_audience() == {tool_key(crm.tool, k) for k in recorded(wh, name)}


def test_requests_are_written_without_an_endpoint_and_hold_no_secret(wh, monkeypatch):  # noqa: F811
    monkeypatch.setenv("TAILOR_CRM_TOKEN", TOKEN)
    cfg = config(*(destination(t, None) for t in TOOLS))
    for c in ("C1", "C2"):
        wh.consent(c, True, "2026-10-01T08:00:00Z", dt.date(2026, 10, 1))
    wh.audiences(D1, [member("C1"), member("C2")])
    run(wh, cfg, D1)
    for t in TOOLS:
        reqs = api_requests(wh, cfg, f"{t}_champions", D1)
        assert reqs and all(r.method in ("POST", "PUT", "PATCH", "DELETE", "GET") for r in reqs)
    mc = api_requests(wh, cfg, "mailchimp_champions", D1)[0]
    assert mc.path == "/3.0/batches"
    assert {o["method"] for o in mc.body["operations"]} == {"PUT", "POST"}
    br = api_requests(wh, cfg, "braze_champions", D1)[0]
    assert br.body["attributes"][0]["email_subscribe"] == "opted_in"


def test_a_price_never_leaves_without_its_currency_and_braze_gets_flat_values():
    from pathlib import Path

    from tailor.exports import ConfigError, load_config

    with pytest.raises(ConfigError, match="without its currency"):
        config(dest(fields={"Email Address": "email", "Price": "rec_1_price"}))
    with pytest.raises(ConfigError, match="same template"):
        config(dest(fields={"Email Address": "email", "Offer": {"template": "{rec_1_price}"}}))
    with pytest.raises(ConfigError, match="JSON array of objects"):
        config(
            dest(
                fmt="braze_csv",
                fields={"external_id": "customer_id", "recs": {"recommendations": 3}},
            )
        )
    shipped = load_config(Path(__file__).parents[2] / "config" / "destinations.yml")
    for d in shipped.destinations:
        sources = {f.source for f in d.fields if f.kind == "column"}
        for s in sources:
            if s.endswith("_price"):
                assert s.removesuffix("price") + "currency" in sources, (d.name, s)
    braze = shipped.get("braze_high_intent")
    assert "email_subscribe" in braze.columns
    assert all(f.kind != "recommendations" for f in braze.fields)


def test_the_braze_csv_holds_flat_attributes_and_prices_with_currency(wh):  # noqa: F811
    import csv
    import decimal

    wh.consent("C1", True, "2026-10-01T08:00:00Z", dt.date(2026, 10, 1))
    rec = {
        "rec_1_product_id": "P1",
        "rec_1_title": "Mug",
        "rec_1_price": decimal.Decimal("9.90"),
        "rec_1_currency": "EUR",
    }
    wh.audiences(D1, [member("C1", **rec)])
    cfg = config(dest(name="br", fmt="braze_csv"), dest(name="kl", fmt="klaviyo_csv"))
    run(wh, cfg, D1)
    with open(folder(wh, cfg, "br", D1) / "br.upserts.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["external_id"] == "C1" and row["email_subscribe"] == "opted_in"
    assert (row["rec_1_id"], row["rec_1_price"], row["rec_1_currency"]) == ("P1", "9.90", "EUR")
    assert not any(v.startswith(("[", "{")) for v in row.values())
    with open(folder(wh, cfg, "kl", D1) / "kl.upserts.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert (row["Product 1 Price"], row["Product 1 Currency"]) == ("9.90", "EUR")


@pytest.mark.parametrize("crm", list(TOOLS), indirect=True)
def test_replaying_every_days_requests_reproduces_the_recorded_audience(wh, crm):  # noqa: F811
    """Exports written without an endpoint (files only); the files of every day, sent in
    order to an empty tool, leave it holding exactly what ops.export_state says, with the
    removed, unsubscribed and erased people out."""
    cfg = config(destination(crm.tool, None))
    name = f"{crm.tool}_champions"
    three_days(wh, cfg, name)
    api = apis.parse_api(
        {**TOOLS[crm.tool][1], "base_url": crm.url, "token_env": "TAILOR_CRM_TOKEN"}, "test"
    )
    for day in (D1, D2, D3):
        apis.send(
            TOOLS[crm.tool][0],
            api,
            api_requests(wh, cfg, name, day),
            destination=name,
            progress=wh.settings.exports / f"replay-{day}.jsonl",
        )
    assert crm.problems == []
    expected = {tool_key(crm.tool, k) for k in recorded(wh, name)}
    assert crm.in_audience() == expected and len(expected) == 1  # C4 only
    gone = (
        {"C2", "C3"}
        if crm.tool in ("braze", "salesforce")
        else {"c2@example.com", "c3@example.com"}
    )
    assert not ({tool_key(crm.tool, {"k": g}) for g in gone} & crm.in_audience())


def test_erasure_redacts_the_person_from_the_written_api_requests(wh):  # noqa: F811
    from tailor.erased import Identity
    from tailor.exports import redact

    cfg = config(*(destination(t, None) for t in TOOLS))
    for c in ("C1", "C2"):
        wh.consent(c, True, "2026-10-01T08:00:00Z", dt.date(2026, 10, 1))
    wh.audiences(D1, [member("C1"), member("C2")])
    run(wh, cfg, D1)
    ann = Identity(customer_ids={"C1"}, emails={"c1@example.com"})
    files, _ = redact.redact_exports(wh.settings, ann)
    assert files >= 5
    ann_hash = hashlib.md5(b"c1@example.com").hexdigest()
    bob_hash = hashlib.md5(b"c2@example.com").hexdigest()
    for t in TOOLS:
        text = (folder(wh, cfg, f"{t}_champions", D1) / f"{t}_champions.api.jsonl").read_text()
        assert "c1@example.com" not in text.lower() and ann_hash not in text, t
        assert '"C1"' not in text and "\\r\\nC1," not in text, t
        assert "c2@example.com" in text.lower() or bob_hash in text or "C2" in text, t


@pytest.mark.parametrize(
    "first, second",
    [
        ("C1", "C2"),
        # identifiers a CSV quotes and JSON escapes, non-ASCII, a formula, markup: the
        # text check before parsing must not let them through
        ('Zoë "Q" O\'Brien', '=HYPERLINK("http://x")<script>'),
    ],
)
def test_one_redaction_pass_for_several_people_equals_one_pass_each(
    wh,  # noqa: F811
    tmp_path,
    first,
    second,
):
    # the batched physical erasure reads and parses every export file once for all the
    # pending people: the files it leaves are the ones a pass per person leaves, and each
    # person is counted as their own pass counts them
    import shutil

    from tailor.erased import Identity
    from tailor.exports import redact

    cfg = config(*(destination(t, None) for t in TOOLS), dest(name="lines", fmt="jsonl"))
    for c in (first, second, "C3"):
        wh.consent(c, True, "2026-10-01T08:00:00Z", dt.date(2026, 10, 1))
    wh.audiences(D1, [member(first), member(second), member("C3")])
    run(wh, cfg, D1)
    people = [
        Identity(customer_ids={first}, emails={f"{first.upper()}@Example.com"}),
        Identity(customer_ids={second}, emails={f"{second.lower()}@example.com"}),
        Identity(customer_ids={"C9"}, emails={"nobody@example.com"}),  # in no export
    ]
    each = tmp_path / "each"
    shutil.copytree(wh.settings.exports, each)

    batched = redact.redact_exports_many(wh.settings, people)

    one_by_one = [redact.redact_exports(types.SimpleNamespace(exports=each), p) for p in people]
    assert batched == one_by_one
    assert batched[0][0] >= 6 and batched[0][1] >= 1 and batched[2] == (0, 0), batched
    assert batched[1][0] >= 1 and batched[1][1] >= 1, batched  # (an invalid email: fewer tools)
    mine = sorted(p.relative_to(wh.settings.exports) for p in wh.settings.exports.rglob("*"))
    theirs = sorted(p.relative_to(each) for p in each.rglob("*"))
    assert mine == theirs
    for rel in mine:
        a, b = wh.settings.exports / rel, each / rel
        if rel.name == "manifest.json":
            # the same, but for an API requests file's changed requests: a request that
            # named both is one change in one pass, and a change in each of two passes
            one, two = json.loads(a.read_text()), json.loads(b.read_text())
            for x, y in zip(one["files"], two["files"], strict=True):
                if x["role"] == "api_requests":
                    assert 0 < x.pop("redacted_rows") <= y.pop("redacted_rows")
            assert one == two, rel
        elif a.is_file():
            assert a.read_bytes() == b.read_bytes(), rel
    for path in wh.settings.exports.rglob("*.csv"):
        ids = {v.lower() for row in csv.reader(io.StringIO(path.read_text())) for v in row}
        assert not ids & {first.lower(), second.lower(), f"{first.lower()}@example.com"}, path
        assert not ids & {f"{second.lower()}@example.com"}, path
    gone = {first.lower(), second.lower(), f"{first.lower()}@example.com"}
    gone.add(f"{second.lower()}@example.com")
    for path in wh.settings.exports.rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            values = {v.lower() for v in redact._strings(json.loads(line)) if isinstance(v, str)}
            assert not values & gone, (path, line)
    text = "".join(p.read_text() for p in wh.settings.exports.rglob("*") if p.is_file()).lower()
    assert "c3@example.com" in text


def test_a_mailchimp_member_added_without_email_consent_is_never_subscribed():
    cfg = config(
        dest(name="mc_mail", api={"list_id": "L"}),
        dest(name="mc_site", consent="personalization", api={"list_id": "L"}),
    )
    change = [apis.Change("upsert", {"Email Address": "a@x.com"}, {"Email Address": "a@x.com"})]
    status = {}
    for name in ("mc_mail", "mc_site"):
        d = cfg.get(name)
        (req,) = apis.requests_for(
            d.format, change, d.api, destination=name, run_date="2026-10-05", key=d.key
        )
        put = json.loads(req.body["operations"][0]["body"])
        status[name] = put["status_if_new"]
    assert status == {"mc_mail": "subscribed", "mc_site": "transactional"}
