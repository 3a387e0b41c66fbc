"""What the data-quality gate tests share (tests/integration/test_expectations*.py): the
module's settings in a fresh folder, small warehouses beside each other, a validation that
returns its report whether or not it failed, and the good marts the marts and ML gates
start from."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest

from tests.conftest import point_tailor_at

RUN_DAY = dt.date(2026, 10, 14)  # marts and ML


def module_settings(tmp_path_factory: pytest.TempPathFactory):
    """``tailor_env`` at module scope (yields the settings; a test module wraps it in a
    module-scoped fixture): every Tailor path in a fresh temporary folder."""
    from tailor.settings import get_settings

    data = tmp_path_factory.mktemp("gx") / "data"
    with pytest.MonkeyPatch.context() as mp:
        point_tailor_at(mp, data)
        mp.setenv("TAILOR_DESTINATIONS", str(write_destinations(data, "good", email_only=True)))
        yield get_settings()


def warehouse(settings, name: str):
    """Settings pointing at another warehouse file in the same data folder."""
    # (never a schema name: DuckDB names the catalog after the file)
    return dataclasses.replace(settings, warehouse=settings.data / "warehouse" / f"{name}.duckdb")


def connect(s):
    from tailor.warehouse import connect

    return connect(s.warehouse, settings=s)


def validate(layer: str, day: dt.date, s):
    """(report, exception): the report whether or not the validation failed."""
    from expectations.runner import ValidationFailed, validate_layer

    try:
        return validate_layer(layer, day, s), None
    except ValidationFailed as exc:
        return exc.report, exc


def evaluated(layer: str, day: dt.date, s, engine: str) -> dict:
    """Every suite of ``layer`` evaluated by ``engine`` (``sql``: as the gates evaluate
    them, expectations/sql_checks.py; ``gx``: by a GX checkpoint, the reference), without
    recording anything: {suite: its results in a comparable form, in one order}."""
    from expectations import runner, sql_checks
    from expectations.suites import LAYERS as SUITES
    from expectations.suites.base import SuiteContext

    con = connect(s)
    try:
        report = runner.ValidationReport(
            run_id=f"compare-{engine}-{layer}-{day}",
            run_date=day,
            layer=layer,
            warehouse=str(s.warehouse),
            started_at=runner.utcnow(),
        )
        ctx = SuiteContext(layer=layer, run_date=day, settings=s, con=con)
        plans = runner.plan_suites(report, SUITES[layer], ctx)
        if engine == "gx":
            con.close()  # GX opens the file itself
            out, _ = runner._run_gx(report, plans, s, s.warehouse)
        else:  # every suite of the gates is one the gates evaluate in SQL
            assert all(sql_checks.supported(p.expectations) for _, p in plans)
            out = runner._run_sql(report, plans, con)
    finally:
        con.close()
    return {  # GX orders a suite's results its own way
        v.suite_name: sorted(
            (_comparable(r) for r in v.results), key=lambda c: json.dumps(c, default=str)
        )
        for v in out.values()
    }


def _comparable(r) -> dict:
    """What a result says, in a form two evaluations of the same check can be compared in:
    a sample of failing values is compared whole only when it holds every failing value
    (which 10 of more stand in the sample depends on the scan order)."""
    res = dict(r.result or {})
    count = res.get("unexpected_count", res.get("observed_value"))
    out = {
        "type": r.expectation_config.type,
        "kwargs": {k: v for k, v in r.expectation_config.kwargs.items() if k != "batch_id"},
        "success": r.success,
        "exception": bool((r.exception_info or {}).get("raised_exception")),
    }
    for key in ("element_count", "unexpected_count", "missing_count", "observed_value"):
        if key in res:
            out[key] = res[key]
    for key in ("unexpected_percent", "missing_percent", "unexpected_percent_total"):
        if res.get(key) is not None:
            out[key] = round(res[key], 9)
    sample = res.get("partial_unexpected_list")
    if sample is None:
        sample = (res.get("details") or {}).get("unexpected_rows")
    if sample is not None:
        whole = isinstance(count, int) and count <= len(sample)
        out["sample"] = sorted(json.dumps(v, default=str, sort_keys=True) for v in sample)
        out["sample"] = out["sample"] if whole else len(sample)
    return out


def failed(
    report, table: str, expectation: str, column: str | None = None, severity: str = "critical"
):
    """The failed outcome of one expectation (asserting there is exactly one)."""
    found = [
        o
        for o in report.outcomes
        if o.table == table
        and o.expectation == expectation
        and (column is None or o.column == column)
        and o.severity == severity
        and not o.success
    ]
    assert len(found) == 1, (
        table,
        expectation,
        column,
        [o.describe() for o in report.outcomes if not o.success],
    )
    return found[0]


def write_destinations(data: Path, name: str, email_only: bool) -> Path:
    """A destinations file: a Mailchimp list of cart abandoners (email consent) and, unless
    ``email_only``, a Klaviyo win-back list misconfigured to require only analytics."""
    lines = [
        "version: 1",
        "destinations:",
        "  - {name: mailchimp_cart, format: mailchimp_csv, audience: trigger_cart_abandoners, consent: email_marketing}",
    ]
    if not email_only:
        lines.append(
            "  - {name: klaviyo_win_back, format: klaviyo_csv, audience: trigger_win_back, consent: analytics}"
        )
    path = data / "config" / f"destinations_{name}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def build_marts(con, day: dt.date = RUN_DAY) -> None:
    con.execute("create schema if not exists marts")
    con.execute(
        f"""
        create or replace table marts.customers as
        select 'C' || lpad(i::varchar, 3, '0') as customer_id,
               i % 4 <> 0 as has_email_marketing_consent, false as has_sms_marketing_consent,
               i % 5 <> 0 as has_personalization_consent, true as has_analytics_consent,
               date '{day}' as as_of_date
        from range(1, 21) t(i)
        """
    )
    con.execute(
        f"""
        create or replace table marts.customer_rfm as
        select customer_id, date '{day}' as as_of_date, i * 3 as recency_days, 1 + i % 3 as frequency,
               10.0 * i as monetary, 1 + i % 5 as r_score, 1 + (i + 1) % 5 as f_score,
               1 + (i + 2) % 5 as m_score, 1 + (i + 3) % 5 as fm_score,
               (1 + i % 5)::varchar || (1 + (i + 1) % 5)::varchar || (1 + (i + 2) % 5)::varchar as rfm_code,
               'Loyal' as rfm_segment
        from (select customer_id, row_number() over (order by customer_id) as i from marts.customers)
        where i <= 10
        """
    )
    con.execute(
        f"create or replace table marts.customer_lifecycle as select customer_id, date '{day}' as as_of_date, 'active' as lifecycle_stage from marts.customers"
    )
    con.execute(
        f"create or replace table marts.customer_features as select customer_id, date '{day}' as as_of_date, 3 as recency_days, 1 as frequency, 10.0 as monetary from marts.customers"
    )
    con.execute(
        "create or replace table marts.orders as select 'O' || i as order_id, case when i = 3 then null else 'C001' end as customer_id, 'completed' as status from range(5) t(i)"
    )
    con.execute(
        "create or replace table marts.sessions as select 's' || i as session_id, timestamp '2026-10-14 10:00' as started_at, 60 * i as duration_seconds from range(5) t(i)"
    )
    con.execute(
        """
        create or replace table marts.products as
        select 'P' || lpad(i::varchar, 2, '0') as product_id, 10.0 + i as price, true as is_active,
               'Home > Kitchen' as category_path
        from range(1, 16) t(i)
        """
    )
    # Every customer bought P01 and the product of its own number (P02..P15, cycling).
    con.execute(
        """
        create or replace table marts.user_item_interactions as
        select c.customer_id, p.product_id, 1.5 as interaction_score, 1 as purchase_count
        from marts.customers c
        join marts.products p
          on p.product_id = 'P01'
          or p.product_id = 'P' || lpad((2 + (right(c.customer_id, 3)::int % 14))::varchar, 2, '0')
        """
    )
