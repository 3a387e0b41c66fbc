"""The run report: one static HTML page per nightly run, the runs index, the dbt docs, and
the run log as a table.

::

    from tailor import report

    report.write_run_report(day, settings, ctx=ctx)   # <reports>/runs/<day>/index.html
    report.write_runs_index(settings)                 # <reports>/runs/index.html (newest first)
    tailor.runlog.load_run_log(con, path)             # data/runs/run_log.jsonl -> ops.run_log
    report.publish_dbt_docs(settings)                 # <reports>/dbt_docs/index.html

A report is one self-contained file: inline CSS, plots drawn as inline SVG here (no
JavaScript, no network, no plotting library), every value HTML-escaped. It reads the
warehouse (or any DuckDB file given, e.g. the published snapshot) read-only after the run:
row counts per layer, the day's load and quarantine, the validation summary with every
failed expectation, the night's anomalies with a small chart of each flagged series (and a
banner when they held the exports), segments, the RFM distribution and heatmap, model
metrics with recommendation NDCG@10 over runs, exports, and the recent run log. Every section says
"not available" when its table is missing or empty, so a report can be written for any
warehouse, even an empty one.

Privacy: the report prints no names or e-mail addresses. The only person-level values it
shows are validation samples as stored in ``ops.validation_results`` (which erasure
scrubs); anything there, or in a run log error, that looks like an e-mail address is
masked anyway.

The package owns, one file each:

* ``gather``: what a report shows, read from the database, the stage results and the run log;
* ``sections``, ``ml_sections``: each section's HTML from those facts;
* ``markup``: escaping and formatting of values, tables, the page template
  (``templates/page.html``); ``charts``: the inline SVG plots;
* ``pages``: writing a run's report, its ``summary.json`` and the runs index;
* ``dbt_docs``: the dbt docs as one file (the run log file -> ``ops.run_log`` is
  ``tailor.runlog``);
* ``__main__``: ``python -m tailor.report --date D``.
"""

from tailor.report.dbt_docs import publish_dbt_docs
from tailor.report.pages import (
    atomic_write,
    render_run_report,
    report_dir,
    report_html,
    write_run_report,
    write_runs_index,
)
from tailor.report.sections import ReportData, Section

__all__ = [
    "ReportData",
    "Section",
    "atomic_write",
    "publish_dbt_docs",
    "render_run_report",
    "report_dir",
    "report_html",
    "write_run_report",
    "write_runs_index",
]
