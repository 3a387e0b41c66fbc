"""The ML stages one at a time: ``tailor segment``, ``tailor score``, ``tailor recommend``
(each on a private copy of the warehouse, then its report)."""

from __future__ import annotations

import click

from tailor.cli import main
from tailor.cli.common import _date, console, out
from tailor.settings import get_settings


def _ml_command(stage_name: str, day: str | None, config) -> None:
    from ml import recommend
    from ml.pipeline import latest_feature_day, score_report, segment_report
    from tailor import pipeline
    from tailor.warehouse import connect

    s = get_settings()
    if not s.warehouse.exists():
        raise click.ClickException(f"no warehouse at {s.warehouse}: run `tailor run` first")
    if day is None:
        con = connect(s.warehouse, read_only=True, settings=s)
        try:
            run_day = latest_feature_day(con)
        finally:
            con.close()
        if run_day is None:
            raise click.ClickException("marts.customer_features is empty: run `tailor run` first")
    else:
        run_day = _date(day)
    from ml.pipeline import stage_score, stage_segment

    stage, report_of = {
        "segment": (stage_segment, segment_report),
        "score": (stage_score, score_report),
        "recommend": (recommend.run, recommend.report),
    }[stage_name]
    with console.status(f"{stage_name} as of {run_day}"), pipeline.working_copy(s) as work:
        stage(pipeline.RunContext(day=run_day, settings=work), config)
    con = connect(s.warehouse, read_only=True, settings=s)
    try:
        report = report_of(con, run_day)
    finally:
        con.close()
    out.print(report.to_string(index=False))


@main.command()
@click.option("--date", "day", help="Run date (default: the day the features were built as of).")
@click.option("--k-min", type=click.IntRange(2), help="Fewest segments tried (default: config).")
@click.option("--k-max", type=click.IntRange(2), help="Most segments tried (default: config).")
def segment(day: str | None, k_min: int | None, k_max: int | None) -> None:
    """Segment customers (K-Means with stable ids) into ml.customer_segments."""
    from ml.pipeline import segmentation_config

    _ml_command("segment", day, segmentation_config(get_settings(), k_min, k_max))


@main.command()
@click.option("--date", "day", help="Run date (default: the day the features were built as of).")
@click.option(
    "--horizon-days",
    type=click.IntRange(1, 730),
    help="Score this horizon, added beside the others (default: config/tailor.yml's horizons).",
)
def score(day: str | None, horizon_days: int | None) -> None:
    """Churn and purchase propensity at every configured horizon into ml.propensity_scores,
    expected purchases and value into ml.customer_value."""
    from ml.pipeline import propensity_config

    _ml_command("score", day, propensity_config(get_settings(), horizon_days))


@main.command()
@click.option("--date", "day", help="Run date (default: the day the features were built as of).")
@click.option(
    "--k",
    type=click.IntRange(min=1),
    help="Recommendations per customer (default: config/tailor.yml's).",
)
def recommend(day: str | None, k: int | None) -> None:
    """Recommendations (best model by NDCG@10 on a per-customer temporal holdout, options
    in config/tailor.yml) into ml.recommendations, ml.similar_items and ml.model_runs."""
    _ml_command("recommend", day, {"k": k} if k is not None else None)
