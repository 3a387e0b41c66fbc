"""``tailor generate``: synthetic landing files (and their ground truth)."""

from __future__ import annotations

import datetime as dt

import click
from rich.table import Table

from tailor.cli import main
from tailor.cli.common import _date, _progress, out
from tailor.settings import get_settings


@main.command()
@click.option("--customers", default=5000, show_default=True, help="Customers in the CRM.")
@click.option("--products", default=800, show_default=True, help="Products in the catalog.")
@click.option("--days", default=30, show_default=True, help="Logical days of data.")
@click.option("--start", default="2026-10-01", show_default=True, help="First logical day.")
@click.option("--seed", default=42, show_default=True, help="Random seed (same seed, same files).")
@click.option(
    "--dirt", default=1.0, show_default=True, help="Scale every dirt rate (0 = clean data)."
)
@click.option(
    "--incident",
    "incident_specs",
    multiple=True,
    metavar="KIND:YYYY-MM-DD[:MAGNITUDE]",
    help="Break a day (repeatable): mobile_outage, bot_spike, broken_price_feed,"
    " consent_banner_bug; listed in <ground_truth>/incidents.csv.",
)
@click.option(
    "--shape",
    type=click.Choice(["both", "events-only", "orders-only"]),  # synthetic.config.SHAPE_OMITS
    default="both",
    show_default=True,
    help="The store's shape: events and backend orders, events only, or orders only.",
)
@click.option(
    "--append",
    "append_days",
    type=click.IntRange(min=1),
    metavar="N",
    help="Add N days to the data set in the landing zone: same customers, products, ids"
    " and options.",
)
def generate(
    customers: int,
    products: int,
    days: int,
    start: str,
    seed: int,
    dirt: float,
    incident_specs: tuple[str, ...],
    shape: str,
    append_days: int | None,
) -> None:
    """Generate realistic synthetic sources into the landing zone."""
    from tailor.incidents import check_window, parse_incident
    from tailor.synthetic.config import SHAPE_OMITS, DirtConfig, GeneratorConfig
    from tailor.synthetic.driver import generate as run_generate
    from tailor.synthetic.manifest import appended_config

    s = get_settings()
    config = GeneratorConfig(
        customers=customers,
        products=products,
        days=days,
        start=_date(start),
        seed=seed,
        dirt=DirtConfig().scaled(dirt),
    )
    first = 0
    if append_days:  # the options given must agree with the data set's
        ctx = click.get_current_context()
        given = {k for k in ctx.params if ctx.get_parameter_source(k).name != "DEFAULT"}
        try:
            config, shape, first = appended_config(s.landing, config, shape, given, append_days)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    try:
        incidents = tuple(parse_incident(x) for x in incident_specs)
        check_window(incidents, config.start + dt.timedelta(days=first), config.days - first)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--incident") from exc
    try:
        with _progress() as progress:
            task = progress.add_task("generating days", total=config.days - first)
            summary = run_generate(
                config,
                s.landing,
                s.ground_truth,
                progress=lambda done, total: progress.update(task, completed=done),
                incidents=incidents,
                shape=shape,
                first_day=first,
            )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    table = Table(title=f"Generated into {s.landing} ({shape})")
    table.add_column("source")
    table.add_column("records", justify="right")
    for name, n in sorted(summary.rows.items()):
        if name not in SHAPE_OMITS[shape]:
            table.add_row(name, f"{n:,}")
    out.print(table)
    out.print(
        f"{summary.events:,} events in {summary.seconds:.1f} s; ground truth in {s.ground_truth}"
    )
