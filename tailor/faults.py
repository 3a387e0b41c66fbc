"""Named failure points, so reliability tests can crash a real run at a chosen step.

Set ``TAILOR_FAIL_AT=<point>`` (for example ``load.before_commit``) and the process raises
(``TAILOR_FAIL_MODE=raise``, the default) or dies on the spot without cleanup
(``TAILOR_FAIL_MODE=exit``) when it reaches that point. Unset, this does nothing.

Points: ``load.after_file`` and ``load.before_commit`` inside a day's load, and
``stage.<name>`` right after each stage of ``tailor.pipeline.STAGES`` under ``tailor run``
(``stage.export`` is after the last stage, before the commit).
"""

from __future__ import annotations

import os


class InjectedFault(RuntimeError):
    pass


def maybe_fail(point: str) -> None:
    if os.environ.get("TAILOR_FAIL_AT") != point:
        return
    if os.environ.get("TAILOR_FAIL_MODE", "raise") == "exit":
        os._exit(99)
    raise InjectedFault(f"injected failure at {point}")
