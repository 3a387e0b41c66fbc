"""Anomaly detection on metric series whose right answers are known."""

from __future__ import annotations

import datetime as dt

import pytest

from tailor.anomalies.detect import Point, detect, expectation, theil_sen
from tailor.config import AnomalyConfig, MetricRule

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 10, 29)  # a Thursday
CONFIG = AnomalyConfig(weeks=4, min_history=14)


def weekly(base: float, weekend: float = 2.0, slope: float = 0.0, days: int = 28):
    """A count with a weekend peak (Saturday and Sunday x ``weekend``) and a trend, on the
    ``days`` days before DAY, plus a deterministic +-3% wobble."""
    out = {}
    for k in range(1, days + 1):
        d = DAY - dt.timedelta(days=k)
        level = (base + slope * -k) * (weekend if d.weekday() >= 5 else 1.0)
        out[d] = level * (1 + 0.03 * ((k * 7) % 5 - 2) / 2)
    return out


def series(history, today, metric="events", dim="device", value="mobile"):
    points = {d: Point(v) for d, v in history.items()}
    if today is not None:
        points[DAY] = Point(today)
    return {(metric, dim, value): points}


def test_theil_sen_on_a_line_with_one_wild_point():
    slope, intercept = theil_sen([0, 1, 2, 3, 4], [1, 3, 5, 100, 9])
    assert slope == pytest.approx(2.0)
    assert intercept == pytest.approx(1.0)


def test_the_weekly_pattern_and_the_trend_are_expected():
    history = weekly(10_000, weekend=2.0, slope=100)
    saturday = DAY + dt.timedelta(days=2)
    expected_thursday, _ = expectation(history, DAY)
    expected_saturday, _ = expectation(history, saturday)
    assert expected_thursday == pytest.approx(10_000, rel=0.05)
    assert expected_saturday == pytest.approx(2 * (10_000 + 2 * 100), rel=0.05)
    # a Thursday at the trend's level is no anomaly; a Saturday-sized Thursday is
    assert detect(DAY, series(history, 10_100), CONFIG).anomalies == []
    (found,) = detect(DAY, series(history, 20_000), CONFIG).anomalies
    assert (found.metric, found.dimension, found.dimension_value) == ("events", "device", "mobile")
    assert found.lower < 10_000 < found.upper < 20_000


def test_a_drop_by_half_is_critical_and_names_its_series():
    (found,) = detect(DAY, series(weekly(8_000, weekend=1.0), 4_000), CONFIG).anomalies
    assert found.severity == "critical"
    assert found.observed == 4_000
    assert found.expected == pytest.approx(8_000, rel=0.03)
    assert found.stage == "input"
    assert "device=mobile" in found.describe()


def test_a_small_wobble_is_a_warning_not_critical():
    rule = MetricRule(warning_z=3, critical_z=50, min_change=0.1)
    config = AnomalyConfig(weeks=4, min_history=14, metrics={"events": rule})
    (found,) = detect(DAY, series(weekly(8_000, weekend=1.0), 6_800), config).anomalies
    assert found.severity == "warning"


def test_one_bad_night_in_the_history_does_not_hide_the_next_one():
    history = weekly(8_000, weekend=1.0)
    history[DAY - dt.timedelta(days=7)] = 500  # last Thursday's outage
    (found,) = detect(DAY, series(history, 4_000), CONFIG).anomalies
    assert found.expected == pytest.approx(8_000, rel=0.05)


def test_too_little_history_is_learning_not_judged():
    judgement = detect(DAY, series(weekly(8_000, days=10), 100), CONFIG)
    assert judgement.anomalies == []
    assert (judgement.learning, judgement.judged) == (1, 0)


def test_a_count_that_vanished_tonight_counts_zero():
    history = weekly(8_000, weekend=1.0)
    data = series(history, None)
    data[("events", "all", "all")] = {**{d: Point(v) for d, v in history.items()}, DAY: Point(9e3)}
    (found,) = detect(DAY, data, CONFIG).anomalies
    assert (found.dimension_value, found.observed) == ("mobile", 0.0)


def test_a_series_that_first_appears_is_learning_not_a_jump_from_zero():
    """An audience first built 5 days ago (a model that needed history) is not judged
    against the zeros of the weeks before it existed, while the metric was computed for
    other audiences; a day it then missed still counts 0."""
    other = weekly(8_000, weekend=1.0)
    data = series(other, 8_000, metric="audience_size", dim="audience", value="lifecycle_new")
    recent = {d: 9_000.0 for d in sorted(other)[-5:]}
    data.update(series(recent, 9_000, metric="audience_size", dim="audience", value="segment_11"))
    judgement = detect(DAY, data, CONFIG)
    assert judgement.anomalies == [] and judgement.learning == 1
    # with min_history days of its own, a gap after its first value is a drop to zero
    long = {d: 9_000.0 for d in sorted(other)[-16:]}
    del long[sorted(long)[-3]]
    data.update(series(long, 9_000, metric="audience_size", dim="audience", value="segment_11"))
    judgement = detect(DAY, data, CONFIG)
    assert judgement.learning == 0 and judgement.judged == 2


def test_small_counts_are_not_judged_and_rates_need_their_denominator():
    quiet = detect(DAY, series(weekly(5, weekend=1.0), 20), CONFIG)
    assert quiet.anomalies == [] and quiet.skipped == 1
    rates = {d: Point(0.002, 10_000) for d in weekly(1, weekend=1.0)}
    config = AnomalyConfig(
        weeks=4,
        min_history=14,
        metrics={
            "quarantine_rate": MetricRule(min_change=1.0, min_change_abs=0.01, min_expected=200)
        },
    )
    key = ("quarantine_rate", "reason", "events:non_positive_price")
    few = detect(DAY, {key: {**rates, DAY: Point(0.5, 10)}}, config)
    assert few.anomalies == [] and few.skipped == 1
    (spike,) = detect(DAY, {key: {**rates, DAY: Point(0.15, 10_000)}}, config).anomalies
    assert spike.severity == "critical"
    calm = detect(DAY, {key: {**rates, DAY: Point(0.0035, 10_000)}}, config)
    assert calm.anomalies == []


def test_direction_and_per_dimension_rules():
    history = weekly(8_000, weekend=1.0)
    config = AnomalyConfig(
        weeks=4,
        min_history=14,
        metrics={
            "events": MetricRule(direction="down"),
            "events.country": MetricRule(min_change=5.0),
        },
    )
    assert detect(DAY, series(history, 30_000), config).anomalies == []  # only drops count
    assert detect(DAY, series(history, 100, dim="country", value="IT"), config).anomalies == []
    assert len(detect(DAY, series(history, 100), config).anomalies) == 1
