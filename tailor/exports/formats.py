"""Export formats: the columns each tool imports by default and how values are written.

A destination maps its own column names to values of the audience payload
(``marts.audiences``). A field is one of::

    Email Address: email                       # a payload column
    Source: {value: tailor}                    # a constant
    Tags: {template: "tailor,{audience_id}"}   # a Python format string over payload columns
    recommendations: {recommendations: 3}      # top-N products as a list of objects

CSV files follow RFC 4180 (comma, double quotes, CRLF line ends, UTF-8, header row), and
every cell goes through ``tailor.csvsafe``: text a spreadsheet would run as a formula gets
a leading ``'``; numbers and E.164 phones are written as they are. A field whose source is
the ``phone`` column is normalised to E.164 (``+4915112345678``, the customer's
``country`` completing a national number); a value that cannot be made one is kept as
text (and neutralised like any text).
JSON Lines files hold one object per line, keys in field order, ``\\n`` line ends. Rendering is
pure: the same payload always gives the same bytes, which is what makes reruns identical.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import hashlib
import io
import itertools
import json
import math
import string
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from tailor import csvsafe

REC_FIELDS = ("product_id", "title", "price", "currency", "reason")


@dataclass(frozen=True)
class FieldSpec:
    """One destination column and where its value comes from."""

    name: str
    kind: str  # column | value | template | recommendations
    source: Any  # the column name, the constant, the template, or N

    def columns(self) -> set[str]:
        """Payload columns this field reads."""
        if self.kind == "column":
            return {self.source}
        if self.kind == "template":
            return {
                name.split(".")[0].split("[")[0]
                for _, name, _, _ in string.Formatter().parse(self.source)
                if name
            }
        if self.kind == "recommendations":
            return {"rec_1_product_id"}  # other rec_<k>_* columns are optional
        return set()

    def render(self, row: Mapping[str, Any]) -> Any:
        if self.kind == "column":
            if self.source == PHONE_COLUMN:
                return phone(row)
            return row.get(self.source)
        if self.kind == "value":
            return self.source
        if self.kind == "template":
            return self.source.format_map(_TextView(row))
        return recommendations(row, int(self.source))


class _TextView(dict):
    """Payload values as text for templates; a missing or null value renders as ''."""

    def __init__(self, row: Mapping[str, Any]):
        super().__init__()
        self._row = row

    def __missing__(self, key: str) -> str:
        value = self._row.get(key)
        return "" if value is None else text(value)


def parse_field(name: str, raw: Any) -> FieldSpec:
    if isinstance(raw, str):
        if not raw:
            raise ValueError(f"field {name!r}: empty source column")
        return FieldSpec(name, "column", raw)
    if isinstance(raw, Mapping) and len(raw) == 1:
        ((kind, value),) = raw.items()
        if kind == "column":
            return FieldSpec(name, "column", str(value))
        if kind == "value":
            return FieldSpec(name, "value", value)
        if kind == "template":
            template = str(value)
            try:
                list(string.Formatter().parse(template))
            except ValueError as exc:
                raise ValueError(f"field {name!r}: bad template {template!r}: {exc}") from exc
            return FieldSpec(name, "template", template)
        if kind == "recommendations":
            n = int(value)
            if n < 1:
                raise ValueError(f"field {name!r}: recommendations needs N >= 1")
            return FieldSpec(name, "recommendations", n)
    raise ValueError(
        f"field {name!r}: expected a column name or one of {{column|value|template|recommendations: ...}}"
    )


def recommendations(row: Mapping[str, Any], n: int) -> list[dict[str, Any]]:
    """The payload's top-``n`` recommended products (rec_1_* .. rec_n_*), in rank order."""
    out = []
    for k in range(1, n + 1):
        pid = row.get(f"rec_{k}_product_id")
        if pid is None:
            break
        out.append({f: row.get(f"rec_{k}_{f}") for f in REC_FIELDS})
    return out


# --------------------------------------------------------------------------- values

PHONE_COLUMN = "phone"
COUNTRY_COLUMN = "country"


def phone(row: Mapping[str, Any]) -> Any:
    """The payload's phone in E.164 form when it can be made one, else as delivered."""
    value = row.get(PHONE_COLUMN)
    return csvsafe.phone_e164(value, row.get(COUNTRY_COLUMN)) or value


def to_json(value: Any) -> str:
    """Canonical compact JSON: keys in the given order, UTF-8 text, decimals written exactly
    (19.90 stays 19.90), dates in ISO-8601, non-finite numbers as null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "null"
    if isinstance(value, decimal.Decimal):
        return format(value, "f") if value.is_finite() else "null"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return json.dumps(value.isoformat())
    if isinstance(value, Mapping):
        return (
            "{"
            + ",".join(
                f"{json.dumps(str(k), ensure_ascii=False)}:{to_json(v)}" for k, v in value.items()
            )
            + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def text(value: Any) -> str:
    """A value as CSV text: null -> '', booleans lower-case, exact decimals, ISO dates,
    lists and objects as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return "" if not math.isfinite(value) else repr(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple | Mapping):
        return to_json(value)
    return str(value)


def row_hash(values: Sequence[Any]) -> str:
    """sha256 of a rendered row: equal rows hash equal, whatever their source types."""
    return hashlib.sha256(to_json(list(values)).encode()).hexdigest()


# --------------------------------------------------------------------------- formats


@dataclass(frozen=True)
class Format:
    name: str
    kind: str  # csv | jsonl | webhook
    default_fields: Mapping[str, Any]
    key: tuple[str, ...]
    description: str


# The formats as a table: per format its kind, key column(s), description and default
# fields, written as a destination's `fields:` in config/destinations.yml. A run of fields
# whose names hold `{k}` stands for the top DEFAULT_RECOMMENDATIONS recommended products:
# the run repeats for k = 1, 2, 3, so every price has its ISO 4217 currency after it.
DEFAULT_RECOMMENDATIONS = 3

# the formats as data, one entry per destination format: each names its own columns
_FORMAT_TABLE: dict[str, tuple[str, tuple[str, ...], str, str]] = {
    "mailchimp_csv": (
        "csv",
        ("Email Address",),
        "Mailchimp audience import (contacts CSV; extra columns become merge fields)",
        """
        Email Address: email
        First Name: first_name
        Last Name: last_name
        Tags: {template: "tailor,{audience_id}"}
        Segment: segment_name
        Product {k}: rec_{k}_title
        Product {k} Price: rec_{k}_price
        Product {k} Currency: rec_{k}_currency
        """,
    ),
    "klaviyo_csv": (
        "csv",
        ("Email",),
        "Klaviyo list import (profiles CSV; extra columns become custom properties)",
        """
        Email: email
        First Name: first_name
        Last Name: last_name
        Phone Number: phone
        Segment: segment_name
        RFM Segment: rfm_segment
        Product {k} ID: rec_{k}_product_id
        Product {k}: rec_{k}_title
        Product {k} Price: rec_{k}_price
        Product {k} Currency: rec_{k}_currency
        """,
    ),
    "braze_csv": (
        "csv",
        ("external_id",),
        "Braze user attributes CSV import (external_id first; flat values only; other columns are custom attributes)",
        """
        external_id: customer_id
        email: email
        first_name: first_name
        last_name: last_name
        phone: phone
        email_subscribe: {value: opted_in}
        segment_name: segment_name
        rfm_segment: rfm_segment
        lifecycle_stage: lifecycle_stage
        rec_{k}_id: rec_{k}_product_id
        rec_{k}_title: rec_{k}_title
        rec_{k}_price: rec_{k}_price
        rec_{k}_currency: rec_{k}_currency
        """,
    ),
    "hubspot_csv": (
        "csv",
        ("Email",),
        "HubSpot contacts import (Email deduplicates; Tailor properties must exist in HubSpot)",
        """
        Email: email
        First Name: first_name
        Last Name: last_name
        Phone Number: phone
        Tailor Segment: segment_name
        Tailor RFM Segment: rfm_segment
        Tailor Lifecycle Stage: lifecycle_stage
        """,
    ),
    "salesforce_csv": (
        "csv",
        ("Tailor_Customer_Id__c",),
        "Salesforce Data Import Wizard contacts CSV (API field names; custom fields end in __c)",
        """
        Email: email
        FirstName: first_name
        LastName: last_name
        Phone: phone
        Tailor_Customer_Id__c: customer_id
        Tailor_Segment__c: segment_name
        Tailor_RFM_Segment__c: rfm_segment
        Tailor_Lifecycle_Stage__c: lifecycle_stage
        """,
    ),
    "jsonl": (
        "jsonl",
        ("customer_id",),
        "JSON Lines: one {op, data} object per line",
        """
        customer_id: customer_id
        email: email
        first_name: first_name
        segment_name: segment_name
        rfm_segment: rfm_segment
        lifecycle_stage: lifecycle_stage
        recommendations: {recommendations: 3}
        """,
    ),
    "webhook": (
        "webhook",
        ("customer_id",),
        "HTTP webhook: batched JSON POSTs with retries and idempotency keys",
        """
        customer_id: customer_id
        email: email
        first_name: first_name
        segment_name: segment_name
        recommendations: {recommendations: 3}
        """,
    ),
}


def _format(name: str, kind: str, key: tuple[str, ...], description: str, fields: str) -> Format:
    """A :class:`Format` from its row of :data:`_FORMAT_TABLE` (the ``{k}`` runs expanded)."""
    declared: dict[str, Any] = yaml.safe_load(textwrap.dedent(fields))
    default_fields: dict[str, Any] = {}
    for repeats, group in itertools.groupby(declared.items(), key=lambda item: "{k}" in item[0]):
        run = list(group)
        if not repeats:
            default_fields.update(run)
            continue
        for k in range(1, DEFAULT_RECOMMENDATIONS + 1):
            default_fields.update((name.format(k=k), column.format(k=k)) for name, column in run)
    return Format(name, kind, default_fields, key, description)


FORMATS: dict[str, Format] = {name: _format(name, *row) for name, row in _FORMAT_TABLE.items()}


# --------------------------------------------------------------------------- writers


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> tuple[bytes, int]:
    """RFC 4180 CSV text of a header and rows, formulas neutralised (``tailor.csvsafe``);
    returns (bytes, data rows)."""
    buf = io.StringIO(newline="")
    writer = csvsafe.writer(buf, text=text, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    n = 0
    for row in rows:
        writer.writerow(row)
        n += 1
    return buf.getvalue().encode("utf-8"), n


def jsonl_bytes(objects: Iterable[Any]) -> tuple[bytes, int]:
    lines = [to_json(o) for o in objects]
    body = "".join(line + "\n" for line in lines)
    return body.encode("utf-8"), len(lines)
