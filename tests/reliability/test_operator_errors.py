"""The usual operator mistakes, through the real command line: each ends with exit code 1
and one line that says what is wrong and what to do, never a traceback.

- an analyst's session (another process) holds the live warehouse when `tailor run`,
  `tailor publish` or `tailor load` starts;
- a day with no landing files, a date that is not one, --from after --to;
- a broken config/tailor.yml or config/destinations.yml (YAML syntax, a wrong key).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli as tailor

pytestmark = pytest.mark.reliability

DAY = "2026-10-01"
# A CRM export of the day as a CRM writes it: header, quoted field with a comma.
CUSTOMERS_CSV = (
    "customer_id,email,first_name,last_name,gender,birth_date,country,city,timezone,phone,"
    "created_at,updated_at\r\n"
    'C1,ann@example.org,Ann,"Smith, Jr.",f,1990-01-02,DE,Berlin,Europe/Berlin,+49 30 1234,'
    "2026-09-30T10:00:00Z,2026-09-30T10:00:00Z\r\n"
)


def one_line_error(res: subprocess.CompletedProcess, *fragments: str) -> str:
    assert res.returncode != 0, res.stdout + res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("Error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def landed(tailor_env):
    """One landing day (a CRM customers file), loaded into a warehouse."""
    s = tailor_env
    folder = s.landing / "customers" / f"dt={DAY}"
    folder.mkdir(parents=True)
    (folder / "customers.csv").write_bytes(CUSTOMERS_CSV.encode())
    res = tailor("load", "--date", DAY)
    assert res.returncode == 0, res.stderr
    return s


@pytest.fixture
def reader(landed):
    """An analyst's Python session holding the live warehouse open (read-only)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, duckdb; con = duckdb.connect(sys.argv[1], read_only=True);"
            " print('open', flush=True); sys.stdin.read()",
            str(landed.warehouse),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "open"
    yield proc
    proc.stdin.close()
    proc.wait(timeout=30)


@pytest.mark.parametrize(
    "command",
    [("run", "--date", DAY), ("publish",), ("load", "--date", DAY)],
    ids=["run", "publish", "load"],
)
def test_a_reader_holding_the_warehouse_is_named_with_what_to_do(landed, reader, command):
    before = landed.warehouse.read_bytes()
    line = one_line_error(tailor(*command), str(landed.warehouse), f"PID {reader.pid}")
    assert "close that session" in line
    assert str(landed.snapshot) in line  # where analysts should read instead
    assert landed.warehouse.read_bytes() == before


def test_a_day_without_landing_files_is_named_with_the_days_there_are(landed):
    line = one_line_error(tailor("run", "--date", "2026-10-05"), "2026-10-05")
    assert f"landing days there: {DAY}" in line
    one_line_error(tailor("run", "--from", DAY, "--to", "2026-10-03"), "2026-10-02, 2026-10-03")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("run", "--date", "2026-13-45"), "--date '2026-13-45' is not a date"),
        (("run", "--from", "2026-10-02", "--to", "2026-10-01"), "--from 2026-10-02 is after"),
        (("load", "--from", "2026-10-09", "--to", "2026-10-01"), "--from 2026-10-09 is after"),
        (("run", "--to", "yesterday"), "--to 'yesterday' is not a date"),
    ],
)
def test_bad_dates_are_refused_naming_the_option(landed, args, fragment):
    one_line_error(tailor(*args), fragment)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "variable, text, fragments",
    [
        (
            "TAILOR_CONFIG",
            "anomalies:\n  weeks: [4\n  notify: true\n",
            ["line 3", "not valid YAML"],
        ),
        (
            "TAILOR_CONFIG",
            "anomalies:\n  weeks: 4\n  hold_export: true\n",
            ["line 3", "anomalies.hold_export: unknown key"],
        ),
        (
            "TAILOR_DESTINATIONS",
            "version: 1\ndestinations:\n  - name: crm\n    format: jsonl\n"
            "    audience: rfm_champions\n    consent: email_marketing\n    fromat: jsonl\n",
            ["line 7", "unknown keys ['fromat']"],
        ),
        (
            "TAILOR_DESTINATIONS",
            "version: 1\ndestinations:\n  - name: crm\n\tformat: jsonl\n",
            ["line 4", "not valid YAML"],
        ),
    ],
    ids=["tailor-yaml-syntax", "tailor-wrong-key", "destinations-wrong-key", "destinations-tab"],
)
def test_a_broken_config_file_names_file_line_and_key(landed, tmp_path, variable, text, fragments):
    path = write(tmp_path / "broken.yml", text)
    one_line_error(tailor("run", "--date", DAY, **{variable: str(path)}), str(path), *fragments)
