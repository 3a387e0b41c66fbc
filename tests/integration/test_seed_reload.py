"""A night loads the dbt seeds (and runs their tests) only when they changed: a fresh
warehouse, an edited seed file or a seed table changed by hand makes the next night load
them again; otherwise the seed tables stay as the last committed night loaded them."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from tailor import transform
from tailor.warehouse import session

pytestmark = pytest.mark.integration


def _rates(s) -> dict[str, float]:
    with session(s.warehouse, settings=s) as con:
        return dict(con.execute("select * from seeds.exchange_rates").fetchall())


def _load_seeds(s) -> None:
    transform.build(select="resource_type:seed", settings=s, unit_tests=False)
    transform.record_seeds(s)


def test_seeds_load_again_only_when_their_files_or_tables_change(tailor_env, tmp_path):
    project = tmp_path / "dbt_project"
    shutil.copytree(
        tailor_env.dbt_project, project, ignore=shutil.ignore_patterns("target", "logs")
    )
    s = dataclasses.replace(tailor_env, dbt_project=project)

    assert not transform.seeds_loaded(s)  # a fresh warehouse has none
    _load_seeds(s)
    assert transform.seeds_loaded(s)
    rates = _rates(s)

    # a seed table changed by hand: loaded again, as the file says
    with session(s.warehouse, settings=s) as con:
        con.execute("update seeds.exchange_rates set units_per_usd = units_per_usd + 1")
    assert not transform.seeds_loaded(s)
    _load_seeds(s)
    assert transform.seeds_loaded(s) and _rates(s) == rates

    # an edited seed file: loaded again, with the new row
    csv = project / "seeds" / "exchange_rates.csv"
    text = csv.read_text()
    csv.write_text(text + ("" if text.endswith("\n") else "\n") + "XTS,7.5\n")
    assert not transform.seeds_loaded(s)
    _load_seeds(s)
    assert transform.seeds_loaded(s) and _rates(s) == {**rates, "XTS": 7.5}
