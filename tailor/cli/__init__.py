"""The ``tailor`` command line: the click group ``main`` (the console script
``tailor.cli:main``) and, one module per group of commands:

* ``nightly``: load, run, anomalies, dbt, validate;
* ``models``: segment, score, recommend;
* ``export``: export; ``erase``: erase; ``generate``: generate;
* ``inspection``: paths, summary, sql, check, report, publish, bench;
* ``common``: the consoles, date options and operator errors they share.

The usual operator mistakes end as one line on stderr and exit code 1, never a traceback;
run as the process's own command line, the process ends without the interpreter's
teardown (``tailor.quiet``).
"""

from __future__ import annotations

import sys

import click

from tailor.cli.common import _operator_error


class _Tailor(click.Group):
    """The command group: the usual operator mistakes, wherever a command meets them, end
    as one line on stderr and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Exception as exc:
            message = _operator_error(exc)
            if message is None:
                raise
            raise click.ClickException(message) from None

    def main(self, args=None, *rest, **kwargs):
        """As the process's own command line (no ``args`` given: not a test's runner), end
        without the interpreter's teardown once the command is done (``tailor.quiet``)."""
        if args is not None or rest or kwargs.get("standalone_mode") is False:
            return super().main(args, *rest, **kwargs)
        try:
            super().main(**kwargs)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if not isinstance(exc.code, int | None):
                print(exc.code, file=sys.stderr)
        from tailor.quiet import exit_now

        exit_now(code)


@click.group(cls=_Tailor, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Tailor: a personalization warehouse on DuckDB.

    Paths come from environment variables (TAILOR_HOME, TAILOR_WAREHOUSE, TAILOR_LANDING,
    ...); `tailor paths` shows what they resolve to.
    """


# The commands register themselves on ``main`` when their module is imported.
from tailor.cli import erase, export, generate, inspection, models, nightly  # noqa: E402, F401
