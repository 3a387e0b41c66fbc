"""Is tonight's value of a series an anomaly? A robust decomposition of the past weeks.

For a run day D the history of a series is its values on the ``weeks`` x 7 days before D.
It is decomposed, robustly, into a weekly pattern, a linear trend and noise:

    weekday factor f(w) = median(values on weekday w) / median(all values)   (1 when the
                          weekday has fewer than 3 values or the median is 0)
    trend               = Theil-Sen line through the values divided by their weekday factor
    expected(D)         = trend(D) x f(weekday of D)
    spread              = max(1.4826 x MAD of the residuals, noise floor)
    warning   when |observed - expected| > max(warning_z x spread,
                                               min_change x |expected|, min_change_abs)
    critical  when it is also > max(critical_z x spread,
                                    1.5 x min_change x |expected|, 1.5 x min_change_abs)

So a Monday is compared with what Mondays look like, a steady growth is no surprise, and
one bad night in the history moves neither the median-based factors nor the Theil-Sen
line. With fewer than ``min_history`` days of history the series is not judged (it is
counted as "learning").

The noise floor keeps a quiet history from turning every wobble into an alert: for counts
it is the (over-dispersed) Poisson standard deviation sqrt(dispersion x expected), where
``dispersion`` is the variance-to-mean ratio of the count (1 for independent records,
about the events of a session for event counts, which arrive in bursts), for rates the binomial one
sqrt(p (1 - p) / n) with the day's denominator n (p at least 1/n). Counts and amounts
whose expected and observed values are both under ``min_expected``, and rates over fewer
than ``min_expected`` things, are not judged. A count series seen in the history but
missing tonight counts 0 (a device whose events all vanished is the loudest anomaly there
is), and so does a day it is missing between its first value and tonight; the days
before its first value are not its history (an audience first built on night 22 is
learning, not a jump from zero), so a new series is judged once it has ``min_history``
days of its own.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tailor.config import AnomalyConfig, MetricRule

MAD_TO_SD = 1.4826
MIN_WEEKDAY = 3  # values of a weekday needed for its factor (one odd day must not set it)
CRITICAL_CHANGE_FACTOR = 1.5

Key = tuple[str, str, str]  # metric, dimension, dimension value


@dataclass(frozen=True)
class Point:
    value: float | None
    denominator: float | None = None


@dataclass(frozen=True)
class Anomaly:
    run_date: dt.date
    metric: str
    dimension: str
    dimension_value: str
    observed: float
    expected: float
    lower: float
    upper: float
    severity: str  # warning | critical
    score: float  # |observed - expected| / spread
    history_days: int
    stage: str  # input | output

    @property
    def key(self) -> Key:
        return (self.metric, self.dimension, self.dimension_value)

    def describe(self) -> str:
        dim = "" if self.dimension == "all" else f" [{self.dimension}={self.dimension_value}]"
        change = (
            f" ({(self.observed - self.expected) / abs(self.expected):+.0%})"
            if self.expected
            else ""
        )
        return (
            f"{self.severity}: {self.metric}{dim} = {self.observed:.6g}{change}, expected"
            f" {self.lower:.6g}..{self.upper:.6g} (around {self.expected:.6g}, from"
            f" {self.history_days} days)"
        )


@dataclass
class Judgement:
    anomalies: list[Anomaly]
    judged: int  # series with enough history
    learning: int  # series with too little history
    skipped: int  # series too small to judge


def history_days(day: dt.date, weeks: int) -> list[dt.date]:
    """The days a run day is compared with: the ``weeks`` x 7 days before it."""
    return [day - dt.timedelta(days=k) for k in range(1, 7 * weeks + 1)]


def theil_sen(ts: list[float], ys: list[float]) -> tuple[float, float]:
    """(slope, intercept at t = 0) of the Theil-Sen line: the median of pairwise slopes,
    then the median of y - slope * t."""
    slopes = [
        (ys[j] - ys[i]) / (ts[j] - ts[i])
        for i in range(len(ts))
        for j in range(i + 1, len(ts))
        if ts[j] != ts[i]
    ]
    slope = statistics.median(slopes) if slopes else 0.0
    return slope, statistics.median(y - slope * t for t, y in zip(ts, ys, strict=True))


def expectation(history: Mapping[dt.date, float], day: dt.date) -> tuple[float, list[float]]:
    """(expected value on ``day``, residuals of the history) from the weekly pattern and
    the trend of ``history`` (see the module docstring)."""
    overall = statistics.median(history.values())
    by_weekday: dict[int, list[float]] = {}
    for d, x in history.items():
        by_weekday.setdefault(d.weekday(), []).append(x)
    factor = {
        w: (statistics.median(xs) / overall if overall > 0 and len(xs) >= MIN_WEEKDAY else 1.0)
        for w, xs in by_weekday.items()
    }
    factor = {w: (f if f > 0 else 1.0) for w, f in factor.items()}
    days = sorted(history)
    ts = [float((d - day).days) for d in days]
    ys = [history[d] / factor[d.weekday()] for d in days]
    slope, level = theil_sen(ts, ys)
    fitted = [(level + slope * t) * factor[d.weekday()] for t, d in zip(ts, days, strict=True)]
    residuals = [history[d] - f for d, f in zip(days, fitted, strict=True)]
    return level * factor.get(day.weekday(), 1.0), residuals


def _noise_floor(
    kind: str, expected: float, denominator: float | None, dispersion: float = 1.0
) -> float:
    if kind == "count":
        return math.sqrt(dispersion * max(abs(expected), 1.0))
    if kind == "rate" and denominator:
        p = min(max(abs(expected), 1.0 / denominator), 1.0)
        return math.sqrt(p * max(1.0 - p, 1.0 / denominator) / denominator)
    return 0.0


def judge(
    history: Mapping[dt.date, float],
    day: dt.date,
    today: Point,
    rule: MetricRule,
    kind: str,
    min_history: int,
) -> tuple[str, float, float, float, float] | str:
    """(severity or "", expected, lower, upper, score), or why the series is not judged:
    "learning" (too little history) or "skipped" (too small, disabled, undefined)."""
    if not rule.enabled or today.value is None:
        return "skipped"
    if len(history) < min_history:
        return "learning"
    expected, residuals = expectation(history, day)
    if kind in ("count", "rate", "amount"):
        expected = max(expected, 0.0)
    if kind == "rate":
        expected = min(expected, 1.0)
    observed = today.value
    if kind == "rate":
        if (today.denominator or 0) < rule.min_expected:
            return "skipped"
    elif max(abs(expected), abs(observed)) < rule.min_expected:
        return "skipped"
    mad = statistics.median(abs(r) for r in residuals)
    floor = _noise_floor(kind, expected, today.denominator, rule.dispersion)
    spread = max(MAD_TO_SD * mad, floor, 1e-12)
    warn = max(rule.warning_z * spread, rule.min_change * abs(expected), rule.min_change_abs)
    crit = max(
        rule.critical_z * spread,
        CRITICAL_CHANGE_FACTOR * rule.min_change * abs(expected),
        CRITICAL_CHANGE_FACTOR * rule.min_change_abs,
    )
    lower = expected - warn if rule.direction != "up" else -math.inf
    upper = expected + warn if rule.direction != "down" else math.inf
    if kind in ("count", "rate"):
        lower = max(lower, 0.0)
    deviation = observed - expected
    score = abs(deviation) / spread
    severity = ""
    if observed < lower or observed > upper:
        severity = "critical" if abs(deviation) > crit else "warning"
    return severity, expected, lower, upper, score


def detect(
    day: dt.date,
    series: Mapping[Key, Mapping[dt.date, Point]],
    config: AnomalyConfig,
    metrics: Mapping[str, object] | None = None,
) -> Judgement:
    """Judge every series on ``day`` against its same-weekday history.

    ``series`` holds the values of ``day`` and of its history days (other days are
    ignored); ``metrics`` maps a metric to its definition (``kind``, ``stage``), by default
    ``tailor.anomalies.metrics.METRICS``.
    """
    from tailor.anomalies.metrics import METRICS

    defs = metrics or METRICS
    past = history_days(day, config.weeks)
    # days on which a metric was computed at all: a count series absent on such a day is 0
    computed: dict[str, set[dt.date]] = {}
    for (metric, _, _), points in series.items():
        computed.setdefault(metric, set()).update(points)
    out = Judgement([], 0, 0, 0)
    for key in sorted(series):
        metric = key[0]
        if metric not in defs:
            continue
        kind, stage = defs[metric].kind, defs[metric].stage
        points = series[key]
        today = points.get(day)
        if today is None:
            if kind != "count" or day not in computed[metric]:
                continue
            today = Point(0.0)
        # the series exists from its first value on: before it, it has no history
        first = min(points)
        history = {}
        for d in past:
            p = points.get(d)
            if p is not None and p.value is not None:
                history[d] = p.value
            elif p is None and kind == "count" and d in computed[metric] and d > first:
                history[d] = 0.0
        rule = config.rule(metric, key[1])
        verdict = judge(history, day, today, rule, kind, config.min_history)
        if verdict == "learning":
            out.learning += 1
            continue
        if verdict == "skipped":
            out.skipped += 1
            continue
        out.judged += 1
        severity, expected, lower, upper, score = verdict
        if severity:
            out.anomalies.append(
                Anomaly(
                    day,
                    *key,
                    observed=float(today.value),
                    expected=expected,
                    lower=lower,
                    upper=upper,
                    severity=severity,
                    score=round(score, 2),
                    history_days=len(history),
                    stage=stage,
                )
            )
    out.anomalies.sort(key=lambda a: (a.severity != "critical", -a.score, a.key))
    return out


def series_from_rows(rows: Iterable[tuple]) -> dict[Key, dict[dt.date, Point]]:
    """``ops.metrics`` rows (run_date, metric, dimension, value name, value, denominator)
    as series."""
    out: dict[Key, dict[dt.date, Point]] = {}
    for d, m, dim, v, x, n in rows:
        out.setdefault((m, dim, v), {})[d] = Point(x, n)
    return out
