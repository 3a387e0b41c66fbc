"""Each rule on a mart is checked once a night, and still checked.

A night pays for every check it runs: a dbt data test that repeats what the marts gate
(expectations/suites/marts.py) or the output gate (expectations/suites/ml.py) already checks
at ``critical`` on the same whole table costs a dbt node and stops nothing more. This test
plans the gates' suites on empty marts with the columns the models declare and compares
them with the data tests in the models' YAML: no dbt test may repeat a critical gate check,
and every mart's key must still be checked unique and not null by one of the two.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
import yaml

pytestmark = pytest.mark.unit

MARTS = Path(__file__).resolve().parents[2] / "dbt_project" / "models" / "marts"

# each mart the gates check, and its key (one column, or a compound key)
KEYS = {
    "customers": ("customer_id",),
    "customer_rfm": ("customer_id",),
    "customer_lifecycle": ("customer_id",),
    "customer_features": ("customer_id",),
    "orders": ("order_id",),
    "sessions": ("session_id",),
    "products": ("product_id",),
    "user_item_interactions": ("customer_id", "product_id"),
    "audiences": ("audience_member_id",),
}

# GX expectation type -> the dbt generic test that checks the same rule
SAME_RULE = {
    "expect_column_values_to_not_be_null": "not_null",
    "expect_column_values_to_be_unique": "unique",
    "expect_column_values_to_be_in_set": "accepted_values",
    "expect_column_values_to_be_between": "accepted_range",
    "expect_compound_columns_to_be_unique": "unique_combination_of_columns",
}


def _models() -> dict[str, dict]:
    models = {}
    for path in MARTS.glob("*/_*models.yml"):
        for model in yaml.safe_load(path.read_text())["models"]:
            models[model["name"]] = model
    return models


def _dbt_tests(model: dict) -> set[tuple[str | None, str]]:
    """(column or None for a model-level test, test name) of every data test of ``model``."""

    def name(test) -> str:
        return test if isinstance(test, str) else next(iter(test))

    found = {(None, name(t)) for t in model.get("data_tests") or []}
    for column in model.get("columns") or []:
        found |= {(column["name"], name(t)) for t in column.get("data_tests") or []}
    return found


def _gate_checks(models: dict[str, dict], settings) -> set[tuple[str, str | None, str]]:
    """(mart, column, dbt test of the same rule) of every critical check of the gates."""
    from expectations.suites import LAYERS
    from expectations.suites.base import SuiteContext

    con = duckdb.connect()
    for schema in ("marts", "raw"):
        con.execute(f"create schema {schema}")
    con.execute("create table raw.events (_dt date)")
    con.execute("insert into raw.events values (date '2026-10-01')")
    for name in KEYS:
        columns = [c["name"] for c in models[name].get("columns") or []]
        con.execute(f"create table marts.{name} ({', '.join(f'{c} varchar' for c in columns)})")
    checks = set()
    for layer in ("marts", "ml"):
        ctx = SuiteContext(layer=layer, run_date=dt.date(2026, 10, 2), settings=settings, con=con)
        for suite in LAYERS[layer]:
            mart = suite.table.split(".", 1)[1]
            if not suite.table.startswith("marts.") or mart not in KEYS:
                continue
            for e in suite.plan(ctx).expectations:
                if str(getattr(e.severity, "value", e.severity)) != "critical":
                    continue
                kwargs = e.configuration.kwargs
                if e.expectation_type in SAME_RULE:
                    column = kwargs.get("column")
                    checks.add((mart, column, SAME_RULE[e.expectation_type]))
                elif "marts.customers as profile" in (kwargs.get("unexpected_rows_query") or ""):
                    checks.add((mart, "customer_id", "relationships"))
    con.close()
    return checks


@pytest.fixture
def rules(tailor_env):
    models = _models()
    return models, _gate_checks(models, tailor_env)


def test_no_dbt_data_test_repeats_a_critical_gate_check(rules):
    models, gate = rules
    repeated = sorted(
        f"{mart}.{column or ''} {test}"
        for mart in KEYS
        for column, test in _dbt_tests(models[mart])
        if (mart, column, test) in gate
    )
    assert repeated == [], "checked twice a night (dbt data test and gate): " + ", ".join(repeated)


def test_every_mart_key_is_still_checked_unique_and_not_null(rules):
    models, gate = rules
    missing = []
    for mart, key in KEYS.items():
        dbt = _dbt_tests(models[mart])
        checked = dbt | {(column, test) for m, column, test in gate if m == mart}
        nulls = [c for c in key if (c, "not_null") not in checked]
        unique = (
            (key[0], "unique") in checked
            if len(key) == 1
            else (None, "unique_combination_of_columns") in checked
        )
        missing += [f"{mart}.{c} not_null" for c in nulls]
        missing += [] if unique else [f"{mart} key {'+'.join(key)} unique"]
    assert missing == [], "mart keys no longer checked: " + ", ".join(missing)
