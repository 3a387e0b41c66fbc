"""``tailor export``: a day's audiences to the destinations, then the snapshot."""

from __future__ import annotations

import click
from rich.table import Table

from tailor.cli import main
from tailor.cli.common import _date, console, out
from tailor.settings import get_settings


@main.command()
@click.option("--date", "day", required=True, help="The run date (YYYY-MM-DD).")
@click.option(
    "--destination",
    "destinations",
    multiple=True,
    help="Only this destination (repeatable; disabled ones too). Default: every enabled one.",
)
@click.option(
    "--no-send", is_flag=True, help="Write the files but do not call webhook destinations."
)
def export(day: str, destinations: tuple[str, ...], no_send: bool) -> None:
    """Export audiences to the destinations of config/destinations.yml (TAILOR_DESTINATIONS).

    Reads marts.audiences as built for the day, keeps out everyone without the
    destination's consent purpose, erased people and the A/B control group, applies the
    frequency cap, and writes each destination's files atomically with a manifest under
    the exports folder (logged in ops.export_log), once the warehouse has committed them.
    Rerunning a day gives the same bytes.
    """
    from tailor import exports, pipeline
    from tailor.publish import publish_snapshot

    s = get_settings()
    run_day = _date(day)
    if not s.warehouse.exists():
        raise click.ClickException(f"no warehouse at {s.warehouse}: run `tailor run` first")
    try:
        with console.status(f"exporting {run_day}"), pipeline.working_copy(s) as work:
            results = exports.export_all(
                run_day, work, destinations=list(destinations) or None, send=not no_send
            )
    except (exports.ExportError, exports.ConfigError, KeyError) as exc:
        raise click.ClickException(f"{exc}\nThe warehouse is unchanged.") from exc
    exports.refresh_status(results, s)  # published at the commit: staged -> succeeded, ...
    publish_snapshot(s)
    table = Table(
        "destination",
        "status",
        "rows",
        "adds",
        "updates",
        "removes",
        "no consent",
        "capped",
        "output",
    )
    for r in results:
        c = r.counts
        table.add_row(
            r.destination,
            r.status,
            f"{sum(f.rows for f in r.files):,}",
            *(
                f"{c.get(k, 0):,}"
                for k in ("adds", "updates", "removes", "excluded_no_consent", "excluded_capped")
            ),
            r.output_dir,
        )
    out.print(table)
