"""A suite's expectations evaluated as plain SQL in DuckDB, with Great Expectations' results.

Great Expectations spends about 25 ms of Python on every expectation it validates (its
metric graph, pydantic models and deep copies), whatever the data, and the raw gate's
queries are a small part of its time. The gates' suites use a handful of column and table
checks whose meaning is simple, so they are evaluated here instead
(``benchmarks/gate_checks.py``; the demo's raw data: one night's 66 checks 1.4 s in GX
against 0.1 s here, a backfill's 21 days, 1,386 checks, 31.8 s against 3.2 s; the marts
gate's 89 checks 1.6 s against 0.1-0.2 s):

* the batch's rows are counted (a batch that cannot be read fails every check, with the
  reason), then one aggregate query per suite counts, for every column check, the nulls
  and the unexpected values in a single scan of the batch;
* a failing check then fetches its sample (the first :data:`SAMPLE_SIZE` unexpected
  values), and an unexpected-rows check runs its own query, as GX does;
* the verdicts follow GX's rules (``mostly`` over the non-null rows, nulls ignored by
  every column check but ``not null``, a check of an empty batch passes), and each result
  is built by GX's own formatting function into GX's result objects, so the rest of the
  gate (``ops.validation_results``, the JSON report, the Data Docs pages) is the same
  whichever evaluated them. The integration tests run every gate both ways on good and
  broken data and compare every result.

The suites stay written as GX expectations (:mod:`expectations.suites`). :func:`evaluate`
refuses an expectation type this module does not know (:class:`Unsupported`);
:func:`expectations.runner.run_suites` sends a suite holding one to GX instead
(:func:`supported`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tailor.runlog import jsonable

if TYPE_CHECKING:
    import duckdb
    from great_expectations.expectations.expectation import Expectation

SAMPLE_SIZE = 10
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}

# Column checks: the SQL that is true for an unexpected (non-null) value. ``{c}`` is the
# quoted column; parameters come from the expectation's kwargs (see _condition).
COLUMN_CHECKS = (
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_match_regex",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_unique",
)
TABLE_CHECKS = ("expect_table_row_count_to_be_between", "expect_no_unexpected_rows")
COMPOUND_UNIQUE = "expect_compound_columns_to_be_unique"
SUPPORTED = frozenset((*COLUMN_CHECKS, *TABLE_CHECKS, COMPOUND_UNIQUE))


class Unsupported(ValueError):
    """An expectation this module cannot evaluate."""


def supported(expectations: Sequence[Expectation]) -> bool:
    """Whether every expectation is one this module evaluates (and so the whole suite)."""
    return all(e.expectation_type in SUPPORTED for e in expectations)


def check_supported(expectations: Sequence[Expectation]) -> None:
    for e in expectations:
        if e.expectation_type not in SUPPORTED:
            raise Unsupported(f"{e.expectation_type} is not evaluated in SQL")


def quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


@dataclass
class _Column:
    """One column check's place in the suite's aggregate query."""

    index: int
    expectation: Any
    column: str
    condition: str | None  # true for an unexpected non-null value (None: not null)
    params: list[Any]


def _condition(e: Any) -> tuple[str | None, list[Any]]:
    """The SQL (over ``{c}``) true for an unexpected value of a column check, with its
    parameters; ``None`` for not null (the unexpected values are the nulls)."""
    kw = e.configuration.kwargs
    kind = e.expectation_type
    if kind == "expect_column_values_to_not_be_null":
        return None, []
    if kind == "expect_column_values_to_match_regex":
        return "not regexp_matches({c}, ?)", [kw["regex"]]
    if kind in ("expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set"):
        values = list(kw["value_set"])
        if not values:  # nothing is in an empty set
            return ("true" if kind == "expect_column_values_to_be_in_set" else "false"), []
        marks = ", ".join("?" * len(values))
        negate = "not " if kind == "expect_column_values_to_be_in_set" else ""
        return f"{negate}({{c}} in ({marks}))", values
    if kind == "expect_column_values_to_be_between":
        parts, params = [], []
        if kw.get("min_value") is not None:
            parts.append("{c} > ?" if kw.get("strict_min") else "{c} >= ?")
            params.append(kw["min_value"])
        if kw.get("max_value") is not None:
            parts.append("{c} < ?" if kw.get("strict_max") else "{c} <= ?")
            params.append(kw["max_value"])
        if not parts:
            raise Unsupported("expect_column_values_to_be_between needs a min or a max")
        return "not (" + " and ".join(parts) + ")", params
    if kind == "expect_column_values_to_be_unique":
        # a value is unexpected when another row holds it too (every copy counts)
        return "count(*) over (partition by {c}) > 1", []
    raise Unsupported(f"{kind} is not a column check")


def evaluate(con: duckdb.DuckDBPyConnection, query: str, expectations: Sequence[Any]) -> list:
    """Evaluate ``expectations`` on the batch ``query`` selects; returns one GX
    ``ExpectationValidationResult`` per expectation, in order. An expectation whose SQL
    fails gets a result with the exception, as in GX, and the others still run."""
    from great_expectations.core.expectation_validation_result import (
        ExpectationValidationResult,
    )

    check_supported(expectations)
    batch = f"({query}) as batch"
    out: list[Any] = [None] * len(expectations)
    columns: list[_Column] = []
    for i, e in enumerate(expectations):
        if e.expectation_type in COLUMN_CHECKS:
            condition, params = _condition(e)
            columns.append(_Column(i, e, e.configuration.kwargs["column"], condition, params))

    def failed(e: Any, exc: BaseException) -> Any:
        message = f"{type(exc).__name__}: {exc}"
        return ExpectationValidationResult(
            success=False,
            expectation_config=e.configuration,
            result={},
            # the pages show the traceback's text: the message stands in for it
            exception_info={
                "raised_exception": True,
                "exception_message": message,
                "exception_traceback": message,
            },
        )

    try:
        total = _row_count(con, batch)
    except Exception as exc:  # the batch itself cannot be read: every check says why
        return [failed(e, exc) for e in expectations]
    counts: dict[int, tuple[int, int, int]] = {}
    try:
        counts = _column_counts(con, batch, columns)
    except Exception:  # one check's bad SQL must not hide the others: one at a time
        for c in columns:
            try:
                counts.update(_column_counts(con, batch, [c]))
            except Exception as exc:
                out[c.index] = failed(c.expectation, exc)
    for c in columns:
        if out[c.index] is not None:
            continue
        try:
            out[c.index] = _column_result(con, batch, c, *counts[c.index])
        except Exception as exc:
            out[c.index] = failed(c.expectation, exc)
    for i, e in enumerate(expectations):
        if out[i] is not None:
            continue
        try:
            if e.expectation_type == "expect_table_row_count_to_be_between":
                out[i] = _row_count_result(e, total)
            elif e.expectation_type == COMPOUND_UNIQUE:
                out[i] = _compound_unique_result(con, batch, e, total)
            else:
                out[i] = _unexpected_rows_result(con, query, e)
        except Exception as exc:
            out[i] = failed(e, exc)
    return out


def _row_count(con: duckdb.DuckDBPyConnection, batch: str) -> int:
    return int(con.execute(f"select count(*) from {batch}").fetchone()[0])


def _column_counts(
    con: duckdb.DuckDBPyConnection, batch: str, columns: list[_Column]
) -> dict[int, tuple[int, int, int]]:
    """{index: (rows, nulls, unexpected non-null values)} of every column check, in one
    scan of the batch. Uniqueness needs a window per column: its flags are computed in an
    inner select."""
    inner = ["*"]
    selects = ["count(*)"]
    params: list[Any] = []
    for n, c in enumerate(columns):
        col = quote(c.column)
        selects.append(f"count(*) - count({col})")
        if c.condition is None:
            selects.append("0")
        elif c.expectation.expectation_type == "expect_column_values_to_be_unique":
            inner.append(f"{col} is not null and {c.condition.format(c=col)} as _dup_{n}")
            selects.append(f"count_if(_dup_{n})")
        else:
            selects.append(f"count_if({col} is not null and ({c.condition.format(c=col)}))")
            params += c.params
    row = con.execute(
        f"select {', '.join(selects)} from (select {', '.join(inner)} from {batch}) as checked",
        params,
    ).fetchone()
    total = int(row[0] or 0)
    return {
        c.index: (total, int(row[1 + 2 * n] or 0), int(row[2 + 2 * n] or 0))
        for n, c in enumerate(columns)
    }


def _column_result(
    con: duckdb.DuckDBPyConnection, batch: str, c: _Column, total: int, nulls: int, bad: int
) -> Any:
    e = c.expectation
    mostly = e.configuration.kwargs.get("mostly")
    mostly = 1.0 if mostly is None else float(mostly)
    col = quote(c.column)
    if c.condition is None:  # not null: every row counts, the nulls are unexpected
        unexpected, considered, nonnull = nulls, total, None
        sample = [None] * min(nulls, SAMPLE_SIZE)
    else:
        unexpected, considered, nonnull = bad, total - nulls, total - nulls
        sample = []
        if bad:
            if e.expectation_type == "expect_column_values_to_be_unique":
                sql = (
                    f"select {col} from (select {col}, {c.condition.format(c=col)} as _dup "
                    f"from {batch}) as checked where {col} is not null and _dup limit {SAMPLE_SIZE}"
                )
                sample = [r[0] for r in con.execute(sql).fetchall()]
            else:
                sql = (
                    f"select {col} from {batch} where {col} is not null "
                    f"and ({c.condition.format(c=col)}) limit {SAMPLE_SIZE}"
                )
                sample = [r[0] for r in con.execute(sql, c.params).fetchall()]
    if total == 0:  # GX counts nothing on an empty batch, and the check passes
        unexpected, sample = None, []
    return _map_result(e, total, considered, nonnull, unexpected, sample, mostly)


def _map_result(
    e: Any,
    total: int,
    considered: int,
    nonnull: int | None,
    unexpected: int | None,
    sample: list[Any],
    mostly: float,
) -> Any:
    """A map check's result as GX builds it: passes when nothing was considered, else when
    the share of expected values among the ``considered`` reaches ``mostly``."""
    from great_expectations.core.expectation_validation_result import (
        ExpectationValidationResult,
    )
    from great_expectations.expectations.expectation import _format_map_output, _mostly_success
    from great_expectations.expectations.expectation_configuration import parse_result_format

    success = True if not considered else _mostly_success(considered, unexpected, mostly)
    result = _format_map_output(
        result_format=parse_result_format(RESULT_FORMAT),
        success=success,
        element_count=total,
        nonnull_count=nonnull,
        unexpected_count=unexpected,
        unexpected_list=sample,
    )
    return ExpectationValidationResult(
        success=result["success"],
        expectation_config=e.configuration,
        result=result["result"],
        exception_info=_no_exception(),
    )


def _compound_unique_result(con: duckdb.DuckDBPyConnection, batch: str, e: Any, total: int) -> Any:
    """GX's compound-unique check: a row is unexpected when another row holds the same
    values in every listed column. As in GX on SQL, which joins the rows to their group
    counts on equal values, a row with a null in one of the columns is never a duplicate;
    ``ignore_row_if`` (default: all values missing) says which rows are not considered."""
    kw = e.configuration.kwargs
    cols = [quote(c) for c in kw["column_list"]]
    ignore = kw.get("ignore_row_if") or "all_values_are_missing"
    if ignore == "all_values_are_missing":
        considered_if = "not (" + " and ".join(f"{c} is null" for c in cols) + ")"
    elif ignore == "any_value_is_missing":
        considered_if = " and ".join(f"{c} is not null" for c in cols)
    elif ignore == "never":
        considered_if = "true"
    else:
        raise Unsupported(f"ignore_row_if {ignore!r}")
    no_null = " and ".join(f"{c} is not null" for c in cols)
    flagged = (
        f"select {', '.join(cols)}, ({considered_if}) as _considered, ({no_null}) and "
        f"count(*) over (partition by {', '.join(cols)}) > 1 as _dup from {batch}"
    )
    considered, unexpected = con.execute(
        f"select count_if(_considered), count_if(_considered and _dup) from ({flagged}) as f"
    ).fetchone()
    considered, unexpected = int(considered or 0), int(unexpected or 0)
    sample: list[dict[str, Any]] = []
    if unexpected:
        cursor = con.execute(
            f"select {', '.join(cols)} from ({flagged}) as f "
            f"where _considered and _dup limit {SAMPLE_SIZE}"
        )
        sample = [dict(zip(kw["column_list"], r, strict=True)) for r in cursor.fetchall()]
    mostly = kw.get("mostly")
    mostly = 1.0 if mostly is None else float(mostly)
    # an empty batch considers nothing: vacuously true, as in GX
    return _map_result(e, total, considered, considered, unexpected, sample, mostly)


def _row_count_result(e: Any, total: int) -> Any:
    from great_expectations.core.expectation_validation_result import (
        ExpectationValidationResult,
    )

    kw = e.configuration.kwargs
    low, high = kw.get("min_value"), kw.get("max_value")
    above = low is None or (total > low if kw.get("strict_min") else total >= low)
    below = high is None or (total < high if kw.get("strict_max") else total <= high)
    return ExpectationValidationResult(
        success=above and below,
        expectation_config=e.configuration,
        result={"observed_value": total},
        exception_info=_no_exception(),
    )


_HAS_JOIN = re.compile(r"\bjoin\b", re.I)


def _unexpected_rows_result(con: duckdb.DuckDBPyConnection, query: str, e: Any) -> Any:
    """GX's unexpected-rows check: the query over ``{batch}`` returns the failing rows
    (``{batch}`` is the batch as a subquery, aliased unless the query joins, as in GX)."""
    from great_expectations.core.expectation_validation_result import (
        ExpectationValidationResult,
    )

    template = e.configuration.kwargs["unexpected_rows_query"]
    batch = f"({query})" if _HAS_JOIN.search(template) else f"({query}) as batch"
    sql = template.replace("{batch}", batch)
    found = con.execute(f"select count(*) from ({sql}) as found").fetchone()[0]
    cursor = con.execute(f"select * from ({sql}) as found limit {SAMPLE_SIZE}")
    names = [d[0] for d in cursor.description]
    rows = [{k: jsonable(v) for k, v in zip(names, r, strict=True)} for r in cursor.fetchall()]
    return ExpectationValidationResult(
        success=found == 0,
        expectation_config=e.configuration,
        result={"observed_value": int(found), "details": {"unexpected_rows": rows}},
        exception_info=_no_exception(),
    )


def _no_exception() -> dict[str, Any]:
    return {"raised_exception": False, "exception_message": None, "exception_traceback": None}
