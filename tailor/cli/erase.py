"""``tailor erase``: a person's erasure (the right to be forgotten), with its audit."""

from __future__ import annotations

import json

import click

from tailor.cli import main
from tailor.cli.common import _date, console, out
from tailor.settings import get_settings


@main.command()
@click.option("--email", help="The person's email address.")
@click.option("--customer-id", help="The person's customer id.")
@click.option("--date", "day", help="The day the erasure counts as (default: today).")
@click.option(
    "--defer",
    "--keep-landing",
    "defer",
    is_flag=True,
    help="Erase from every table, export and the snapshot now; leave the files (landing, "
    "export copies, reports and logs) and the compaction of the warehouse file to the "
    "batched pass, due within erasure.physical_deadline_days (config/tailor.yml), as for "
    "a nightly request.",
)
@click.option(
    "--flush",
    is_flag=True,
    help="Run the physical part of every pending erasure now (landing files, export "
    "copies, reports and logs, then the warehouse file compacted), and republish the "
    "snapshot. Takes no --email or --customer-id.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Apply even above the blast-radius limits (TAILOR_ERASURE_MAX_ROWS / "
    "TAILOR_ERASURE_MAX_SHARE), after reviewing a request held for review.",
)
def erase(
    email: str | None,
    customer_id: str | None,
    day: str | None,
    defer: bool,
    flush: bool,
    force: bool,
) -> None:
    """Erase a person (the right to be forgotten) from every table, the landing zone, the
    local export copies and the published snapshot; queue a remove for every destination
    that holds them; write an audit record (ops.erasure_audit). The files of every erasure
    still pending (nightly requests wait, batched, until their deadline) are cleaned in
    the same pass. Do not run it while a nightly run is writing the warehouse.

    An email must be an email address and a customer id must be known to the warehouse;
    a request that would touch more rows than the limits allow is held for review. Such
    requests are recorded in ops.erasure_audit and change nothing else."""
    from tailor.erased import PrivacyKeyError
    from tailor.pipeline import erase_and_publish, flush_and_publish
    from tailor.privacy.erasure import ErasureNotApplied

    s = get_settings()
    if flush:
        if email or customer_id or defer:
            raise click.UsageError("--flush takes no --email, --customer-id or --defer")
        try:
            with console.status("erasing the pending erasures' files"):
                done = flush_and_publish(s, _date(day))
        except (FileNotFoundError, PrivacyKeyError) as exc:
            raise click.ClickException(str(exc)) from exc
        out.print_json(json.dumps(done))
        return
    if bool(email) == bool(customer_id):
        raise click.UsageError("give exactly one of --email or --customer-id (or --flush)")
    try:
        with console.status("erasing"):
            result = erase_and_publish(
                s,
                customer_id=customer_id,
                email=email,
                day=_date(day),
                defer=defer,
                force=force,
            )
    except ErasureNotApplied as exc:
        raise click.ClickException(
            f"the erasure was not applied, {exc}\n(recorded in ops.erasure_audit as "
            f"{exc.result.status}, audit id {exc.result.audit_id})"
        ) from exc
    except (FileNotFoundError, PrivacyKeyError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    out.print_json(
        json.dumps(
            {
                "audit_id": result.audit_id,
                "subject_hash": result.subject_hash,
                "identifiers": result.identity.counts(),
                "rows_removed": result.rows_removed,
                "rows_anonymized": result.rows_anonymized,
                "tables": {t.table: t.rows_removed + t.rows_anonymized for t in result.tables},
                "landing_records": result.landing_records,
                "export_rows_redacted": result.export_rows,
                "other_files_redacted": result.other_files,
                "destinations_notified": result.destinations_notified,
                "physical_due_on": str(result.physical_due_on),
                "physically_erased_on": (
                    str(result.physically_erased_on) if result.physically_erased_on else None
                ),
            }
        )
    )
