"""Great Expectations in a process with pyspark installed (the spark dependency group).

pyspark's Spark Connect package ends a process silently (``sys.exit(0)``) when it is
imported from a ``python -c`` script, and Great Expectations imports it: a gate run from
such a process would stop the night without an error. ``expectations/__init__.py`` keeps
Great Expectations away from it.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    importlib.util.find_spec("pyspark") is None, reason="pyspark is not installed here"
)
def test_a_python_c_process_survives_the_great_expectations_import():
    code = "import expectations.runner, great_expectations.expectations; print('still here')"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "still here" in out.stdout, out.stderr[-2000:]
