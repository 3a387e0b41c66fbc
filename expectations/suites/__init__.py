"""Expectation suites as code, one module per layer (see each module for its checks)."""

from __future__ import annotations

from expectations.suites import marts, ml, raw
from expectations.suites.base import TableSuite

LAYERS: dict[str, list[TableSuite]] = {
    "raw": raw.SUITES,
    "marts": marts.SUITES,
    "ml": ml.SUITES,
}
