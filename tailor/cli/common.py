"""What the commands share: the consoles (``out`` for results, ``console`` on stderr for
progress), the progress bar, reading ``--date``/``--from``/``--to``, and the message of an
error an operator can fix."""

from __future__ import annotations

import datetime as dt
import sys

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True)
out = Console()


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _date(value: str | None, option: str = "--date") -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.ClickException(
            f"{option} {value!r} is not a date: write it YYYY-MM-DD, e.g. 2026-10-01"
        ) from None


def _range(
    day: str | None, start: str | None, end: str | None
) -> tuple[dt.date | None, dt.date | None]:
    """The first and last day of ``--date D`` or ``--from D1 --to D2`` (None: open)."""
    if day and (start or end):
        raise click.UsageError("use either --date or --from/--to")
    if day:
        d = _date(day)
        return d, d
    first, last = _date(start, "--from"), _date(end, "--to")
    if first and last and last < first:
        raise click.ClickException(f"--from {first} is after --to {last}")
    return first, last


def _operator_error(exc: BaseException) -> str | None:
    """The message of an error an operator causes and can fix (another program holds the
    warehouse, a broken configuration file), or None for a bug."""
    known = (
        ("tailor.warehouse", "WarehouseLocked"),
        ("tailor.config", "ConfigError"),
        ("tailor.exports.config", "ConfigError"),
    )
    for module, name in known:
        cls = getattr(sys.modules.get(module), name, None)
        if cls is not None and isinstance(exc, cls):
            return str(exc)
    return None
