"""Raw layer: what the day's landing partition delivered (``raw.* where _dt = D``).

The loader already quarantines records that miss a required field, carry an unparseable
timestamp or a price of zero or below; these suites check that contract held, and add what
the loader cannot see record by record:

===========================  ===============================================  ==========
check                        how                                              severity
===========================  ===============================================  ==========
required fields present      not null on each source's required columns;      critical
                             every event has an anonymousId or a userId
event types in the known     ``type`` in ``tailor.sources.EVENT_TYPES``;      critical
set                          track events have an event name                  warning
timestamps in the window     event time within [D - lateness, D + 1 day +     critical
                             clock skew): critical when more than 1% of the   (1% /
                             partition is outside, warning for any event;     any:
                             lateness = dbt var ``tailor__late_event_days``   warning)
                             (late events are built all the same); other
                             sources' timestamps not after the partition's end
well-formed ids              ``ID_REGEX`` on every id; user and anonymous     critical
                             ids never a placeholder ('undefined', 'null')
prices >= 0                  ``properties.price``, order line unit price,     critical
                             catalog price
row counts do not collapse   today's rows >= 50% of the median of the         critical
                             previous 7 loaded days (``raw.load_log``),       (events,
                             once there are 3 such days of 100+ rows          orders)
load log reconciles          read = loaded + quarantined for every file       critical
quarantine rate              at most 5% of a source's records quarantined,    warning
                             judged once it read 20+ records that day (one
                             bad line of a 1-line file is not a trend; it is
                             quarantined and in the report either way)
===========================  ===============================================  ==========
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import great_expectations.expectations as gxe

from expectations.suites.base import (
    CRITICAL,
    WARNING,
    Severity,
    SuiteContext,
    SuitePlan,
    TableSuite,
    between,
    in_set,
    no_placeholder_ids,
    no_rows,
    not_null,
    strict_and_mostly,
    utc,
    well_formed_id,
)
from tailor.sources import CONSENT_PURPOSES, EVENT_TYPES

CLOCK_SKEW = dt.timedelta(hours=1)  # how far past the partition's end a timestamp may be
DEFAULT_LATENESS_DAYS = 3  # when the dbt project does not say (tailor__late_event_days)
WINDOW_MOSTLY = 0.99  # below this share of events in the window, the partition is broken

ROW_COUNT_MIN_RATIO = 0.5  # today's rows / median of the previous days
ROW_COUNT_HISTORY_DAYS = 7
ROW_COUNT_MIN_HISTORY = 3  # previous days with data needed before the check applies
ROW_COUNT_MIN_BASELINE = 100  # below this median, day-to-day noise is too large to judge
ROW_COUNT_SEVERITY: dict[str, Severity] = {"events": CRITICAL, "orders": CRITICAL}

MAX_QUARANTINE_SHARE = 0.05
QUARANTINE_MIN_ROWS = 20  # below this many records read, a share says nothing


def lateness_days(ctx: SuiteContext) -> int:
    return int(ctx.dbt_vars.get("tailor__late_event_days", DEFAULT_LATENESS_DAYS))


def partition_end(ctx: SuiteContext) -> dt.datetime:
    """The latest acceptable timestamp (exclusive) for the run date's partition."""
    return dt.datetime.combine(ctx.run_date + dt.timedelta(days=1), dt.time()) + CLOCK_SKEW


def row_count_floor(ctx: SuiteContext, source: str) -> tuple[int, str]:
    """The fewest rows the partition may hold, from the previous days in ``raw.load_log``,
    and the reason (0 when there is not enough history to judge)."""
    if not ctx.exists("raw.load_log"):
        return 0, "no load log yet"
    start = ctx.run_date - dt.timedelta(days=ROW_COUNT_HISTORY_DAYS)
    days, median = ctx.con.execute(
        """
        select count(*), median(rows)
        from (
            select _dt, sum(rows_loaded) as rows
            from raw.load_log
            where source = ? and _dt >= ? and _dt < ?
            group by _dt
        )
        """,
        [source, start, ctx.run_date],
    ).fetchone()
    if days < ROW_COUNT_MIN_HISTORY or median is None or median < ROW_COUNT_MIN_BASELINE:
        return 0, f"not enough history ({days} previous days, median {median or 0:.0f} rows)"
    floor = math.floor(ROW_COUNT_MIN_RATIO * float(median))
    return floor, (
        f"at least {ROW_COUNT_MIN_RATIO:.0%} of the median of the previous {days} days "
        f"({median:.0f} rows)"
    )


def row_count(ctx: SuiteContext, source: str) -> gxe.ExpectTableRowCountToBeBetween:
    floor, why = row_count_floor(ctx, source)
    return gxe.ExpectTableRowCountToBeBetween(
        min_value=floor,
        severity=ROW_COUNT_SEVERITY.get(source, WARNING),
        description=f"the partition does not collapse: {floor} rows or more ({why})",
    )


def not_after_partition(ctx: SuiteContext, column: str, delivered: str) -> gxe.Expectation:
    """``column`` (the UTC form of the delivered ``delivered``) is not in the future of the
    partition: nothing can have happened after the day it was delivered."""
    end = partition_end(ctx)
    return between(
        column,
        max_value=end,
        strict_max=True,
        severity=WARNING,
        description=f"`{delivered}` is not after the partition's end plus {CLOCK_SKEW} of clock skew ({end:%Y-%m-%d %H:%M} UTC)",
    )


def partition(table: str, ctx: SuiteContext, extra: str = "") -> str:
    """The run date's partition of a raw table (``extra``: computed columns)."""
    return f"select *{', ' + extra if extra else ''} from {table} where _dt = {ctx.day}"


# --------------------------------------------------------------------------- sources


def events(ctx: SuiteContext) -> SuitePlan:
    late = lateness_days(ctx)
    start = dt.datetime.combine(ctx.run_date - dt.timedelta(days=late), dt.time())
    end = partition_end(ctx)
    query = (
        "select message_id, type, event, anonymous_id, user_id, event_timestamp, received_at, "
        f"{utc('event_timestamp')} as event_at_utc, "
        "try_cast(json_extract_string(properties, '$.price') as double) as property_price "
        f"from raw.events where _dt = {ctx.day}"
    )
    window = (
        f"`event_timestamp` within the partition's day plus {late} days of allowed lateness "
        f"and {CLOCK_SKEW} of clock skew ({start:%Y-%m-%d} to {end:%Y-%m-%d %H:%M} UTC)"
    )
    return SuitePlan(
        query=query,
        expectations=[
            row_count(ctx, "events"),
            not_null("message_id"),
            not_null("type"),
            not_null("event_timestamp"),
            no_rows(
                "select message_id, type, event from {batch} "
                "where anonymous_id is null and user_id is null",
                "every event has an anonymousId or a userId",
            ),
            in_set("type", EVENT_TYPES),
            no_rows(
                "select message_id, type, event from {batch} "
                "where type = 'track' and (event is null or trim(event) = '')",
                "every track event has an event name",
                severity=WARNING,
            ),
            well_formed_id("message_id"),
            well_formed_id("anonymous_id"),
            well_formed_id("user_id"),
            no_placeholder_ids("anonymous_id"),
            no_placeholder_ids("user_id"),
            not_null(
                "event_at_utc",
                description="`event_timestamp` parses as an ISO-8601 timestamp",
            ),
            *strict_and_mostly(
                between,
                "event_at_utc",
                start,
                end,
                strict_max=True,
                mostly=WINDOW_MOSTLY,
                description=window,
            ),
            between(
                "property_price",
                min_value=0,
                description="`properties.price` is 0 or more",
            ),
        ],
    )


@dataclass(frozen=True)
class SourceChecks:
    """The checks of a source other than events, as data: ``columns`` holds one row per
    checked column, ``column check...``, the checks in the order they run:

    ===========  =========================================================================
    required     not null
    id           a well-formed id (``ID_REGEX``)
    real         never a placeholder id ('undefined', 'null')
    >=N          N or more
    timestamp    parses as a timestamp (its UTC form, ``<column>_utc``, is not null)
    recent       not after the partition's end (its UTC form)
    purpose      trimmed and lower-cased, one of ``CONSENT_PURPOSES``
    ===========  =========================================================================

    ``extra_columns`` (SQL) are computed for ``extra``, the checks that run last."""

    columns: str
    row_count: bool = True
    extra_columns: tuple[str, ...] = ()
    extra: Callable[[SuiteContext], list[gxe.Expectation]] = lambda ctx: []


SOURCE_CHECKS: dict[str, SourceChecks] = {
    "customers": SourceChecks(
        """
        customer_id   required id real
        updated_at    required timestamp recent
        """
    ),
    "orders": SourceChecks(
        """
        order_id      required id
        customer_id   id real
        ordered_at    required timestamp
        """,
        extra_columns=(f"{utc('coalesce(updated_at, ordered_at)')} as changed_at_utc",),
        extra=lambda ctx: [
            not_after_partition(ctx, "changed_at_utc", "updated_at (else ordered_at)")
        ],
    ),
    "order_items": SourceChecks(
        """
        order_id      required id
        product_id    required id
        line_number   required >=1
        quantity      required
        unit_price    required >=0
        """
    ),
    "products": SourceChecks(
        """
        product_id    required id
        title         required
        price         required >=0
        updated_at    recent
        """
    ),
    "consents": SourceChecks(
        """
        consent_id    required id
        subject_id    required id real
        purpose       required purpose
        granted       required
        consented_at  timestamp recent
        """
    ),
    "erasure_requests": SourceChecks(
        """
        request_id    required id
        customer_id   id
        requested_at  timestamp
        """,
        row_count=False,
        extra=lambda ctx: [
            no_rows(
                "select request_id, requested_at from {batch} "
                "where customer_id is null and (email is null or trim(email) = '')",
                "every erasure request names a customer_id or an email (otherwise it cannot be carried out)",
                severity=WARNING,
            )
        ],
    ),
}


def _column_check(ctx: SuiteContext, column: str, check: str) -> tuple[gxe.Expectation, str]:
    """One check of :class:`SourceChecks` on a column: the expectation and the computed
    column it reads ('' for none)."""
    computed = f"{utc(column)} as {column}_utc"
    if check == "required":
        return not_null(column), ""
    if check == "id":
        return well_formed_id(column), ""
    if check == "real":
        return no_placeholder_ids(column), ""
    if check.startswith(">="):
        n = int(check[2:])
        return between(column, min_value=n, description=f"`{column}` is {n} or more"), ""
    if check == "timestamp":
        return not_null(f"{column}_utc", description=f"`{column}` parses as a timestamp"), computed
    if check == "recent":
        return not_after_partition(ctx, f"{column}_utc", column), computed
    if check == "purpose":
        return in_set(
            f"{column}_normalized",
            CONSENT_PURPOSES,
            description=f"`{column}` (trimmed, lower-case) is one of {', '.join(CONSENT_PURPOSES)}: an unknown purpose would be ignored, and with it a withdrawal",
        ), f"lower(trim({column})) as {column}_normalized"
    raise ValueError(f"unknown check {check!r} on {column}")


def source_plan(source: str, ctx: SuiteContext) -> SuitePlan:
    """The suite of a source from its row of :data:`SOURCE_CHECKS`."""
    checks = SOURCE_CHECKS[source]
    expectations = [row_count(ctx, source)] if checks.row_count else []
    computed: list[str] = []
    for line in checks.columns.strip().splitlines():
        column, *names = line.split()
        for name in names:
            expectation, sql = _column_check(ctx, column, name)
            expectations.append(expectation)
            if sql and sql not in computed:
                computed.append(sql)
    return SuitePlan(
        query=partition(f"raw.{source}", ctx, ", ".join([*computed, *checks.extra_columns])),
        expectations=[*expectations, *checks.extra(ctx)],
    )


def load_log(ctx: SuiteContext) -> SuitePlan:
    return SuitePlan(
        query=partition("raw.load_log", ctx),
        expectations=[
            no_rows(
                "select source, source_file, rows_read, rows_loaded, rows_quarantined from {batch} "
                "where rows_read <> rows_loaded + rows_quarantined",
                "every file reconciles: rows read = rows loaded + rows quarantined",
            ),
            no_rows(
                "select source, sum(rows_read) as rows_read, sum(rows_quarantined) as rows_quarantined, "
                "round(sum(rows_quarantined) / sum(rows_read), 4) as quarantined_share "
                "from {batch} group by source "
                f"having sum(rows_read) >= {QUARANTINE_MIN_ROWS}"
                f" and sum(rows_quarantined) > {MAX_QUARANTINE_SHARE} * sum(rows_read) "
                "order by source",
                f"at most {MAX_QUARANTINE_SHARE:.0%} of a source's records are quarantined"
                f" (sources that read {QUARANTINE_MIN_ROWS}+ records)",
                severity=WARNING,
            ),
        ],
    )


SUITES: list[TableSuite] = [
    TableSuite("raw.events", events, description="Segment-spec events of the day's partition"),
    *[
        TableSuite(f"raw.{source}", functools.partial(source_plan, source))
        for source in SOURCE_CHECKS
    ],
    TableSuite("raw.load_log", load_log, description="the load log of the day's files"),
]
