"""CSV cells a spreadsheet will not evaluate: the OWASP prefixes, validated numbers and
E.164 phones, and a walk over the code proving every CSV writer goes through the helper."""

from __future__ import annotations

import ast
import csv
import decimal
import io
import re
from pathlib import Path

import pytest

from tailor import csvsafe

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]

# OWASP's CSV-injection examples, then one value for each dangerous first character
OWASP = ['=HYPERLINK("http://x")', "@SUM(1+1)", "-2+3+cmd|' /C calc'!A0", "+1", "=1+1"]
HOSTILE = [
    *OWASP,
    "\tTab-led",
    "\rCR-led",
    "=cmd|' /C notepad'!'A1'",
    "-1",
    "+49 not a phone",
    "@import",
]


def _roundtrip(values):
    buf = io.StringIO(newline="")
    csvsafe.writer(buf, lineterminator="\r\n").writerow(values)
    return next(csv.reader(io.StringIO(buf.getvalue(), newline="")))


def spreadsheet_would_evaluate(cell: str) -> bool:
    return cell[:1] in csvsafe.DANGEROUS_PREFIXES


@pytest.mark.parametrize("value", HOSTILE)
def test_every_dangerous_prefix_is_neutralised(value):
    (cell,) = _roundtrip([value])
    assert not spreadsheet_would_evaluate(cell)
    assert cell == "'" + value  # the text itself is kept, after the quote


@pytest.mark.parametrize("prefix", csvsafe.DANGEROUS_PREFIXES)
def test_each_prefix_alone(prefix):
    (cell,) = _roundtrip([prefix + "x"])
    assert cell == "'" + prefix + "x"


def test_embedded_quotes_commas_and_line_breaks_stay_in_one_cell():
    value = '=HYPERLINK("http://x","click, me")\r\nnext'
    buf = io.StringIO(newline="")
    csvsafe.writer(buf, lineterminator="\r\n").writerow([value, "b"])
    assert buf.getvalue().startswith('"\'=HYPERLINK(""http://x"",""click, me"")')
    assert next(csv.reader(io.StringIO(buf.getvalue(), newline=""))) == ["'" + value, "b"]


def test_harmless_text_is_unchanged():
    values = ["Anna", "Müller-Lüdenscheidt", "a=b", "C0000001", "", None, "'quoted"]
    assert _roundtrip(values) == [
        "Anna",
        "Müller-Lüdenscheidt",
        "a=b",
        "C0000001",
        "",
        "",
        "'quoted",
    ]


def test_numbers_are_a_validated_type():
    values = [-5, -0.25, decimal.Decimal("-19.90"), 0, 3]
    assert _roundtrip(values) == ["-5", "-0.25", "-19.90", "0", "3"]


def test_booleans_are_text_not_numbers():
    assert csvsafe.is_validated(True) is False


def test_text_that_looks_like_a_number_is_escaped():
    assert _roundtrip(["-5", "+1"]) == ["'-5", "'+1"]


@pytest.mark.parametrize(
    "raw,country,expected",
    [
        ("+49 151 12345678", None, "+4915112345678"),
        ("+49 (0)151-1234.5678", None, "+4915112345678"),
        ("0151 1234 5678", "DE", "+4915112345678"),
        ("0151 1234 5678", None, None),  # national number, country unknown
        ("0151 1234 5678", "XX", None),
        ("0049 151 12345678", None, "+4915112345678"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("1 415 555 2671", "US", "+14155552671"),
        ("333 123 4567", "IT", "+393331234567"),
        ("+1", None, None),
        ("+0123456789", None, None),
        ("+1234567890123456", None, None),  # 16 digits
        ("=1+1", "DE", None),
        ("", "DE", None),
        (None, "DE", None),
    ],
)
def test_phone_e164(raw, country, expected):
    assert csvsafe.phone_e164(raw, country) == expected


def test_e164_phones_are_written_as_they_are():
    phone = csvsafe.phone_e164("0151 1234 5678", "DE")
    assert _roundtrip([phone, "+4915112345678"]) == ["+4915112345678", "+4915112345678"]


def test_reread_cells_keep_numbers_and_stay_neutralised():
    first = _roundtrip(["=1+1", -5, "+4915112345678", "-x"])
    again = _roundtrip([csvsafe.reread(v) for v in first])
    assert again == first == ["'=1+1", "-5", "+4915112345678", "'-x"]


# --------------------------------------------------------------------------- the code walk

CSV_WRITER = re.compile(
    r"csv\.writer\(|csv\.DictWriter\(|\.to_csv\(|\.write_csv\(|format\s*[\"']?csv", re.I
)
# Files that write CSV not meant for people's spreadsheets, and why.
NOT_FOR_SPREADSHEETS = {
    # the synthetic landing zone: source-system files as a CRM or shop writes them,
    # hostile values included, which the loader must take as delivered
    "tailor/synthetic/common.py",
    # a public data set written as a shop backend's landing files, for the benchmark's run
    "benchmarks/recommend_realdata.py",
    "tailor/csvsafe.py",  # the helper itself
}


def _python_files():
    for top in ("tailor", "ml", "expectations", "dags", "benchmarks", "scripts"):
        yield from sorted((REPO / top).rglob("*.py"))


def test_every_csv_writer_goes_through_csvsafe():
    offenders = []
    for path in _python_files():
        rel = path.relative_to(REPO).as_posix()
        if rel in NOT_FOR_SPREADSHEETS:
            continue
        text = path.read_text()
        for lineno, line in enumerate(text.splitlines(), 1):
            code = line.split("#", 1)[0]
            if CSV_WRITER.search(code) and "csvsafe" not in code:
                offenders.append(f"{rel}:{lineno}: {line.strip()}")
    assert not offenders, "CSV written without tailor.csvsafe:\n" + "\n".join(offenders)


def test_the_code_walk_finds_the_old_idioms():
    for snippet in (
        "w = csv.writer(sys.stdout)",
        "df.to_csv(path)",
        "con.execute(\"copy t to 'x.csv' (format csv)\")",
        "con.sql('copy t to x (FORMAT CSV, header)')",
        "rel.write_csv('x.csv')",
    ):
        assert CSV_WRITER.search(snippet), snippet


def test_the_writers_found_use_the_helper():
    """The CSV-writing functions the project has today each call csvsafe."""
    for rel, func in (
        ("tailor/exports/formats.py", "csv_bytes"),
        ("tailor/exports/redact.py", "_redact_csv"),
        ("tailor/cli/inspection.py", "sql"),
    ):
        tree = ast.parse((REPO / rel).read_text())
        (node,) = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == func]
        assert "csvsafe" in ast.unparse(node), f"{rel}:{func}"
