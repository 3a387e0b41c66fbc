"""The vocabulary the suites are written in.

A layer is a list of :class:`TableSuite`: one warehouse table, what to do when it is
missing, and a ``plan`` function that, given the run (:class:`SuiteContext`), returns the
batch to validate (a SQL query, usually scoped to the run date's partition) and the
expectations, each with its severity:

* ``critical``: a failure stops the run (:class:`expectations.runner.ValidationFailed`);
* ``warning``: a failure is recorded and shown in the run report.

The expectations are ordinary Great Expectations 1.x objects, so everything runs as SQL in
DuckDB (see :mod:`expectations.duckdb_source`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import great_expectations.expectations as gxe
from great_expectations.core.result_format import ResultFormat
from great_expectations.expectations.core.unexpected_rows_expectation import (
    UnexpectedRowsExpectation,
)

from tailor.runlog import jsonable

if TYPE_CHECKING:
    import duckdb
    from great_expectations.expectations.expectation import Expectation

    from tailor.settings import Settings

CRITICAL = "critical"
WARNING = "warning"
Severity = Literal["critical", "warning"]

# A well-formed id: starts with a letter or digit, at most 128 characters of letters,
# digits and the punctuation ids use in practice (uuid dashes, "rees46-<md5>", email-like
# "a@b", "gift_0001_40", Online Retail's "BANK CHARGES"), single inner spaces allowed, no
# leading or trailing space, no control characters, no quotes.
ID_REGEX = r"^[A-Za-z0-9]([A-Za-z0-9_.:@#/+=-]| [A-Za-z0-9_.:@#/+=-]){0,127}$"

# Placeholder strings broken trackers and exports send instead of an id. A userId of
# "undefined" would merge every visitor who sent it into one customer.
PLACEHOLDER_IDS = (
    "undefined",
    "Undefined",
    "UNDEFINED",
    "null",
    "Null",
    "NULL",
    "None",
    "none",
    "NaN",
    "nan",
    "N/A",
    "n/a",
    "[object Object]",
)

SAMPLE_SIZE = 10  # failing values / rows kept per expectation


class ExpectNoUnexpectedRows(UnexpectedRowsExpectation):
    """``UnexpectedRowsExpectation`` that also returns a sample of the rows it found.

    The stock expectation only returns the rows with ``result_format="COMPLETE"`` (and then
    up to 200 of them). This one returns the first ``partial_unexpected_count`` rows with
    the default ``SUMMARY`` format too, so that a failure can name the failing values. The
    query should select the columns that identify a failing row and show what is wrong.
    """

    def _validate(
        self,
        metrics: dict,
        runtime_configuration: dict | None = None,
        execution_engine: Any = None,
    ) -> dict:
        result = super()._validate(metrics, runtime_configuration, execution_engine)
        if not isinstance(result, dict) or "result" not in result:
            return result
        fmt = self._get_result_format(runtime_configuration=runtime_configuration)
        if isinstance(fmt, Mapping):
            name = fmt.get("result_format", ResultFormat.SUMMARY)
            size = int(fmt.get("partial_unexpected_count", SAMPLE_SIZE))
        else:
            name, size = fmt, SAMPLE_SIZE
        if name in (ResultFormat.SUMMARY, ResultFormat.COMPLETE, "SUMMARY", "COMPLETE"):
            rows = metrics.get("unexpected_rows_query.table") or []
            result["result"]["details"] = {
                "unexpected_rows": [
                    {k: jsonable(v) for k, v in dict(r).items()} for r in rows[:size]
                ]
            }
        return result


@dataclass
class SuiteContext:
    """What a suite may look at while it is planned: the run date, the settings, and a
    connection to the warehouse being validated (for parameters such as the row-count
    baseline, and to see which tables and columns exist)."""

    layer: str
    run_date: dt.date
    settings: Settings
    con: duckdb.DuckDBPyConnection
    _columns: dict[str, list[str]] = field(default_factory=dict)

    def columns(self, table: str) -> list[str]:
        """The columns of ``schema.table`` in order ([] when the table does not exist)."""
        if table not in self._columns:
            schema, name = table.split(".", 1)
            rows = self.con.execute(
                """
                select column_name from information_schema.columns
                where table_catalog = current_database() and table_schema = ? and table_name = ?
                order by ordinal_position
                """,
                [schema, name],
            ).fetchall()
            self._columns[table] = [r[0] for r in rows]
        return self._columns[table]

    def exists(self, table: str) -> bool:
        return bool(self.columns(table))

    def first_column(self, table: str, candidates: Iterable[str]) -> str | None:
        present = set(self.columns(table))
        return next((c for c in candidates if c in present), None)

    @property
    def day(self) -> str:
        """The run date as a SQL literal."""
        return date_literal(self.run_date)

    @functools.cached_property
    def dbt_vars(self) -> dict[str, Any]:
        """The ``vars`` of the dbt project (thresholds shared with the models)."""
        import yaml

        path = self.settings.dbt_project / "dbt_project.yml"
        if not path.exists():
            return {}
        return (yaml.safe_load(path.read_text()) or {}).get("vars", {}) or {}


@dataclass
class SuitePlan:
    """The batch (a ``select`` over the table, usually scoped to the run date) and the
    expectations to run on it."""

    query: str
    expectations: list[Expectation]


@dataclass(frozen=True)
class TableSuite:
    """The expectations of one table.

    ``if_missing`` says what a missing table means: ``"fail"`` (a critical failure, for
    tables a layer must have) or ``"skip"`` (a warning, for tables not built yet).
    """

    table: str
    plan: Callable[[SuiteContext], SuitePlan]
    if_missing: Literal["fail", "skip"] = "fail"
    description: str = ""

    def suite_name(self, layer: str) -> str:
        return f"{layer}.{self.table.split('.', 1)[1]}"


# --------------------------------------------------------------------------- helpers


def date_literal(day: dt.date) -> str:
    return f"date '{day.isoformat()}'"


def timestamp_literal(value: dt.datetime) -> str:
    return f"timestamp '{value.isoformat(sep=' ')}'"


def sql_list(values: Iterable[Any]) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def utc(column: str) -> str:
    """A delivered timestamp text as a naive UTC timestamp (null when it does not parse)."""
    return f"timezone('UTC', try_cast({column} as timestamptz))"


def not_null(column: str, severity: Severity = CRITICAL, **kw: Any) -> Expectation:
    return gxe.ExpectColumnValuesToNotBeNull(column=column, severity=severity, **kw)


def unique(column: str, severity: Severity = CRITICAL, **kw: Any) -> Expectation:
    return gxe.ExpectColumnValuesToBeUnique(column=column, severity=severity, **kw)


def key(column: str, severity: Severity = CRITICAL) -> list[Expectation]:
    """A primary key: present and unique."""
    return [not_null(column, severity), unique(column, severity)]


def well_formed_id(column: str, severity: Severity = CRITICAL) -> Expectation:
    return gxe.ExpectColumnValuesToMatchRegex(
        column=column,
        regex=ID_REGEX,
        severity=severity,
        description=f"`{column}` is a well-formed id (letters, digits and -_.:@#/+=, at most 128 characters, no surrounding spaces)",
    )


def no_placeholder_ids(column: str, severity: Severity = CRITICAL) -> Expectation:
    return gxe.ExpectColumnValuesToNotBeInSet(
        column=column,
        value_set=list(PLACEHOLDER_IDS),
        severity=severity,
        description=f"`{column}` is never a placeholder such as 'undefined' or 'null'",
    )


def in_set(
    column: str, values: Iterable[Any], severity: Severity = CRITICAL, **kw: Any
) -> Expectation:
    return gxe.ExpectColumnValuesToBeInSet(
        column=column, value_set=list(values), severity=severity, **kw
    )


def between(
    column: str,
    min_value: Any = None,
    max_value: Any = None,
    severity: Severity = CRITICAL,
    **kw: Any,
) -> Expectation:
    return gxe.ExpectColumnValuesToBeBetween(
        column=column, min_value=min_value, max_value=max_value, severity=severity, **kw
    )


def no_rows(query: str, description: str, severity: Severity = CRITICAL) -> Expectation:
    """Fails when ``query`` (over ``{batch}``) returns any row; the rows are the sample."""
    return ExpectNoUnexpectedRows(
        unexpected_rows_query=query, description=description, severity=severity
    )


def strict_and_mostly(
    make: Callable[..., Expectation], *args: Any, mostly: float, **kw: Any
) -> list[Expectation]:
    """The same check twice: ``critical`` when more than ``1 - mostly`` of the rows fail (a
    systematic problem), ``warning`` for any failing row (a few bad records)."""
    return [
        make(*args, severity=CRITICAL, mostly=mostly, **kw),
        make(*args, severity=WARNING, **kw),
    ]


def eligible_missing_query(eligible_sql: str, key_column: str = "customer_id") -> str:
    """Rows of ``eligible_sql`` (a query returning ``key_column``) absent from the batch."""
    return f"""
        select eligible.{key_column}
        from ({eligible_sql}) as eligible
        left join (select distinct {key_column} from {{batch}}) as found
            on found.{key_column} = eligible.{key_column}
        where found.{key_column} is null
        order by eligible.{key_column}
    """
