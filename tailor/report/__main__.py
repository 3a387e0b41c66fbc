"""``python -m tailor.report --date D [--database PATH] [--sync-run-log] [--dbt-docs]``:
write a run report (and publish the dbt docs) outside a run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from tailor.report.dbt_docs import publish_dbt_docs
from tailor.report.pages import write_run_report
from tailor.settings import get_settings


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tailor.report --date D [--database PATH] [--sync-run-log] [--dbt-docs]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tailor.report")
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--database", type=Path, default=None)
    parser.add_argument(
        "--sync-run-log", action="store_true", help="load the run log into ops.run_log first"
    )
    parser.add_argument("--dbt-docs", action="store_true", help="also publish the dbt docs")
    args = parser.parse_args(argv)
    s = get_settings()
    if args.dbt_docs:
        print(publish_dbt_docs(s))
    print(write_run_report(args.date, s, database=args.database, sync_run_log=args.sync_run_log))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
