"""One conversion to JSON for stage results (Airflow XComs, the run log) and the
expectation suites' samples: what a warehouse row can hold comes out as JSON can hold it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import math
from pathlib import Path

import pytest

from tailor.runlog import jsonable

pytestmark = pytest.mark.unit


@dataclasses.dataclass
class _Result:
    day: dt.date
    revenue: decimal.Decimal
    folder: Path


def test_a_stage_result_with_warehouse_values_becomes_plain_json():
    value = {
        "result": _Result(dt.date(2026, 10, 3), decimal.Decimal("12.50"), Path("/data/x")),
        "at": dt.time(4, 30),
        "ratio": math.nan,
        "tags": {"b"},
        7: (1, None, True),
    }
    out = jsonable(value)
    assert out == {
        "result": {"day": "2026-10-03", "revenue": 12.5, "folder": "/data/x"},
        "at": "04:30:00",
        "ratio": None,
        "tags": ["b"],
        "7": [1, None, True],
    }
    json.loads(json.dumps(out, allow_nan=False))  # strict JSON: no NaN, nothing unknown


def test_the_expectation_suites_use_the_same_conversion():
    from expectations.suites import base

    assert base.jsonable is jsonable
