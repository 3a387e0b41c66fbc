"""One night through the real command line, as a user runs it: `tailor generate` then
`tailor run --date D`. The terminal gets one line per stage (no dbt or Great Expectations
detail, no traceback, no leak report at exit), the detail goes to the day's log file, and
every table and column of the published snapshot carries a description."""

from __future__ import annotations

import pytest

from tailor.warehouse import connect
from tests.conftest import point_tailor_at, run_cli

pytestmark = pytest.mark.integration

DAY = "2026-10-01"
STAGES = ("load", "validate_raw", "dbt_build", "validate_marts", "recommend", "export")


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    root = tmp_path_factory.mktemp("quiet")
    with pytest.MonkeyPatch.context() as mp:
        point_tailor_at(mp, root / "data")
        for var in ("TAILOR_DESTINATIONS", "TAILOR_CONFIG"):
            mp.delenv(var, raising=False)
        from tailor.settings import get_settings

        gen = run_cli(
            "generate", "--customers", "40", "--products", "20", "--days", "2", "--seed", "5"
        )
        assert gen.returncode == 0, gen.stderr
        yield get_settings(), run_cli("run", "--date", DAY)


def test_a_night_prints_one_line_per_stage_and_the_detail_goes_to_the_log(night):
    s, res = night
    output = res.stdout + res.stderr
    assert res.returncode == 0, output
    lines = output.splitlines()
    assert len(lines) < 40, output
    assert "Traceback" not in output
    assert "leaked" not in output
    for stage in STAGES:
        assert any(line.startswith(f"{DAY}  {stage} ") for line in lines), (stage, output)
    assert "Running with dbt" not in output
    log = (s.data / "logs" / f"run-{DAY}.log").read_text()
    assert "Running with dbt" in log  # dbt's detail is kept, in the log file


def test_every_table_and_column_of_the_snapshot_has_a_description(night):
    s, res = night
    assert res.returncode == 0
    con = connect(s.snapshot, read_only=True, settings=s)
    try:
        relations = con.execute(
            "select schema_name || '.' || table_name from duckdb_tables()"
            " where comment is null or trim(comment) = ''"
            " union all select schema_name || '.' || view_name from duckdb_views()"
            " where not internal and (comment is null or trim(comment) = '')"
        ).fetchall()
        columns = con.execute(
            "select c.schema_name || '.' || c.table_name || '.' || c.column_name"
            " from duckdb_columns() c join ("
            "   select schema_name, table_name from duckdb_tables()"
            "   union all select schema_name, view_name from duckdb_views() where not internal"
            " ) r using (schema_name, table_name)"
            " where c.comment is null or trim(c.comment) = ''"
            " order by 1"
        ).fetchall()
        (described,) = con.execute(
            "select count(*) from duckdb_columns() where comment is not null"
        ).fetchone()
    finally:
        con.close()
    assert described > 500  # the snapshot holds every layer
    missing = [r for (r,) in relations] + [c for (c,) in columns]
    assert not missing, f"{len(missing)} without a description: " + ", ".join(missing)
