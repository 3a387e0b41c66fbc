"""Generate a small data set with dirt, load it twice, and reconcile everything."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from tailor import ingest
from tailor.synthetic.config import DirtConfig, GeneratorConfig
from tailor.synthetic.driver import generate
from tailor.synthetic.manifest import MANIFEST
from tailor.warehouse import connect

pytestmark = pytest.mark.integration

QUARANTINED = {
    "malformed_json": "malformed_json",
    "missing_required": "missing_required_field",
    "bad_price": "non_positive_price",
    "invalid_timestamp": "invalid_timestamp",
    "malformed_csv": "malformed_csv",
}
LOADED = {"duplicate", "late", "schema_drift", "unknown_product"}
DATA_COLUMNS_EXCLUDED = {"_loaded_at"}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TAILOR_DATA", str(root / "data"))
        mp.setenv("TAILOR_DUCKDB_MEMORY", "2GB")
        for var in (
            "TAILOR_WAREHOUSE",
            "TAILOR_SNAPSHOT",
            "TAILOR_LANDING",
            "TAILOR_GROUND_TRUTH",
            "TAILOR_FAIL_AT",
        ):
            mp.delenv(var, raising=False)
        from tailor.settings import get_settings

        settings = get_settings()
        config = GeneratorConfig(
            customers=400, products=120, days=6, seed=7, dirt=DirtConfig().scaled(5)
        )
        generate(config, settings.landing, settings.ground_truth)
        env = dict(os.environ)
        # Load through the CLI, as a user would.
        run = subprocess.run(
            [sys.executable, "-m", "tailor.cli", "load"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stderr
        yield settings, env


def _dirt(settings) -> list[dict]:
    with open(settings.ground_truth / "dirt.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_every_file_reconciles(loaded):
    settings, _ = loaded
    con = connect(settings.warehouse, read_only=True, settings=settings)
    try:
        bad = con.execute(
            "select source_file from raw.load_log where rows_read <> rows_loaded + rows_quarantined"
        ).fetchall()
        assert bad == []
        # The log agrees with the tables themselves.
        for source in ingest.SOURCES:
            logged = con.execute(
                "select coalesce(sum(rows_loaded), 0), coalesce(sum(rows_quarantined), 0) from raw.load_log where source = ?",
                [source],
            ).fetchone()
            actual = con.execute(
                f"select (select count(*) from raw.{source}), (select count(*) from raw.quarantine where source = ?)",
                [source],
            ).fetchone()
            assert logged == actual, source
        # Every file in the landing zone was logged once (but the generator's hidden note).
        files = {
            p.relative_to(settings.landing).as_posix()
            for p in settings.landing.rglob("*")
            if p.is_file() and p.name != MANIFEST
        }
        logged_files = {
            r[0] for r in con.execute("select source_file from raw.load_log").fetchall()
        }
        assert logged_files == files
    finally:
        con.close()


def test_quarantine_holds_exactly_the_injected_dirt(loaded):
    settings, _ = loaded
    injected = {
        (d["file"], int(d["line"]) + (1 if d["file"].endswith(".csv") else 0)): (
            # an order line may cost 0 (a free item); only a negative one is refused
            "negative_price"
            if d["dirt_class"] == "bad_price" and d["file"].endswith(".csv")
            else QUARANTINED[d["dirt_class"]]
        )
        for d in _dirt(settings)
        if d["dirt_class"] in QUARANTINED
    }
    assert len(injected) > 20, "the dirty data set should exercise every quarantine reason"
    con = connect(settings.warehouse, read_only=True, settings=settings)
    try:
        got = {
            (f, line): code
            for f, line, code in con.execute(
                "select source_file, line, reason_code from raw.quarantine"
            ).fetchall()
        }
    finally:
        con.close()
    assert got == injected
    assert set(got.values()) == set(QUARANTINED.values()) | {"negative_price"}


def test_loaded_dirt_is_kept_for_downstream(loaded):
    settings, _ = loaded
    dirt = _dirt(settings)
    con = connect(settings.warehouse, read_only=True, settings=settings)
    try:
        dup_ids = {d["message_id"] for d in dirt if d["dirt_class"] == "duplicate"}
        assert dup_ids
        (copies,) = con.execute(
            "select count(*) from (select message_id from raw.events group by 1 having count(*) > 1)"
        ).fetchone()
        assert copies >= len(dup_ids)
        drift = [d for d in dirt if d["dirt_class"] == "schema_drift" and d["source"] == "events"]
        (with_extra,) = con.execute(
            "select count(*) from raw.events where extra is not null"
        ).fetchone()
        assert with_extra >= len(drift) > 0
        late = [d for d in dirt if d["dirt_class"] == "late"]
        (late_rows,) = con.execute(
            "select count(*) from raw.events where cast(try_cast(event_timestamp as timestamptz) at time zone 'UTC' as date) < _dt"
        ).fetchone()
        assert late_rows >= len(late) > 0
    finally:
        con.close()


def _snapshot(settings):
    con = connect(settings.warehouse, read_only=True, settings=settings)
    try:
        out = {}
        for table in [*ingest.SOURCES, "quarantine", "load_log"]:
            cols = [
                c
                for (c,) in con.execute(
                    "select column_name from information_schema.columns where table_schema = 'raw' and table_name = ? order by ordinal_position",
                    [table],
                ).fetchall()
                if c not in DATA_COLUMNS_EXCLUDED | {"started_at", "finished_at"}
            ]
            rows = con.execute(f"select {', '.join(cols)} from raw.{table}").fetchall()
            out[table] = sorted(json.dumps(r, default=str) for r in rows)
        return out
    finally:
        con.close()


def test_reloading_changes_nothing(loaded):
    settings, env = loaded
    before = _snapshot(settings)
    again = subprocess.run(
        [sys.executable, "-m", "tailor.cli", "load"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert _snapshot(settings) == before
    # And a single day reloaded on its own, too.
    con = connect(settings.warehouse, settings=settings)
    try:
        ingest.load_day(con, settings.landing, dt.date(2026, 10, 3))
    finally:
        con.close()
    assert _snapshot(settings) == before
