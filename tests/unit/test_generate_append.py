"""`tailor generate --append N`: the next days of a data set, the same as generating them at once."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tailor.cli import main
from tailor.synthetic.manifest import MANIFEST

pytestmark = pytest.mark.unit

BASE = ["generate", "--customers", "60", "--products", "20", "--seed", "4", "--dirt", "5"]


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _tailor(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _fails(*args: str, usage: bool = False) -> str:
    """The error line of a refused command: one line (after the usage, for a bad option)."""
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    if usage:
        lines = [line for line in lines if not line.startswith(("Usage:", "Try "))]
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.output
    return lines[0]


def _one_go_then_appended(s, one_go: list[str], first: list[str], append: list[str]):
    """(landing, ground truth) digests of ``one_go`` and of ``first`` then ``append``."""
    _tailor(*one_go)
    whole = _digests(s.landing), _digests(s.ground_truth)
    _tailor(*first)
    _tailor(*append)
    return whole, (_digests(s.landing), _digests(s.ground_truth))


def test_three_days_then_two_appended_are_the_five_days_byte_for_byte(tailor_env):
    s = tailor_env
    whole, appended = _one_go_then_appended(
        s, [*BASE, "--days", "5"], [*BASE, "--days", "3"], ["generate", "--append", "2"]
    )
    assert appended == whole
    days = {p.split("/")[1] for p in whole[0] if p.startswith("events/")}
    assert days == {f"dt=2026-10-0{d}" for d in range(1, 6)}
    note = json.loads((s.landing / MANIFEST).read_text())
    assert note["days"] == 5 and note["last_day"] == "2026-10-05"


def test_a_shorter_data_set_is_the_first_days_of_a_longer_one(tailor_env):
    s = tailor_env
    _tailor(*BASE, "--days", "5")
    five = _digests(s.landing)
    _tailor(*BASE, "--days", "3")
    three = _digests(s.landing)
    for digests in (three, five):  # the generator's notes differ in their days
        digests.pop(MANIFEST, None)
    assert three == {rel: h for rel, h in five.items() if rel.split("/")[1] <= "dt=2026-10-03"}


def test_append_keeps_the_shape_and_takes_incidents_on_the_new_days(tailor_env):
    s = tailor_env
    shaped = [*BASE, "--shape", "events-only", "--incident", "consent_banner_bug:2026-10-02:0.5"]
    whole, appended = _one_go_then_appended(
        s,
        [*shaped, "--days", "5", "--incident", "bot_spike:2026-10-04"],
        [*shaped, "--days", "3"],
        ["generate", "--append", "2", "--incident", "bot_spike:2026-10-04"],
    )
    assert appended == whole
    assert not any(p.startswith(("orders/", "order_items/")) for p in whole[0])
    incidents = (s.ground_truth / "incidents.csv").read_text()
    assert "consent_banner_bug" in incidents and "bot_spike" in incidents


def test_append_without_a_generated_data_set_says_so_in_one_line(tailor_env):
    line = _fails("generate", "--append", "2")
    assert MANIFEST in line and "tailor generate" in line


def test_append_with_options_that_contradict_the_data_set_says_which(tailor_env):
    s = tailor_env
    _tailor(*BASE, "--days", "2")
    before = _digests(s.landing)
    assert "--seed" in _fails("generate", "--append", "1", "--seed", "5")
    assert "--customers" in _fails("generate", "--append", "1", "--customers", "61")
    assert "--shape" in _fails("generate", "--append", "1", "--shape", "orders-only")
    assert "--days" in _fails("generate", "--append", "1", "--days", "3")
    assert "--incident" in _fails(
        "generate", "--append", "1", "--incident", "bot_spike:2026-10-01", usage=True
    )
    (s.landing / MANIFEST).write_text("{not json")
    assert "cannot append" in _fails("generate", "--append", "1")
    assert {k: v for k, v in _digests(s.landing).items() if k != MANIFEST} == {
        k: v for k, v in before.items() if k != MANIFEST
    }
    # the options it was made with may be repeated
    (s.landing / MANIFEST).unlink()
    _tailor(*BASE, "--days", "2")
    _tailor(*BASE, "--append", "1")
    assert json.loads((s.landing / MANIFEST).read_text())["days"] == 3
