"""CSV cells a spreadsheet will not evaluate (OWASP "CSV Injection").

Every CSV Tailor writes for people (audience exports, ``tailor sql --csv``, report
downloads) goes through :func:`writer`. A text cell that begins with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return would be read by Excel, LibreOffice or Google Sheets as
a formula (``=HYPERLINK(...)``, ``-2+3+cmd|' /C calc'!A0``); it gets a leading single
quote, which spreadsheets show as text, and the csv module quotes the cell (embedded
double quotes doubled, commas and line breaks kept inside the quotes).

Values of a validated type are written as they are, because a spreadsheet reads them as
the value they are and nothing else:

* numbers (``int``, ``float``, ``Decimal`` from a numeric column; ``-5`` stays ``-5``);
* phone numbers in E.164 form (``+4915112345678``: ``+`` then 8 to 15 digits, see
  :func:`phone_e164`), so a CRM still recognises them as phones.

Text that only looks like a number (``"+1"`` typed as a first name) is text and is
escaped. Tests find every ``csv.writer``, ``to_csv`` and ``COPY ... (FORMAT csv)`` in the
code and fail when one does not go through this module.
"""

from __future__ import annotations

import csv
import decimal
import re
from collections.abc import Callable, Iterable
from typing import Any

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"

E164_RE = re.compile(r"\+[1-9][0-9]{7,14}")
_NUMBER_RE = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_PHONE_SEPARATORS = re.compile(r"[\s\-./()\u00a0]")

# ISO country -> (calling code, national trunk prefix dropped after the calling code).
# Italy, Spain, Denmark and Norway keep every national digit; NANP numbers may start
# with the trunk 1.
CALLING_CODES: dict[str, tuple[str, str]] = {
    "AT": ("43", "0"),
    "AU": ("61", "0"),
    "BE": ("32", "0"),
    "CA": ("1", "1"),
    "CH": ("41", "0"),
    "CZ": ("420", ""),
    "DE": ("49", "0"),
    "DK": ("45", ""),
    "ES": ("34", ""),
    "FI": ("358", "0"),
    "FR": ("33", "0"),
    "GB": ("44", "0"),
    "IE": ("353", "0"),
    "IT": ("39", ""),
    "LU": ("352", ""),
    "NL": ("31", "0"),
    "NO": ("47", ""),
    "NZ": ("64", "0"),
    "PL": ("48", ""),
    "PT": ("351", ""),
    "SE": ("46", "0"),
    "UK": ("44", "0"),
    "US": ("1", "1"),
}


class E164(str):
    """A phone number validated as E.164 (only :func:`phone_e164` makes one)."""


class Number(str):
    """A number's text as read back from a CSV (only :func:`reread` makes one)."""


def phone_e164(value: Any, country: str | None = None) -> E164 | None:
    """``value`` as an E.164 phone number, or None when it is not one.

    Separators (spaces, dashes, dots, brackets), the ``(0)`` of ``+49 (0)151 ...`` and an
    international ``00`` prefix (which becomes ``+``) are dropped. A national number (``0151 1234 5678``) is completed only when
    ``country`` (ISO 3166 alpha-2) is known: its calling code replaces the trunk prefix.
    The result must be ``+`` followed by 8 to 15 digits, the first not 0.
    """
    if value is None:
        return None
    raw = _PHONE_SEPARATORS.sub("", str(value).replace("(0)", ""))
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    if not raw.startswith("+"):
        code = CALLING_CODES.get((country or "").strip().upper())
        if code is None or not raw.isdigit():
            return None
        calling, trunk = code
        if trunk and raw.startswith(trunk):
            raw = raw[len(trunk) :]
        raw = f"+{calling}{raw}"
    return E164(raw) if E164_RE.fullmatch(raw) else None


def plain_text(value: Any) -> str:
    """The csv module's own rendering: null as '', anything else as ``str``."""
    return "" if value is None else str(value)


def is_validated(value: Any) -> bool:
    """Numbers and E.164 phones: values a spreadsheet reads as what they are."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float | decimal.Decimal | Number):
        return True
    return isinstance(value, str) and E164_RE.fullmatch(value) is not None


def neutralise(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would read it as a formula."""
    return ESCAPE + text if text.startswith(DANGEROUS_PREFIXES) else text


def cell(value: Any, text: Callable[[Any], str] = plain_text) -> str:
    """One CSV cell: ``value`` rendered by ``text``, neutralised unless validated."""
    rendered = text(value)
    return rendered if is_validated(value) else neutralise(rendered)


def reread(value: str) -> Any:
    """A cell read back from a CSV Tailor wrote, ready to write again: a plain number
    stays a number (so ``-5`` is not escaped on the second write); already neutralised
    cells start with ``'`` and stay as they are."""
    return Number(value) if _NUMBER_RE.fullmatch(value) else value


class SafeWriter:
    """``csv.writer`` whose every cell goes through :func:`cell`."""

    def __init__(self, f: Any, text: Callable[[Any], str] = plain_text, **fmtparams: Any):
        self._writer = csv.writer(f, **fmtparams)
        self._text = text

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([cell(v, self._text) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(f: Any, text: Callable[[Any], str] = plain_text, **fmtparams: Any) -> SafeWriter:
    """A CSV writer on ``f`` (``csv.writer``'s format parameters) that neutralises
    formulas; ``text`` renders a value before the check (default: ``str``, null as '')."""
    return SafeWriter(f, text, **fmtparams)
