"""The dbt project on a small generated data set, built for real.

One data set (the generator plus a few hand-written scenario files whose right answers
are known) is built twice:

* ``full``: every day loaded, then one ``dbt build --full-refresh`` (tests included);
* ``daily``: loaded and built day by day (run date = each day in turn), the way the
  nightly DAG runs, then an earlier day rerun out of order and the last day run again.

The tests check what a user of the marts relies on, and that both ways give exactly the
same tables, late events included.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import gzip
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from tailor import ingest, transform
from tailor.settings import Settings, get_settings
from tailor.warehouse import connect
from tests.integration.dbt_scenario import (
    ALL_DAYS,
    ANON,
    DAYS,
    INTERMEDIATE,
    LAST,
    MARTS,
    MOVED_AWAY_ANON,
    MOVED_LATER_ANON,
    MOVED_TO_ANON,
    NEWSLETTER_ANON,
    READER,
    REDELIVERED,
    SELECT,
    SHOPPER,
    START,
    TURNED_IDENTIFY_ANON,
    write_scenario,
)

pytestmark = pytest.mark.integration


def _settings(root: Path) -> Settings:
    base = get_settings()
    data = root / "data"
    return dataclasses.replace(
        base,
        data=data,
        warehouse=data / "warehouse" / "tailor.duckdb",
        snapshot=data / "warehouse" / "tailor_published.duckdb",
        landing=root / "landing",
        ground_truth=root / "ground_truth",
        duckdb_temp=data / "tmp" / "duckdb",
        duckdb_memory_limit="1GB",
        duckdb_threads=None,
    )


def rows(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    con = connect(settings=settings, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def load(settings: Settings, days: list[dt.date]) -> None:
    con = connect(settings=settings)
    try:
        for d in days:
            ingest.load_day(con, settings.landing, d)
    finally:
        con.close()


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> tuple[Path, Path]:
    from tailor.synthetic.config import GeneratorConfig
    from tailor.synthetic.driver import generate

    root = tmp_path_factory.mktemp("dbt_data")
    config = GeneratorConfig(customers=150, products=40, days=DAYS, start=START, seed=11)
    generate(config, root / "landing", root / "ground_truth")
    write_scenario(root / "landing")
    return root / "landing", root / "ground_truth"


def _warehouse(tmp_path_factory, landing: tuple[Path, Path], name: str) -> Settings:
    s = _settings(tmp_path_factory.mktemp(name))
    return dataclasses.replace(s, landing=landing[0], ground_truth=landing[1])


@pytest.fixture(scope="module")
def full(tmp_path_factory, landing) -> Settings:
    """Everything loaded, then one full-refresh build with every test."""
    s = _warehouse(tmp_path_factory, landing, "full")
    load(s, ALL_DAYS)
    transform.build(LAST, full_refresh=True, select=SELECT, settings=s)
    return s


def _snapshot_marts(settings: Settings, schema: str) -> None:
    con = connect(settings=settings)
    try:
        con.execute(f"create schema if not exists {schema}")
        for table in MARTS:
            con.execute(f"create or replace table {schema}.{table} as select * from marts.{table}")
        con.execute(
            f"create or replace table {schema}.customer_segment_history as "
            "select * from marts.customer_segment_history"
        )
    finally:
        con.close()


@pytest.fixture(scope="module")
def daily(tmp_path_factory, landing) -> Settings:
    """Loaded and built one day at a time, as the nightly run does. The marts as they
    stood after day 3 are kept in schema ``after_day_3``."""
    s = _warehouse(tmp_path_factory, landing, "daily")
    for d in ALL_DAYS:
        load(s, [d])
        transform.build(d, select=SELECT, settings=s, tests=False)
        if d == ALL_DAYS[2]:
            _snapshot_marts(s, "after_day_3")
    return s


# --------------------------------------------------------------------------- helpers


def columns(settings: Settings, schema: str, table: str) -> list[str]:
    return [
        c
        for (c,) in rows(
            settings,
            "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
            "order by ordinal_position",
            [schema, table],
        )
        if not c.startswith("_")
    ]


def differences(
    a: Settings,
    b: Settings,
    schema: str,
    table: str,
    where: str = "true",
    b_schema: str | None = None,
) -> tuple[int, int, int]:
    """(rows only in a, rows only in b, rows in a): EXCEPT ALL both ways."""
    cols = ", ".join(f'"{c}"' for c in columns(a, schema, table))
    con = duckdb.connect()
    try:
        con.execute(f"attach '{a.warehouse}' as wa (read_only)")
        if b.warehouse != a.warehouse:
            con.execute(f"attach '{b.warehouse}' as wb (read_only)")
        left = f"select {cols} from wa.{schema}.{table} where {where}"
        db_b = "wa" if b.warehouse == a.warehouse else "wb"
        right = f"select {cols} from {db_b}.{b_schema or schema}.{table} where {where}"
        only_a = con.execute(f"select count(*) from ({left} except all {right})").fetchone()[0]
        only_b = con.execute(f"select count(*) from ({right} except all {left})").fetchone()[0]
        n = con.execute(f"select count(*) from ({left})").fetchone()[0]
    finally:
        con.close()
    return only_a, only_b, n


# --------------------------------------------------------------------------- tests: what users see


def test_every_buyer_has_an_rfm_row_scored_1_to_5(full):
    missing = rows(
        full,
        """
        select o.customer_id from marts.orders o
        left join marts.customer_rfm r using (customer_id)
        where o.is_purchase and o.customer_id is not null and r.customer_id is null
    """,
    )
    assert missing == []
    (n, bad, segments) = rows(
        full,
        """
        select count(*),
               count(*) filter (where not (r_score between 1 and 5 and f_score between 1 and 5
                                           and m_score between 1 and 5) or rfm_segment is null),
               count(distinct rfm_segment)
        from marts.customer_rfm
    """,
    )[0]
    assert n > 50 and bad == 0 and segments >= 5
    # higher scores mean more recent, more frequent, higher spend
    (
        best_recency,
        worst_recency,
        best_frequency,
        worst_frequency,
        best_monetary,
        worst_monetary,
    ) = rows(
        full,
        """
        select
            avg(recency_days) filter (where r_score = (select max(r_score) from marts.customer_rfm)),
            avg(recency_days) filter (where r_score = 1),
            avg(frequency) filter (where f_score = (select max(f_score) from marts.customer_rfm)),
            avg(frequency) filter (where f_score = 1),
            avg(monetary) filter (where m_score = 5),
            avg(monetary) filter (where m_score = 1)
        from marts.customer_rfm
    """,
    )[0]
    assert (
        best_recency < worst_recency
        and best_frequency > worst_frequency
        and best_monetary > worst_monetary
    )


def test_anonymous_events_are_attributed_once_the_visitor_logs_in(full):
    events = rows(
        full,
        """
        select message_id, customer_id from intermediate.int_events_stitched
        where anonymous_id = ? order by event_at
    """,
        [ANON],
    )
    assert [m for m, _ in events] == ["sc-e1", "sc-e2", "sc-e3", "sc-e4", "sc-e7", "sc-e5", "sc-e6"]
    assert {c for _, c in events} == {SHOPPER}
    sessions = rows(full, "select customer_id from marts.sessions where anonymous_id = ?", [ANON])
    assert sessions and {c for (c,) in sessions} == {SHOPPER}
    (views,) = rows(
        full, "select product_views from marts.customers where customer_id = ?", [SHOPPER]
    )[0]
    assert views == 3


def test_a_newsletter_email_links_the_visitor_to_the_crm_customer(full):
    link = rows(
        full,
        """
        select customer_id, link_source, is_merged from intermediate.int_identity_graph
        where anonymous_id = ?
    """,
        [NEWSLETTER_ANON],
    )
    assert link == [(READER, "email", True)]
    attributed = rows(
        full,
        "select customer_id from intermediate.int_events_stitched where anonymous_id = ?",
        [NEWSLETTER_ANON],
    )
    assert {c for (c,) in attributed} == {READER}


def test_identity_graph_matches_the_generators_answers(full):
    truth = {}
    with open(full.ground_truth / "identities.csv") as f:
        for r in csv.DictReader(f):
            if r["identified_by"] != "none":
                truth[r["anonymous_id"]] = r["customer_id"]
    merged = dict(
        rows(
            full,
            "select anonymous_id, customer_id from intermediate.int_identity_graph where is_merged",
        )
    )
    wrong = {a: (c, merged.get(a)) for a, c in truth.items() if merged.get(a) != c}
    assert truth and wrong == {}


def test_sessions_split_after_thirty_minutes_of_inactivity(full):
    scenario = rows(
        full,
        """
        select started_at, ended_at, event_count, cart_adds, duration_seconds from marts.sessions
        where anonymous_id = ? and session_date = ? order by started_at
    """,
        [ANON, START],
    )
    day1 = dt.datetime.combine(START, dt.time())
    assert scenario == [
        (day1.replace(hour=10), day1.replace(hour=10, minute=30), 2, 0, 1800),
        # the late event (four days late) extends the second session
        (day1.replace(hour=11, second=1), day1.replace(hour=11, minute=20), 3, 1, 1199),
    ]
    # everywhere: consecutive sessions of a visitor are more than 30 minutes apart, and no
    # gap inside a session is longer than 30 minutes
    (too_close,) = rows(
        full,
        """
        select count(*) from (
            select started_at - lag(ended_at) over (partition by visitor_id order by started_at) as gap
            from marts.sessions
        ) where gap <= interval 30 minute
    """,
    )[0]
    (too_long,) = rows(
        full,
        """
        with e as (
            select visitor_id, event_at,
                   event_at - lag(event_at) over (partition by visitor_id order by event_at, message_id) as gap
            from intermediate.int_events_stitched where event_type <> 'identify'
        )
        select count(*) from e
        join marts.sessions s
          on e.visitor_id = s.visitor_id and e.event_at > s.started_at and e.event_at <= s.ended_at
        where e.gap > interval 30 minute
    """,
    )[0]
    assert too_close == 0 and too_long == 0


def test_a_redelivery_that_moves_an_event_takes_it_out_of_its_old_session(full, daily):
    day1 = dt.datetime.combine(START, dt.time())
    expected = {
        MOVED_LATER_ANON: [(day1.replace(hour=13), day1.replace(hour=13), 1)],
        MOVED_AWAY_ANON: [],
        MOVED_TO_ANON: [(day1.replace(hour=11), day1.replace(hour=11), 1)],
        TURNED_IDENTIFY_ANON: [(day1.replace(hour=8), day1.replace(hour=8), 1)],
    }
    for settings in (full, daily):
        for visitor, sessions in expected.items():
            got = rows(
                settings,
                "select started_at, ended_at, event_count from marts.sessions"
                " where visitor_id = ? order by started_at",
                [visitor],
            )
            assert got == sessions, (settings.data.parent.name, visitor)


def test_consent_reflects_the_latest_record(full):
    scenario = rows(
        full,
        """
        select has_email_marketing_consent, has_personalization_consent, has_sms_marketing_consent
        from marts.customers where customer_id = ?
    """,
        [SHOPPER],
    )
    assert scenario == [(False, True, False)]
    # the generator's final consent per customer and purpose
    truth = {}
    with open(full.ground_truth / "consents.csv") as f:
        for r in csv.DictReader(f):
            truth[(r["customer_id"], r["purpose"])] = r["granted"] == "true"
    got = {}
    for cid, email, sms, pers, ana in rows(
        full,
        """
        select customer_id, has_email_marketing_consent, has_sms_marketing_consent,
               has_personalization_consent, has_analytics_consent
        from marts.customers where is_in_crm
    """,
    ):
        got.update(
            {
                (cid, "email_marketing"): email,
                (cid, "sms_marketing"): sms,
                (cid, "personalization"): pers,
                (cid, "analytics"): ana,
            }
        )
    wrong = {k: (v, got.get(k)) for k, v in truth.items() if k in got and got[k] != v}
    assert len([k for k in truth if k in got]) > 100 and wrong == {}


def test_events_are_deduplicated_and_unknown_products_kept(full):
    (deliveries,) = rows(
        full,
        "select delivery_count from intermediate.int_events_stitched where message_id = 'sc-e3'",
    )[0]
    assert deliveries == 2
    (known,) = rows(
        full,
        "select is_known_product from intermediate.int_events_stitched where message_id = 'sc-e2'",
    )[0]
    assert known is False
    (ip, local_hour) = rows(
        full,
        """
        select ip_truncated, extract(hour from local_event_at) from intermediate.int_events_stitched
        where message_id = 'sc-e1'
    """,
    )[0]
    assert ip == "203.0.113.0" and local_hour == 12  # 10:00 UTC is noon in Berlin (CEST)
    (email,) = rows(full, "select email from marts.customers where customer_id = ?", [SHOPPER])[0]
    assert email == "scenario.shopper@example.com"


def test_an_earlier_delivery_received_last_stays_the_events_content(full, daily):
    """Day by day (each night looking for the day's events' earlier deliveries on the
    landing days recorded for them) as in one full refresh: sc-r1's userId of day 2,
    received after its deliveries of days 1, 3 and 5; sc-r2's products of day 2."""
    for s in (full, daily):
        assert rows(
            s,
            "select user_id, customer_id, delivery_count, first_arrived_date, last_arrived_date "
            "from intermediate.int_events_stitched where message_id = 'sc-r1'",
        ) == [(REDELIVERED, REDELIVERED, 4, ALL_DAYS[0], ALL_DAYS[4])]
        assert rows(
            s,
            "select user_id from intermediate.int_identity_evidence_collected where message_id = 'sc-r1'",
        ) == [(REDELIVERED,)]
        assert rows(
            s,
            "select product_id, quantity, order_total from intermediate.int_order_events_unnested "
            "where message_id = 'sc-r2'",
        ) == [("P000001", 1, 10)]


def test_lifecycle_and_features_cover_every_customer(full):
    (customers, lifecycle, features, flags, nulls) = rows(
        full,
        """
        select (select count(*) from marts.customers),
               (select count(*) from marts.customer_lifecycle),
               (select count(*) from marts.customer_features),
               (select count(*) from marts.customer_flags),
               (select count(*) from marts.customer_features
                where recency_days is null or monetary is null or sessions is null or mobile_share is null)
    """,
    )[0]
    # customers sign up over a data set's first 30 days: by the last day of a short one,
    # most of the 150 generated have (the rest are not in the CRM yet)
    assert customers == lifecycle == features == flags and customers >= 100 and nulls == 0
    stages = dict(
        rows(full, "select lifecycle_stage, count(*) from marts.customer_lifecycle group by 1")
    )
    assert set(stages) <= {"new", "active", "engaged", "at_risk", "lapsed", "churned"}
    (interactions, scored) = rows(
        full,
        """
        select count(*), count(*) filter (where interaction_score > 0) from marts.user_item_interactions
    """,
    )[0]
    assert interactions > 100 and scored == interactions


# --------------------------------------------------------------------------- tests: incremental = full refresh


def test_day_by_day_equals_one_full_refresh(full, daily):
    for table in MARTS:
        only_daily, only_full, n = differences(daily, full, "marts", table)
        assert n > 0, f"marts.{table} is empty"
        assert (only_daily, only_full) == (0, 0), (
            f"marts.{table} differs: {only_daily} rows only day by day, {only_full} only in the full refresh"
        )
    for table in INTERMEDIATE:
        only_daily, only_full, _ = differences(daily, full, "intermediate", table)
        assert (only_daily, only_full) == (0, 0), f"intermediate.{table} differs"
    only_daily, only_full, n = differences(
        daily, full, "marts", "customer_segment_history", where=f"snapshot_date = date '{LAST}'"
    )
    assert n > 0 and (only_daily, only_full) == (0, 0)
    (days,) = rows(
        daily, "select count(distinct snapshot_date) from marts.customer_segment_history"
    )[0]
    assert days == DAYS


@pytest.fixture(scope="module")
def daily_lookback(tmp_path_factory, landing) -> Settings:
    """Loaded and built day by day reprocessing the 3 landing days before each run date
    as well (the default is none: every earlier day is outside the window, so the
    incremental models find what a new day changes in the history without rebuilding
    it). A wider window must give the same tables."""
    s = _warehouse(tmp_path_factory, landing, "daily_lookback")
    for d in ALL_DAYS:
        load(s, [d])
        transform.build(
            d, select=SELECT, settings=s, tests=False, vars={"tailor__lookback_days": 3}
        )
    return s


def test_day_by_day_with_a_lookback_window_equals_one_full_refresh(full, daily_lookback):
    for schema, tables in (("marts", MARTS), ("intermediate", INTERMEDIATE)):
        for table in tables:
            only_daily, only_full, _ = differences(daily_lookback, full, schema, table)
            assert (only_daily, only_full) == (0, 0), (
                f"{schema}.{table} differs: {only_daily} rows only day by day, "
                f"{only_full} only in the full refresh"
            )


def test_a_night_recomputes_only_the_customers_the_day_touched(daily):
    """Customer totals of people with nothing new are carried over, not aggregated again."""
    (carried, recomputed) = rows(
        daily,
        f"""
        select count(*) filter (where _built_for_date < date '{LAST}'),
               count(*) filter (where _built_for_date = date '{LAST}')
        from intermediate.int_customer_events_totalled
    """,
    )[0]
    assert carried > 0 and recomputed > 0
    built_for = dict(
        rows(
            daily,
            "select customer_id, _built_for_date from intermediate.int_customer_events_totalled "
            "where customer_id in (?, ?)",
            [SHOPPER, READER],
        )
    )
    # the newsletter reader did nothing after day 2; the shopper's day-1 event that
    # arrived on day 5 made day 5 compute their totals again
    assert built_for == {READER: ALL_DAYS[1], SHOPPER: LAST}


def test_rerunning_an_earlier_day_gives_that_days_tables_then_the_latest_again(full, daily):
    """Out of order: with every day loaded, build day 3 again, then the last day."""
    day3 = ALL_DAYS[2]
    transform.build(day3, select=SELECT, settings=daily, tests=False)
    for table in [*MARTS, "customer_segment_history"]:
        where = f"snapshot_date = date '{day3}'" if table == "customer_segment_history" else "true"
        only_now, only_then, _ = differences(
            daily, daily, "marts", table, where=where, b_schema="after_day_3"
        )
        assert (only_now, only_then) == (0, 0), (
            f"marts.{table} as of day 3 differs from the in-order run"
        )

    transform.build(LAST, select=SELECT, settings=daily, tests=False)
    for table in MARTS:
        only_daily, only_full, _ = differences(daily, full, "marts", table)
        assert (only_daily, only_full) == (0, 0), (
            f"marts.{table} differs after running the last day again"
        )


def _priced(line: str) -> str | None:
    """The messageId of an event line with a price, else None."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    properties = record.get("properties")
    priced = isinstance(properties, dict) and properties.get("price") is not None
    return record.get("messageId") if priced else None


def _day_two_to_correct(
    tmp_path: Path, daily: Settings, day: dt.date = ALL_DAYS[1]
) -> tuple[Settings, dt.date, Path, list]:
    """A copy of the day-by-day warehouse and its landing zone, with the events file of
    ``day`` (day 2) and its lines (to correct, then reload)."""
    landing = tmp_path / "landing"
    shutil.copytree(daily.landing, landing)
    s = dataclasses.replace(_settings(tmp_path), landing=landing, ground_truth=daily.ground_truth)
    s.warehouse.parent.mkdir(parents=True)
    shutil.copy(daily.warehouse, s.warehouse)
    [path] = (landing / "events" / f"dt={day}").glob("events.ndjson.gz")
    with gzip.open(path, "rt") as f:
        lines = f.read().splitlines()
    return s, day, path, lines


def test_a_reloaded_day_corrects_and_removes_events_everywhere(tmp_path, daily):
    """Day 2's events file loses one order and corrects a line price of another, and loses
    every event of a session, and is reloaded after later days were built: the next
    night's tables (order lines, identity evidence, sessions, all built incrementally)
    are those a full rebuild of the same raw data writes."""
    s, day, path, lines = _day_two_to_correct(tmp_path, daily)
    # a session whose every event the file delivered once, its visitor's first with an
    # event of day 2: the night rebuilds none of its visitor's events before it
    removed_session = rows(
        s,
        """
        with members as (
            select x.visitor_id, x.started_at, e.message_id,
                e.delivery_count = 1 and e.first_arrived_date = $day
                    and e.last_arrived_date = $day and e.message_id not like 'sc-%' as only_here
            from marts.sessions x
            join intermediate.int_events_stitched e
                on x.visitor_id = e.visitor_id and e.event_at between x.started_at and x.ended_at
                and e.event_type <> 'identify'
        ),
        first_of_day as (
            select visitor_id, min(event_at) as first_at from intermediate.int_events_stitched
            where last_arrived_date = $day group by visitor_id
        )
        select list(message_id order by message_id) from members
        join first_of_day using (visitor_id)
        where members.started_at = first_of_day.first_at
        group by members.visitor_id, members.started_at
        having bool_and(only_here)
        order by members.visitor_id limit 1
        """,
        {"day": day},
    )
    assert removed_session, "no session to remove"
    gone = removed_session[0][0]
    kept = [line for line in lines if not any(f'"{m}"' in line for m in gone)]
    assert len(kept) == len(lines) - len(gone), gone  # (some lines are broken)
    lines = kept
    built = {
        m
        for (m,) in rows(
            s,
            "select message_id from intermediate.int_order_events_unnested "
            "where last_arrived_date = ? and position = 2",
            [day],
        )
    }
    orders = [i for i, line in enumerate(lines) if '"Order Completed"' in line]
    orders = [i for i in orders if json.loads(lines[i])["messageId"] in built]
    removed, corrected = json.loads(lines[orders[0]]), json.loads(lines[orders[1]])
    corrected["properties"]["products"][1]["price"] = 12345.0
    lines[orders[1]] = json.dumps(corrected)
    del lines[orders[0]]
    with gzip.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")

    load(s, [day])
    transform.build(LAST, select=SELECT, settings=s, tests=False)
    lines_of = dict(
        rows(
            s,
            "select message_id, list(unit_price order by position) "
            "from intermediate.int_order_events_unnested where message_id in (?, ?) group by 1",
            [removed["messageId"], corrected["messageId"]],
        )
    )
    assert removed["messageId"] not in lines_of
    assert lines_of[corrected["messageId"]][1] == 12345.0

    rebuilt = dataclasses.replace(s, warehouse=tmp_path / "rebuilt.duckdb")
    shutil.copy(s.warehouse, rebuilt.warehouse)
    transform.build(LAST, full_refresh=True, select=SELECT, settings=rebuilt, tests=False)
    for table in INTERMEDIATE:
        assert differences(s, rebuilt, "intermediate", table)[:2] == (0, 0), table
    assert rows(
        s,
        "select count(*) from intermediate.int_events_stitched where list_contains(?, message_id)",
        [gone],
    ) == [(0,)]
    for table in MARTS:
        assert differences(s, rebuilt, "marts", table)[:2] == (0, 0), table


def test_a_day_rerun_after_its_file_lost_events_equals_a_full_rebuild(tmp_path, daily):
    """The last day's events file is replaced by one without 35 of its lines, reloaded and
    the day run again (the usual fix of a bad delivery): what the first run built from the
    lost events goes everywhere (stitched events, identity evidence and graph, sessions,
    customer aggregates), as a full rebuild of the same raw data has it."""
    s, _, path, lines = _day_two_to_correct(tmp_path, daily, LAST)
    before = rows(s, "select count(*) from intermediate.int_events_stitched")[0][0]
    del lines[5:40]
    with gzip.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")

    load(s, [LAST])
    transform.build(LAST, select=SELECT, settings=s, tests=False)
    after = rows(s, "select count(*) from intermediate.int_events_stitched")[0][0]
    assert after < before

    rebuilt = dataclasses.replace(s, warehouse=tmp_path / "rebuilt.duckdb")
    shutil.copy(s.warehouse, rebuilt.warehouse)
    transform.build(LAST, full_refresh=True, select=SELECT, settings=rebuilt, tests=False)
    for table in INTERMEDIATE:
        assert differences(s, rebuilt, "intermediate", table)[:2] == (0, 0), table
    for table in MARTS:
        assert differences(s, rebuilt, "marts", table)[:2] == (0, 0), table


def test_a_day_reloaded_with_corrected_records_is_rebuilt_however_old(tmp_path, full, daily):
    """Day 2's events file is corrected (same message ids, so the day's count does not
    change) and the day reloaded after later days were built: the next night rebuilds
    that day's events, and only that day's, though it is far outside the window."""
    s, day, path, lines = _day_two_to_correct(tmp_path, daily)
    once = {
        m
        for (m,) in rows(
            s,
            "select message_id from intermediate.int_events_stitched "
            "where delivery_count = 1 and last_arrived_date = ?",
            [day],
        )
    }
    at = next(i for i, line in enumerate(lines) if _priced(line) in once)
    corrected = json.loads(lines[at])
    corrected["properties"]["price"] = 12345.0
    lines[at] = json.dumps(corrected)  # the other lines stay byte for byte as delivered
    with gzip.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")

    def processed_tonight() -> dict[dt.date, tuple[int, int]]:
        """Per landing day: (events, events (re)built by the run of LAST)."""
        found = rows(
            s,
            "select last_arrived_date, count(*), count(*) filter (where _processed_for_date = ?) "
            "from intermediate.int_events_stitched group by 1",
            [LAST],
        )
        return {d: (n, k) for d, n, k in found}

    before = processed_tonight()
    load(s, [day])
    transform.build(LAST, select=SELECT, settings=s, tests=False)
    after = processed_tonight()

    (price,) = rows(
        s,
        "select price from intermediate.int_events_stitched where message_id = ?",
        [corrected["messageId"]],
    )[0]
    assert price == 12345.0
    events, rebuilt = after[day]
    assert rebuilt == events > 0
    assert after[ALL_DAYS[2]] == before[ALL_DAYS[2]], "a day whose loads did not change was rebuilt"
    # everything but the corrected price is as the in-order build had it
    only_here, only_there, _ = differences(
        s,
        full,
        "intermediate",
        "int_events_stitched",
        where=f"message_id <> '{corrected['messageId']}'",
    )
    assert (only_here, only_there) == (0, 0)


def test_the_event_id_check_follows_the_rows_a_night_writes(tmp_path, daily):
    """The night's uniqueness test of int_events_stitched reads the rows the run wrote
    against the whole table: an old event written again tonight fails it."""
    s = dataclasses.replace(_settings(tmp_path), landing=daily.landing)
    s.warehouse.parent.mkdir(parents=True)
    shutil.copy(daily.warehouse, s.warehouse)
    select = ["test", "--select", "int_events_stitched,test_name:unique_since_last_run"]
    night = {"tailor__run_date": str(LAST)}
    transform.run_dbt(select, settings=s, vars=night)  # passes as built
    con = connect(settings=s)
    try:
        con.execute(
            "insert into intermediate.int_events_stitched "
            "select * replace (cast(? as date) as _processed_for_date) "
            "from intermediate.int_events_stitched where last_arrived_date = ? limit 1",
            [LAST, ALL_DAYS[0]],
        )
    finally:
        con.close()
    with pytest.raises(transform.DbtError, match="unique_since_last_run"):
        transform.run_dbt(select, settings=s, vars=night)
