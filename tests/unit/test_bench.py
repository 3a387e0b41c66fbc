"""The benchmark runner's pure parts: sizes, scaling, the summary, the README block."""

from __future__ import annotations

import datetime as dt

import pytest

from benchmarks.run import last_line
from benchmarks.scale.nights import resume_point
from benchmarks.scale.report import render_markdown, replace_block, stage_summary, summarize
from benchmarks.scale.sizes import parse_events, scaled_config, size_label

pytestmark = pytest.mark.unit


def test_parse_events_understands_suffixes():
    assert parse_events("1M") == 1_000_000
    assert parse_events("10m") == 10_000_000
    assert parse_events("250k") == 250_000
    assert parse_events("1e6") == 1_000_000
    assert parse_events("1234") == 1234
    with pytest.raises(ValueError):
        parse_events("lots")


def test_size_label_names_the_standard_sizes():
    assert size_label(1_000_000) == "1m"
    assert size_label(10_000_000) == "10m"
    assert size_label(2_500_000) == "2.5m"
    assert size_label(5_000) == "5k"


def test_scaled_config_targets_the_event_count():
    cfg = scaled_config(1_000_000, 30)
    # ~10.5 events per customer-day over 30 days
    assert 3000 <= cfg["customers"] <= 3300
    assert cfg["products"] >= 800
    big = scaled_config(10_000_000, 30)
    assert big["customers"] == pytest.approx(10 * cfg["customers"], rel=0.01)
    assert big["products"] > cfg["products"]


def _night(n: int, load: float, dbt: float, copy: float, events: int = 1000) -> dict:
    return {
        "night": n,
        "day": f"2026-10-{n:02d}",
        "events": events,
        "rows": events + 100,
        "warehouse_mb": 10.0 * n,
        "working_copy_seconds": copy,
        "stages": {
            "load": {"seconds": load, "rows": events + 100, "peak_rss_mb": 300.0},
            "dbt_build": {"seconds": dbt, "rows": events + 100, "peak_rss_mb": 500.0 + n},
        },
    }


def _results(nights: list[dict], days: int) -> dict:
    return {
        "size": "small",
        "command": "python -m benchmarks.run --size small",
        "started_at": "2026-11-30 05:00",
        "finished_at": "2026-11-30 05:10",
        "results_file": "small-x.json",
        "load_average": "1.0-2.0 (1-min)",
        "machine": {
            "cpu": "Test CPU",
            "cores": 2,
            "ram_gb": 24,
            "os": "Linux",
            "python": "3.11",
            "duckdb": "1.4",
        },
        "config": {
            "customers": 10,
            "products": 800,
            "days": days,
            "duckdb_memory": "6GB",
            "duckdb_temp_rel": "<bench>/tmp/duckdb",
        },
        "generate": {"events": 3000},
        "lower_bound": {"seconds": 1.0, "peak_rss_mb": 100.0, "nights": {"1": 0.1}},
        "pandas": {"total_seconds": 30.0, "peak_rss_mb": 200.0},
        "fixed": {"night_seconds": 2.0, "peak_rss_mb": 400.0},
        "pipeline": {
            "nights": nights,
            "publish_seconds": 0.5,
            "peak_rss_mb": 600.0,
            "children_peak_rss_mb": 50.0,
        },
    }


def test_stage_summary_adds_up_nights():
    agg = stage_summary([_night(1, 1.0, 3.0, 0.5), _night(2, 1.0, 5.0, 0.5)])
    assert agg["load"]["seconds"] == 2.0
    assert agg["dbt_build"]["seconds"] == 8.0
    assert agg["dbt_build"]["rows_per_second"] == pytest.approx(2200 / 8.0)
    assert agg["dbt_build"]["peak_rss_mb"] == 502.0
    assert agg["load"]["share"] == pytest.approx(0.2)


def test_summarize_checks_the_targets():
    res = _results([_night(n, 1.0, 2.0, 0.5) for n in (1, 2, 3)], days=3)
    s = summarize(res)
    # 3 nights x 3.5 s + 0.5 s publish
    assert s["pipeline_seconds"] == pytest.approx(11.0)
    assert s["pipeline_seconds_variable"] == pytest.approx(11.0 - 3 * 2.0)
    assert s["ratio_variable_vs_lower_bound"] == pytest.approx(5.0)
    assert s["pandas_over_pipeline"] == pytest.approx(30.0 / 11.0)
    # night by night: pandas redoes everything (30 s), the last night took 3.5 s
    assert s["pandas_over_last_night"] == pytest.approx(30.0 / 3.5)
    assert s["targets"] == {
        "within_3x_lower_bound_plus_fixed": False,
        "5x_faster_than_pandas": False,
        "peak_memory_under_8gb": True,
    }
    assert "pipeline_seconds_extrapolated" not in s


def test_summarize_extrapolates_a_partial_run_and_says_so():
    res = _results([_night(1, 1.0, 2.0, 0.5)], days=3)
    s = summarize(res)
    assert s["nights_run"] == 1
    # 1000 events took 3.5 s + 0.5 s publish; 3000 events -> 12 s
    assert s["pipeline_seconds_extrapolated"] == pytest.approx(12.0)
    text = render_markdown(res)
    assert "EXTRAPOLATED" in text
    assert "(extrapolated)" in text


def test_render_markdown_has_the_tables():
    res = _results([_night(n, 1.0, 2.0, 0.5) for n in (1, 2, 3)], days=3)
    text = render_markdown(res)
    assert "| dbt_build |" in text
    assert "| lower bound:" in text
    assert "| pandas baseline" in text
    assert "**does not hold**" in text and "**holds**" in text
    assert "Test CPU" in text
    assert text == render_markdown(res)


def test_replace_block_replaces_only_its_own_markers():
    text = "# B\n\nintro\n"
    once = replace_block(text, "1m", "first")
    assert "<!-- bench:1m:begin -->\nfirst\n<!-- bench:1m:end -->" in once
    both = replace_block(once, "10m", "big")
    again = replace_block(both, "1m", "second")
    assert "first" not in again and "second" in again and "big" in again
    assert again.startswith("# B\n\nintro\n")


def test_summarize_counts_each_nights_process_and_its_own_peak():
    nights = [_night(n, 1.0, 2.0, 0.5) for n in (1, 2)]
    for n, peak in zip(nights, (700.0, 9000.0), strict=True):
        # run_day took 3.5 s; the night's process 5.5 s with its start-up
        n.update(wall_seconds=3.5, process_wall_seconds=5.5, peak_rss_mb=peak)
    res = _results(nights, days=2)
    s = summarize(res)
    assert s["process_start_seconds"] == pytest.approx(4.0)
    assert s["pipeline_seconds"] == pytest.approx(2 * 5.5 + 0.5)
    assert s["last_night_seconds"] == pytest.approx(5.5)
    # the largest night decides the memory target, not the parent process
    assert s["pipeline_peak_rss_mb"] == 9000.0
    assert s["targets"]["peak_memory_under_8gb"] is False
    text = render_markdown(res)
    assert "process start-up (one process per night)" in text
    assert "each night runs in its own process" in text


def test_resume_keeps_the_recorded_nights_only_on_the_warehouse_they_left():
    nights = [_night(n, 1.0, 2.0, 0.5) for n in (1, 2, 3)]
    assert resume_point(nights, dt.date(2026, 10, 3)) == 3
    # night 4 committed but was never recorded, or the warehouse is another run's
    with pytest.raises(ValueError, match="latest loaded day is 2026-10-04"):
        resume_point(nights, dt.date(2026, 10, 4))
    with pytest.raises(ValueError, match="latest loaded day is None"):
        resume_point(nights, None)
    with pytest.raises(ValueError, match="not 1..2 in order"):
        resume_point([nights[0], nights[2]], dt.date(2026, 10, 3))
    with pytest.raises(ValueError, match="nothing to resume"):
        resume_point([], dt.date(2026, 10, 3))


def test_a_resumed_run_says_so_and_shows_each_nights_load():
    nights = [{**_night(n, 1.0, 2.0, 0.5), "load_average": f"{n}.50 1.00 1.00"} for n in (1, 2)]
    res = _results(nights, days=2)
    res["pipeline"]["resumed_after_night"] = 1
    text = render_markdown(res)
    assert "resumed (`--resume`) after night 1" in text
    assert "| 0.5 | 3.5 | 0.10 s | 1.50 |" in text
    del res["pipeline"]["resumed_after_night"]
    assert "resumed" not in render_markdown(res)


def test_the_block_says_where_a_reference_point_comes_from_and_when_nothing_ran():
    res = _results([_night(1, 1.0, 2.0, 0.5)], days=1)
    res["pandas"]["from"] = "benchmarks/results/10m-later.json"
    text = render_markdown(res)
    assert "(measured by `benchmarks/results/10m-later.json`)" in text
    assert "(reused from an earlier run)" not in text
    res["pipeline"]["nights"] = []
    text = render_markdown(res)
    assert "The pipeline was not run in this invocation." in text
    assert "EXTRAPOLATED" not in text


def test_a_failed_phase_reports_its_childs_last_words(tmp_path):
    log = tmp_path / "bench.log"
    log.write_text(
        "=== pipeline: ...\nTraceback (most recent call last):\n  ...\nValueError: nope\n\n"
    )
    assert last_line(log) == "ValueError: nope"
    log.write_text("")
    assert last_line(log) == ""


def test_the_backfill_is_compared_with_pandas_one_pass():
    res = _results([_night(n, 1.0, 2.0, 0.5) for n in (1, 2, 3)], days=3)
    backfill = {
        "from": "2026-10-01",
        "to": "2026-10-03",
        "days": 3,
        "raw_events": 2900,
        "wall_seconds": 45.0,
        "working_copy_seconds": 1.0,
        "stages": {"load": {"seconds": 4.0, "peak_rss_mb": 300.0}},
        "peak_rss_mb": 700.0,
    }
    s = summarize({**res, "backfill": backfill})
    assert s["backfill_over_pandas"] == pytest.approx(1.5)
    assert s["backfill_within_2x_pandas"] is True
    text = render_markdown({**res, "backfill": backfill})
    assert "| backfill: 3 days in one pass" in text
    assert (
        "backfill at most 2x pandas's one pass: **holds** — 45.0 s against pandas 30.0 s: 1.50x."
        in text
    )
    # slower than 2x, or not the whole history: does not hold
    assert (
        summarize({**res, "backfill": {**backfill, "wall_seconds": 61.0}})[
            "backfill_within_2x_pandas"
        ]
        is False
    )
    partial = summarize({**res, "backfill": {**backfill, "days": 2}})
    assert partial["backfill_within_2x_pandas"] is False
    assert "backfill_seconds" not in summarize(res)


def test_the_last_night_is_compared_with_itself_without_its_erasure_requests():
    # night 1 3.5 s; night 2 with its requests 5.0 s, without them 4.0 s
    nights = [_night(1, 1.0, 2.0, 0.5), _night(2, 1.5, 3.0, 0.5)]
    res = _results(nights, days=2)
    s = summarize(res)
    assert s["last_over_first_night"] == pytest.approx(5.0 / 3.5)
    assert "last_without_requests_over_first_night" not in s
    assert "without its erasure requests" not in render_markdown(res)

    res["pipeline"]["last_night_without_requests"] = _night(2, 1.0, 2.5, 0.5)
    s = summarize(res)
    assert s["last_night_without_requests_seconds"] == pytest.approx(4.0)
    assert s["last_without_requests_over_first_night"] == pytest.approx(4.0 / 3.5)
    assert s["requests_night_over_without"] == pytest.approx(5.0 / 4.0)
    assert s["pandas_over_last_night_without_requests"] == pytest.approx(30.0 / 4.0)
    text = render_markdown(res)
    assert "- night 2 / night 1: 1.43 (5.00 s / 3.50 s)." in text
    # 4.0 / 3.5 = 1.14 <= 1.3; 5.0 / 4.0 = 1.25 > 1.2; 30 / 4 = 7.5 >= 5
    assert (
        "without its erasure requests (run first, on the state night 1 left): 4.00 s; at most 1.3x night 1: **holds** (1.14)"
        in text
    )
    assert (
        "at most 1.2x one without: **does not hold** — night 2 with its requests / without: 1.25."
        in text
    )
    assert "at least 5x faster than pandas redoing the history: **holds** (7.50x)." in text


def test_no_twin_night_when_the_day_delivers_no_erasure_request(tmp_path, monkeypatch):
    from benchmarks.scale.nights import twin_night

    monkeypatch.setenv("TAILOR_DATA", str(tmp_path))
    (tmp_path / "run-landing" / "events" / "dt=2026-10-02").mkdir(parents=True)
    (tmp_path / "run-landing" / "erasure_requests" / "dt=2026-10-01").mkdir(parents=True)
    (tmp_path / "run-landing" / "erasure_requests" / "dt=2026-10-01" / "r.csv").write_text("x\n")
    assert twin_night(tmp_path, 2, dt.date(2026, 10, 2)) is None
    assert not (tmp_path / "twin").exists()
