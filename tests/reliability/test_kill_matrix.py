"""kill -9 at every stage of the night, then a rerun: the same warehouse as a night that
was never interrupted.

One small generated shop (60 customers, 30 products, 2 days) runs its first night; that
data folder is the common start. The control runs the second night on it without
interruption. Then, for every stage of ``tailor.pipeline.STAGES``, a fresh copy of the
start runs the second night as ``tailor run`` in its own process, which dies on the spot
(``os._exit``, no cleanup: what kill -9 or the OOM killer does) right after that stage
(fault point ``stage.<name>``). The crash must leave the warehouse and the analyst
snapshot byte for byte as they were; the rerun (the next ``tailor run``) must remove the
dead run's working copy and end with the control's tables, row counts and contents
(run ids, timestamps and model fit times aside) and the control's export files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tailor.pipeline import STAGES, run_day
from tests.conftest import use_data_folder

pytestmark = pytest.mark.reliability

DAY1 = dt.date(2026, 10, 1)
DAY2 = dt.date(2026, 10, 2)
KILLED = 99  # the exit code of tailor.faults in exit mode
# tables whose rows hold timings (ml.model_runs: fit and scoring seconds): rows counted only
TIMED = {"ml.model_runs"}


@dataclass
class Night:
    root: Path
    start: Path  # the data folder after the first night
    control: dict  # the state after an uninterrupted second night
    control_exports: dict[str, bytes]


def _use(mp: pytest.MonkeyPatch, data: Path):
    mp.delenv("TAILOR_DESTINATIONS", raising=False)  # the project's own destinations
    return use_data_folder(mp, data)


def _fresh(night: Night) -> Path:
    """The start copied to the data folder every case uses. One path for all: dbt's saved
    parse is keyed on it, so neither a killed process nor a rerun parses the project again."""
    data = night.root / "night" / "data"
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(night.start, data, symlinks=True)
    return data


def _state(s) -> dict[str, object]:
    """Every base table: its rows (without run ids, batch ids and timestamps; paths made
    relative to the data folder), or for the timed tables their row count."""
    from tailor.warehouse import connect

    con = connect(s.warehouse, read_only=True, settings=s)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_type = 'BASE TABLE' order by 1, 2"
        ).fetchall()
        out: dict[str, object] = {}
        for schema, table in tables:
            name = f"{schema}.{table}"
            ident = f'"{schema}"."{table}"'
            if name in TIMED:
                out[name] = con.execute(f"select count(*) from {ident}").fetchone()[0]
                continue
            cols = con.execute(
                "select column_name, data_type from information_schema.columns"
                " where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table],
            ).fetchall()
            kept = [
                f'"{c}"'
                for c, kind in cols
                if "TIMESTAMP" not in kind and "run_id" not in c and "batch_id" not in c
            ]
            rows = con.execute(f"select {', '.join(kept) or 'null'} from {ident}").fetchall()
            out[name] = sorted(repr(r).replace(str(s.data), "<data>") for r in rows)
        return out
    finally:
        con.close()


def _exports(s) -> dict[str, bytes]:
    """The export files a CRM would pick up (staging and hidden files aside)."""
    if not s.exports.exists():
        return {}
    return {
        p.relative_to(s.exports).as_posix(): p.read_bytes()
        for p in sorted(s.exports.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(s.exports).parts)
    }


def _sha(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def _leftovers(s) -> list[str]:
    """Working copies and DuckDB spill files of runs other than this process."""
    copies = [p.name for p in s.warehouse.parent.glob(f".{s.warehouse.stem}.run-*")]
    spills = [
        p.name
        for p in (s.duckdb_temp.iterdir() if s.duckdb_temp.exists() else [])
        if p.name.startswith("duckdb_temp_") and f"_{os.getpid()}_" not in p.name
    ]
    return sorted(copies + spills)


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory):
    from tailor.synthetic.config import GeneratorConfig
    from tailor.synthetic.driver import generate

    root = tmp_path_factory.mktemp("kill")
    with pytest.MonkeyPatch.context() as mp:
        s = _use(mp, root / "night" / "data")
        generate(
            GeneratorConfig(customers=60, products=30, days=2, start=DAY1, seed=1),
            s.landing,
            s.ground_truth,
        )
        run_day(DAY1, s)
        start = root / "start"
        shutil.copytree(s.data, start, symlinks=True)
        run_day(DAY2, s)  # the control
        yield Night(root, start, _state(s), _exports(s))


@pytest.mark.parametrize("stage", [name for name, _ in STAGES])
def test_night_killed_after_a_stage_reruns_to_the_control(night, stage, monkeypatch):
    s = _use(monkeypatch, _fresh(night))
    before = {"warehouse": _sha(s.warehouse), "snapshot": _sha(s.snapshot)}

    killed = subprocess.run(
        [sys.executable, "-m", "tailor.cli", "run", "--date", DAY2.isoformat()],
        env={**os.environ, "TAILOR_FAIL_AT": f"stage.{stage}", "TAILOR_FAIL_MODE": "exit"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert killed.returncode == KILLED, killed.stderr[-3000:]
    assert {"warehouse": _sha(s.warehouse), "snapshot": _sha(s.snapshot)} == before
    assert _leftovers(s), "the killed run left no working copy: was it killed at all?"

    run_day(DAY2, s)
    assert _leftovers(s) == []
    after = _state(s)
    assert sorted(after) == sorted(night.control)  # the same tables
    for table, rows in night.control.items():
        assert after[table] == rows, f"{table} differs from the uninterrupted night"
    assert _exports(s) == night.control_exports
