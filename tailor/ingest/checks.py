"""Record-level checks: the reasons a record is quarantined (``REASON_CODES``), as SQL
conditions tried in order on ``_parsed``; ``check_parsed`` gives each record the first
reason that fits, or none."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import duckdb

from tailor.sources import EVENT_FIELDS, Source
from tailor.sqlsafe import plain_name, quote_literal

# Timestamps outside [PLAUSIBLE_FROM, end of the partition day + PLAUSIBLE_AHEAD) are
# quarantined as invalid_timestamp: a clock reset (0001-01-01, 1970-01-01) or a
# "never" placeholder (9999-12-31) is not a time something happened.
PLAUSIBLE_FROM = dt.date(1990, 1, 1)
PLAUSIBLE_AHEAD = dt.timedelta(days=1)


# Record-level checks, in the order they are tried: a record gets the first reason that fits.
REASON_CODES = (
    "malformed_json",  # an NDJSON line that is not a JSON object
    "duplicate_key",  # a JSON object that names the same field twice (which one is meant?)
    "malformed_csv",  # a CSV row with the wrong number of fields or broken quoting
    "invalid_encoding",  # bytes that are not UTF-8
    "record_too_large",  # a record over MAX_RECORD_BYTES
    "missing_required_field",
    "invalid_timestamp",  # unparseable, or outside the plausible range
    "invalid_value",  # a value that does not cast to its column's type
    "non_positive_price",  # a catalog or event price of 0 or below
    "negative_price",  # an order line priced below 0 (a line at 0 is a free item: loaded)
    "erased_subject",  # a record of a person erased earlier (tailor.privacy), kept out for good
)


def _display_name(source: Source, column: str) -> str:
    """The field name as the sender wrote it (messageId, not message_id)."""
    if source.name == "events":
        for delivered, col in EVENT_FIELDS.items():
            if col == column:
                return delivered
    return column


def _timestamp_checks(source: Source, day: dt.date | None) -> list[tuple[str, str, str]]:
    """Unparseable timestamps, and those outside the plausible range: before
    ``PLAUSIBLE_FROM``, or (with a partition day) ``PLAUSIBLE_AHEAD`` past its end."""
    lowest = f"timestamptz {quote_literal(f'{PLAUSIBLE_FROM.isoformat()} 00:00:00+00')}"
    checks = []
    for col in source.timestamps:
        shown = _display_name(source, col)
        ts = f"try_cast({plain_name(col)} as timestamptz)"
        checks.append(
            (
                f"{col} is not null and {ts} is null",
                "invalid_timestamp",
                f"{quote_literal(f'unparseable timestamp in {shown}: ')} || {col}",
            )
        )
        out_of_range = f"{ts} < {lowest}"
        bound = f"before {PLAUSIBLE_FROM.isoformat()}"
        if day is not None:
            end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time()) + PLAUSIBLE_AHEAD
            out_of_range += (
                f" or {ts} >= timestamptz {quote_literal(f'{end:%Y-%m-%d %H:%M:%S}+00')}"
            )
            bound += f" or from {end:%Y-%m-%d %H:%M} UTC on ({PLAUSIBLE_AHEAD.days} day after the partition's end)"
        checks.append(
            (
                out_of_range,
                "invalid_timestamp",
                f"{quote_literal(f'implausible timestamp in {shown} ({bound}): ')} || {col}",
            )
        )
    return checks


def reason_cases(source: Source, day: dt.date | None = None) -> list[tuple[str, str, str]]:
    """(condition, reason_code, reason expression) for every record-level check after the
    structural ones (``_pre_code``), in order."""
    checks: list[tuple[str, str, str]] = []
    for col in source.required:
        checks.append(
            (
                f"{col} is null or trim({col}::varchar) = ''",
                "missing_required_field",
                quote_literal(f"missing required field: {_display_name(source, col)}"),
            )
        )
    if source.name == "events":
        checks.append(
            (
                "anonymous_id is null and user_id is null",
                "missing_required_field",
                quote_literal("missing required field: anonymousId or userId"),
            )
        )
    checks += _timestamp_checks(source, day)
    for col, typ in source.columns.items():
        if typ in ("VARCHAR", "JSON"):
            continue
        checks.append(
            (
                f"{col} is not null and try_cast({col} as {typ}) is null",
                "invalid_value",
                f"{quote_literal(f'{col} is not a valid {typ.lower()}: ')} || {col}",
            )
        )
    for col in source.positive:
        checks.append(
            (
                f"try_cast({col} as double) <= 0",
                "non_positive_price",
                f"{quote_literal(f'{col} must be greater than 0, got ')} || {col}",
            )
        )
    for col in source.nonnegative:
        checks.append(
            (
                f"try_cast({col} as double) < 0",
                "negative_price",
                f"{quote_literal(f'{col} must be 0 or greater, got ')} || {col}",
            )
        )
    if source.name == "events":
        price = "json_extract_string(properties, '$.price')"
        checks.append(
            (
                f"{price} is not null and try_cast({price} as double) is null",
                "invalid_value",
                f"'properties.price is not a number: ' || {price}",
            )
        )
        checks.append(
            (
                f"try_cast({price} as double) <= 0",
                "non_positive_price",
                f"'properties.price must be greater than 0, got ' || {price}",
            )
        )
    return checks


def check_parsed(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    extra_checks: Iterable[tuple[str, str, str]] = (),
    day: dt.date | None = None,
) -> None:
    """``_cand`` = ``_parsed`` plus ``_reason_code`` / ``_reason`` (null for a good record).

    The parser's own verdict (``_pre_code``: malformed_json, duplicate_key) comes first;
    ``extra_checks`` are (condition, reason_code, reason expression) an adapter adds for
    columns of its own, tried next; then ``reason_cases``. ``day`` is the partition day
    that bounds plausible timestamps (None for adapters' files, which span many days).
    """
    checks = list(extra_checks) + reason_cases(source, day)
    code = (
        "case when _pre_code is not null then _pre_code "
        + " ".join(f"when {c} then {quote_literal(rc)}" for c, rc, _ in checks)
        + " end"
    )
    reason = (
        "case when _pre_code is not null then _pre_reason "
        + " ".join(f"when {c} then {r}" for c, _, r in checks)
        + " end"
    )
    con.execute(
        f"create or replace temp table _cand as select *, {code} as _reason_code, {reason} as _reason from _parsed"
    )
