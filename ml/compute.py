"""How many threads the ML jobs' native code (OpenMP, BLAS) may use.

scikit-learn's K-Means and histogram gradient boosting run OpenMP loops whose threads
spin while they wait. When the machine is shared (dbt, Airflow, other jobs) more threads
than free cores make these loops many times slower than one thread, so the jobs default
to one thread; set ``TAILOR_ML_THREADS`` to allow more on a dedicated machine.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from threadpoolctl import threadpool_limits


def ml_threads() -> int:
    value = os.environ.get("TAILOR_ML_THREADS", "1")
    try:
        return max(1, int(value))
    except ValueError:
        return 1


@contextlib.contextmanager
def limited_threads(n: int | None = None) -> Iterator[None]:
    """Limit OpenMP and BLAS thread pools to ``n`` (default: ``ml_threads()``)."""
    with threadpool_limits(limits=n or ml_threads()):
        yield
