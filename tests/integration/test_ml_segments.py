"""The ML stages on a small generated data set, through real DuckDB and dbt.

Generate -> load -> dbt build as of D-1 -> segments + propensity for D-1 -> dbt build as
of D -> segments + propensity for D, twice. Checks what a user of the ml tables relies on:
one segment per customer, named segments whose ids survive the next night, profiles that
add up, scores for every customer, and reruns that replace rather than add.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tailor import ingest, transform
from tailor.pipeline import RunContext
from tailor.synthetic.config import DirtConfig, GeneratorConfig
from tailor.synthetic.driver import generate
from tailor.warehouse import connect

pytestmark = pytest.mark.integration

START = dt.date(2026, 10, 1)
DAYS = 24
LAST = START + dt.timedelta(days=DAYS - 1)
BEFORE = LAST - dt.timedelta(days=1)
SELECT = "resource_type:seed staging intermediate marts.core marts.segmentation marts.ml"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from ml import propensity, segmentation

    root = tmp_path_factory.mktemp("ml")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TAILOR_DATA", str(root / "data"))
        mp.setenv("TAILOR_DUCKDB_MEMORY", "2GB")
        for var in (
            "TAILOR_WAREHOUSE",
            "TAILOR_SNAPSHOT",
            "TAILOR_LANDING",
            "TAILOR_GROUND_TRUTH",
            "TAILOR_FAIL_AT",
            "TAILOR_DUCKDB_TEMP",
        ):
            mp.delenv(var, raising=False)
        from tailor.settings import get_settings

        s = get_settings()
        generate(
            GeneratorConfig(
                customers=600,
                products=120,
                days=DAYS,
                start=START,
                seed=11,
                dirt=DirtConfig().scaled(0.5),
            ),
            s.landing,
            s.ground_truth,
        )
        con = connect(s.warehouse, settings=s)
        try:
            for day in ingest.available_days(s.landing):
                ingest.load_day(con, s.landing, day)
        finally:
            con.close()
        results = {}
        for day in (BEFORE, LAST):
            transform.build(run_date=day, select=SELECT, settings=s, tests=False)
            ctx = RunContext(day=day, settings=s)
            results[day] = (segmentation.run(ctx), propensity.run(ctx))
        rerun = (
            segmentation.run(RunContext(day=LAST, settings=s)),
            propensity.run(RunContext(day=LAST, settings=s)),
        )
        yield s, results, rerun


def _q(s, sql, params=None):
    con = connect(s.warehouse, read_only=True, settings=s)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_every_customer_has_exactly_one_named_segment(built):
    s, results, _ = built
    seg, _ = results[LAST]
    assert seg["status"] == "chosen"
    ((n_features,),) = _q(s, "select count(*) from marts.customer_features")
    rows = _q(
        s,
        "select customer_id, count(*) from ml.customer_segments where run_date = ? group by 1",
        [LAST],
    )
    assert len(rows) == n_features
    assert all(n == 1 for _, n in rows)
    profiles = _q(
        s,
        "select segment_id, segment_name, size, description, centroid from ml.segment_profiles "
        "where run_date = ?",
        [LAST],
    )
    assert 4 <= len(profiles) <= 10
    assert sum(p[2] for p in profiles) == n_features
    assert len({p[1] for p in profiles}) == len(profiles)
    assert all(p[3] and "customers" in p[3] for p in profiles)
    assert all("frequency" in json.loads(p[4]) for p in profiles)
    bad = _q(
        s,
        """select count(*) from ml.customer_segments c
                   left join ml.segment_profiles p using (segment_id, run_date)
                   where c.run_date = ? and (p.segment_name is null or p.segment_name <> c.segment_name)""",
        [LAST],
    )
    assert bad == [(0,)]


def test_segment_ids_survive_the_next_night_and_moves_are_recorded(built):
    s, _, _ = built
    before = dict(
        _q(
            s,
            "select segment_id, segment_name from ml.segment_profiles where run_date = ?",
            [BEFORE],
        )
    )
    after = dict(
        _q(s, "select segment_id, segment_name from ml.segment_profiles where run_date = ?", [LAST])
    )
    kept = set(before) & set(after)
    assert len(kept) >= len(before) - 1  # one more day of data does not reshuffle the segments
    assert all(before[i] == after[i] for i in kept)
    moved = _q(
        s,
        """select sum(customers) filter (where from_segment_id <> to_segment_id),
                            sum(customers) filter (where from_segment_id is not null and to_segment_id is not null)
                     from ml.segment_transitions where run_date = ?""",
        [LAST],
    )[0]
    assert moved[1] > 0
    assert moved[0] / moved[1] < 0.25
    ((metrics,),) = _q(
        s,
        "select metrics::varchar from ml.model_runs where run_id = ? and model = 'kmeans'",
        [f"segmentation:{LAST}"],
    )
    assert json.loads(metrics)["moves"]["moved"] == moved[0]


def test_alternatives_are_compared_in_the_run_log(built):
    """A night that chooses k (BEFORE, the first) compares the alternatives; the next one
    keeps its k and fits K-Means alone (config/tailor.yml: k chosen every 7 days)."""
    s, _, _ = built

    def logged(day):
        return _q(
            s,
            "select model, status, metrics->>'k_selected_on' from ml.model_runs "
            "where task = 'segmentation' and run_date = ? order by model",
            [day],
        )

    assert logged(BEFORE) == [
        ("dbscan", "candidate", None),
        ("gmm", "candidate", None),
        ("kmeans", "chosen", str(BEFORE)),
    ]
    assert logged(LAST) == [("kmeans", "chosen", str(BEFORE))]


def test_propensity_scores_every_customer_with_calibrated_probabilities(built):
    s, results, _ = built
    _, prop = results[LAST]
    # 24 days of history: config/tailor.yml's 30 and 90 days are reported as skipped and
    # the short-history horizon (7 days) is scored meanwhile
    for task in ("churn", "purchase"):
        assert prop[f"{task}_30d"]["status"] == "skipped", prop
        assert prop[f"{task}_7d"]["status"] == "chosen", prop
        assert prop[f"{task}_7d"]["auc"] > 0.6
    ((n_features,),) = _q(s, "select count(*) from marts.customer_features")
    counts = dict(
        _q(
            s,
            "select model, count(*) from ml.propensity_scores where run_date = ? group by 1",
            [LAST],
        )
    )
    assert counts["purchase"] == n_features
    assert 0 < counts["churn"] < n_features  # past buyers only
    assert _q(
        s,
        "select count(*) from ml.propensity_scores where score < 0 or score > 1 "
        "or decile not between 1 and 10",
    ) == [(0,)]
    runs = _q(
        s,
        "select task, model, status from ml.model_runs where task in ('churn', 'purchase') "
        "and run_date = ? order by 1, 2",
        [LAST],
    )
    assert {(t, st) for t, _, st in runs} >= {
        ("churn", "chosen"),
        ("churn", "baseline"),
        ("purchase", "chosen"),
        ("purchase", "baseline"),
    }


def test_rerunning_a_day_replaces_its_rows(built):
    s, results, rerun = built
    assert rerun[0]["segments"] == results[LAST][0]["segments"]
    for table, key in (
        ("customer_segments", "customer_id"),
        ("propensity_scores", "customer_id, model, horizon_days"),
        ("model_runs", "run_id, model"),
    ):
        dupes = _q(
            s,
            f"select count(*) from (select {key}, run_date from ml.{table} "
            f"group by all having count(*) > 1)",
        )
        assert dupes == [(0,)], table
