"""The recommendation model is refitted on a cadence, not every night: a night within the
cadence serves the stored fit (no evaluation, no fit), a drift of its quality on the
customers new since the fit forces a refit, and the setting sets the cadence.

A views-only store (what a Segment ``Product Viewed`` feed gives): 300 customers, each
keeping to one of six clusters of 60 products over September; the marts are written by
hand in the shape dbt builds, night by night."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml.recommend import RecommendConfig, recommend_day
from tailor.config import ConfigError, _parse_recommend

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 10, 31)
N_CUSTOMERS, N_PRODUCTS, CLUSTERS = 300, 60, 6
# fast and deterministic: one item model, the defaults (no tuning)
CONFIG = RecommendConfig(models=("itemknn",), tune=False, min_holdout_users=10)


def history(seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(N_CUSTOMERS):
        own = rng.choice(N_PRODUCTS // CLUSTERS, 5, replace=False) * CLUSTERS + c % CLUSTERS
        for p in own:
            at = dt.datetime(2026, 9, 1) + dt.timedelta(minutes=int(rng.integers(0, 60 * 24 * 55)))
            rows.append((f"c{c:03d}", f"p{p:02d}", at))
    return pd.DataFrame(rows, columns=["customer_id", "product_id", "at_"])


def new_day(events: pd.DataFrame, day: dt.date, *, shift: int, seed: int = 9) -> pd.DataFrame:
    """``day``'s views: every customer views three products they never viewed, of the
    cluster ``shift`` away from their own (0: their own cluster)."""
    rng = np.random.default_rng(seed)
    seen = events.groupby("customer_id")["product_id"].agg(set)
    rows = []
    for c in range(N_CUSTOMERS):
        cid = f"c{c:03d}"
        cluster = (c + shift) % CLUSTERS
        fresh = [
            f"p{p:02d}"
            for p in range(cluster, N_PRODUCTS, CLUSTERS)
            if f"p{p:02d}" not in seen.get(cid, set())
        ]
        for k, p in enumerate(rng.permutation(fresh)[:3]):
            at = dt.datetime.combine(day, dt.time(9)) + dt.timedelta(hours=3 * k)
            rows.append((cid, p, at))
    return pd.concat([events, pd.DataFrame(rows, columns=events.columns)], ignore_index=True)


def load(con: duckdb.DuckDBPyConnection, events: pd.DataFrame) -> None:
    """The marts as dbt builds them from ``events`` (what the night's load has seen)."""
    con.execute("create schema if not exists marts")
    con.register("ev", events)
    con.execute(
        """
        create or replace table marts.user_item_events as
        select customer_id, product_id, 'view' as interaction_type, at_ as interacted_at from ev
        """
    )
    con.execute(
        """
        create or replace table marts.user_item_interactions as
        select customer_id, product_id, count(*)::double as interaction_score,
            0 as purchase_count, 0 as cart_count,
            min(at_) as first_interaction_at, max(at_) as last_interaction_at
        from ev group by 1, 2
        """
    )
    con.unregister("ev")
    con.execute(
        """
        create or replace table marts.products as
        select 'p' || lpad(i::varchar, 2, '0') as product_id, 'Product ' || i as title,
            'Cat ' || (i % 10) as category_path, true as is_active, true as is_product
        from range(?) as t(i)
        """,
        [N_PRODUCTS],
    )
    con.execute(
        """
        create or replace table marts.customers as
        select 'c' || lpad(i::varchar, 3, '0') as customer_id, true as has_personalization_consent
        from range(?) as t(i)
        """,
        [N_CUSTOMERS],
    )


def lists(con, day: dt.date) -> pd.DataFrame:
    return con.execute(
        "select customer_id, rank, product_id, model, reason_code from ml.recommendations "
        "where run_date = ? order by 1, 2",
        [day],
    ).df()


def decision(con, day: dt.date) -> dict:
    (window,) = con.execute(
        "select data_window from ml.model_runs where task = 'recommendation' and run_date = ? "
        "and status in ('chosen', 'fallback') limit 1",
        [day],
    ).fetchone()
    return json.loads(window)


@pytest.fixture
def con(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    yield con
    con.close()


def test_a_night_within_the_cadence_serves_the_stored_fit_without_refitting(con, monkeypatch):
    load(con, history())
    first = recommend_day(con, DAY, CONFIG)
    assert first["refit"] and first["served"] == "itemknn", first

    # the next night: no evaluation, no fit of an item model
    from ml.recommend import job
    from ml.recommenders import ItemKNNRecommender

    def no_refit(*args, **kwargs):
        raise AssertionError("a night within the cadence refitted")

    monkeypatch.setattr(job, "evaluate", no_refit)
    monkeypatch.setattr(ItemKNNRecommender, "fit", no_refit)
    second = recommend_day(con, DAY + dt.timedelta(days=1), CONFIG)
    assert not second["refit"] and second["served"] == "itemknn", second
    assert second["refit_reason"].startswith(f"reused the fit of {DAY}")
    # the stored model serves the same lists the fit served (nothing new in between)
    a, b = lists(con, DAY), lists(con, DAY + dt.timedelta(days=1))
    assert len(a) == N_CUSTOMERS * 10 and (b["model"] == "itemknn").mean() > 0.4
    pd.testing.assert_frame_equal(a, b)
    # ml.model_runs says the night reused, which fit and why
    recorded = decision(con, DAY + dt.timedelta(days=1))
    assert recorded["refit"] is False and recorded["fitted_on"] == DAY.isoformat()
    assert decision(con, DAY)["refit"] is True


def test_a_new_customer_is_scored_by_the_stored_fit_from_their_history(con):
    events = history()
    load(con, events[events["customer_id"] != "c007"])
    recommend_day(con, DAY, CONFIG)
    load(con, events)  # c007's views arrive the next night
    out = recommend_day(con, DAY + dt.timedelta(days=1), CONFIG)
    assert not out["refit"], out
    mine = lists(con, DAY + dt.timedelta(days=1)).query("customer_id == 'c007'")
    personal = mine[mine["model"] == "itemknn"]
    assert len(personal) >= 4, mine
    # their cluster (7 % 6 = 1): the stored item-item weights point into it
    cluster = personal["product_id"].str[1:].astype(int) % CLUSTERS
    assert (cluster == 1).mean() > 0.8, personal


@pytest.mark.parametrize("shift", [0, 3])
def test_a_drift_beyond_the_threshold_forces_a_refit(con, shift):
    events = history()
    load(con, events)
    recommend_day(con, DAY, CONFIG)
    night = DAY + dt.timedelta(days=1)
    load(con, new_day(events, night, shift=shift))
    out = recommend_day(con, night, CONFIG)
    recorded = decision(con, night)
    assert recorded["monitored_users"] >= N_CUSTOMERS // 2, recorded
    if shift == 0:  # the customers keep to their clusters: the stored fit still ranks well
        assert not out["refit"], out["refit_reason"]
        assert recorded["ndcg@10_drift"] <= CONFIG.max_ndcg_drift
    else:  # everyone moved to another cluster: the stored fit's NDCG@10 collapsed
        assert out["refit"] and out["refit_reason"].startswith("drift:"), out["refit_reason"]
        assert recorded["ndcg@10_drift"] > CONFIG.max_ndcg_drift


def newcomers(day: dt.date, prefix: str, offset: int, *, moved: bool = False) -> pd.DataFrame:
    """60 customers first seen on ``day``, alike from day to day (the products differ with
    ``offset``): a view in their cluster among two elsewhere (a history that says little),
    then, last, a view of another product of their cluster (of the cluster three away with
    ``moved``)."""
    rows = []
    for k in range(60):
        cluster = k % CLUSTERS
        mine = [cluster + CLUSTERS * ((k // CLUSTERS + j + offset) % 10) for j in range(2)]
        other = [(cluster + 1 + j) % CLUSTERS + CLUSTERS * ((k + offset) % 10) for j in range(2)]
        last = mine[1] if not moved else (mine[1] + 3) % N_PRODUCTS
        views = [mine[0], *other, last]
        for h, product in enumerate(views):
            at = dt.datetime.combine(day, dt.time(8 + 3 * h))
            rows.append((f"{prefix}{k:02d}", f"p{product:02d}", at))
    return pd.DataFrame(rows, columns=["customer_id", "product_id", "at_"])


def with_customers(con, events: pd.DataFrame) -> None:
    load(con, events)
    con.execute(
        "insert into marts.customers select distinct customer_id, true from marts.user_item_events "
        "where customer_id not in (select customer_id from marts.customers)"
    )


@pytest.mark.parametrize("moved", [False, True])
def test_drift_is_measured_against_the_customers_new_on_the_fits_last_day(con, moved):
    # the customers the monitor watches (active since the fit) are not the holdout's
    # average: here newcomers whose short histories say little. The fit records its
    # reference on the same kind, the customers new on its last day, scored by the
    # served model fitted without that day (a day old, as the stored fit is the night
    # after): a night of newcomers like those is no drift (against the whole holdout it
    # would be), and newcomers who moved to another cluster still are
    events = pd.concat([history(), newcomers(DAY, "n", 0)], ignore_index=True)
    with_customers(con, events)
    recommend_day(con, DAY, CONFIG)
    night = DAY + dt.timedelta(days=1)
    tonight = newcomers(night, "m", 5, moved=moved)
    with_customers(con, pd.concat([events, tonight], ignore_index=True))
    out = recommend_day(con, night, CONFIG)
    recorded = decision(con, night)
    assert recorded["monitored_users"] == 60 and recorded["reference_users"] == 60, recorded
    reference, now = recorded["reference_ndcg@10"], recorded["monitored_ndcg@10"]
    assert recorded["ndcg@10_drift"] == pytest.approx(1 - now / reference, abs=1e-4)
    # the whole holdout is mostly long-standing customers: far above any newcomer
    assert recorded["fit_ndcg@10"] > 2 * reference, recorded
    if not moved:
        assert not out["refit"], out["refit_reason"]
        assert now >= reference * (1 - CONFIG.max_ndcg_drift)
        # measured from the whole holdout, this night would have "drifted"
        assert now < recorded["fit_ndcg@10"] * (1 - CONFIG.max_ndcg_drift)
        assert (
            f"vs {reference:.4f} on the 60 customers new on its last day" in (out["refit_reason"])
        )
    else:
        assert out["refit"] and out["refit_reason"].startswith("drift:"), out["refit_reason"]
        assert "on the 60 customers new on its last day" in out["refit_reason"]


def trend(day: dt.date, prefix: str, pairing: int) -> pd.DataFrame:
    """60 customers active on ``day`` in groups of 10 that view the same two products, one
    of their own cluster then one of the cluster three away: a pairing of that day alone
    (``pairing`` picks it). Half of each group views one more product of their cluster
    after the pair (held out, the pair is history), the other half ends on it (the second
    product of the pair is held out), after two products of their cluster."""
    rows = []
    for k in range(60):
        group, ends_on_pair = (k // 2) % CLUSTERS, k % 2 == 1
        own = [group + CLUSTERS * j for j in (2, 3, 4)]
        cue = group
        paired = (group + 3) % CLUSTERS + CLUSTERS * (1 + pairing % 9)
        views = [*own[:2], cue, paired] + ([] if ends_on_pair else [own[2]])
        for h, product in enumerate(views):
            at = dt.datetime.combine(day, dt.time(8 + 2 * h))
            rows.append((f"{prefix}{k:02d}", f"p{product:02d}", at))
    return pd.DataFrame(rows, columns=["customer_id", "product_id", "at_"])


def with_the_day(con, day: dt.date) -> float:
    """NDCG@10 on the customers whose held-out products all came on ``day`` of the served
    model fitted with that day (what the evaluation's models see)."""
    from ml.recommend.bench import base_features, resolve
    from ml.recommend.bench import fit as fit_model
    from ml.recommend.cadence import _bench
    from ml.recommend.data import load_data
    from ml.recommend.models import build

    data = load_data(con, day, CONFIG)
    config = resolve(CONFIG, data)
    bench, _ = _bench(data, config, base_features(config), since=data.as_of_days - 1.0)
    model = fit_model(build("itemknn", config, data.n_items, None, {}), bench.X, data, {})
    return float(bench.ndcg(model, bench.popularity).mean())


def test_the_drift_reference_is_a_model_that_never_saw_its_last_day(con):
    # what the 10M nights showed: on the fit's last day customers share a pairing of that
    # day; a model fitted with the day learns it from the half whose pair is history and
    # ranks it for the half whose pair is held out. The stored fit cannot know the next
    # day's pairing, so the night after it scores as a model that never saw the last day
    # scores on that day: that is its reference, and the night is no drift, where a
    # reference fitted with the day would call it one
    events = pd.concat([history(), trend(DAY, "t", 0)], ignore_index=True)
    with_customers(con, events)
    recommend_day(con, DAY, CONFIG)
    leaked = with_the_day(con, DAY)
    night = DAY + dt.timedelta(days=1)
    with_customers(con, pd.concat([events, trend(night, "u", 4)], ignore_index=True))
    out = recommend_day(con, night, CONFIG)
    recorded = decision(con, night)
    assert recorded["monitored_users"] == 60 and recorded["reference_users"] == 60, recorded
    reference, now = recorded["reference_ndcg@10"], recorded["monitored_ndcg@10"]
    assert leaked > 1.5 * reference, (leaked, reference)
    assert not out["refit"], out["refit_reason"]
    assert recorded["ndcg@10_drift"] <= CONFIG.max_ndcg_drift, recorded
    assert now < leaked * (1 - CONFIG.max_ndcg_drift), (now, leaked)


def test_the_setting_sets_the_cadence(con):
    load(con, history())
    days = [DAY + dt.timedelta(days=i) for i in range(4)]
    every_other = RecommendConfig(**{**CONFIG.__dict__, "refit_every_days": 2})
    assert [recommend_day(con, d, every_other)["refit"] for d in days] == [1, 0, 1, 0]
    assert decision(con, days[2])["refit_reason"].startswith("cadence:")
    nightly = RecommendConfig(**{**CONFIG.__dict__, "refit_every_days": 1})
    assert all(recommend_day(con, d, nightly)["refit"] for d in days)
    # config/tailor.yml's recommend: section carries it
    assert _parse_recommend({"refit_every_days": 3}, "recommend").values == {"refit_every_days": 3}
    with pytest.raises(ConfigError, match="refit_every_days"):
        _parse_recommend({"refit_every_days": 0}, "recommend")


def test_a_changed_catalog_or_an_erasure_forces_a_refit(con):
    load(con, history())
    recommend_day(con, DAY, CONFIG)
    con.execute("update marts.products set is_active = false where product_id < 'p10'")
    out = recommend_day(con, DAY + dt.timedelta(days=1), CONFIG)
    assert out["refit"] and out["refit_reason"].startswith("catalog changed"), out
    con.execute("create schema if not exists ops")
    con.execute("create table ops.erasure_audit (run_date date)")
    con.execute("insert into ops.erasure_audit values (?)", [DAY + dt.timedelta(days=2)])
    out = recommend_day(con, DAY + dt.timedelta(days=2), CONFIG)
    assert out["refit"] and "erasure" in out["refit_reason"], out


def test_an_erasure_refits_by_its_physical_deadline_not_on_the_night_it_is_applied(con):
    # the fit's trace of an erased person goes with the batched physical part (files,
    # compaction): the nights before it is due serve the stored fit, whose lists already
    # leave them out (their rows are gone); the night the pass runs refits
    load(con, history())
    nights = [DAY + dt.timedelta(days=i) for i in range(5)]
    recommend_day(con, nights[0], CONFIG)
    con.execute("create schema if not exists ops")
    con.execute(
        "create table ops.erasure_audit "
        "(run_date date, physical_due_on date, physically_erased_on date)"
    )
    # applied on night 1, due on night 4: the pass runs one night ahead, on night 3
    con.execute("insert into ops.erasure_audit values (?, ?, null)", [nights[1], nights[4]])
    assert [recommend_day(con, d, CONFIG)["refit"] for d in nights[1:3]] == [0, 0]
    out = recommend_day(con, nights[3], CONFIG)
    assert out["refit"] and "erasure" in out["refit_reason"], out
    # erased at once (tailor erase without --defer, or a flush): refitted that night
    con.execute("insert into ops.erasure_audit values (?, ?, ?)", [nights[4], nights[4], nights[4]])
    out = recommend_day(con, nights[4], CONFIG)
    assert out["refit"] and "erasure" in out["refit_reason"], out


def test_a_rerun_of_a_refit_night_stores_the_same_fit_byte_for_byte(con):
    load(con, history())

    def stored() -> tuple:
        return con.execute("select model, spec, payload from private.fitted_models").fetchall()

    recommend_day(con, DAY, CONFIG)
    first = stored()
    recommend_day(con, DAY, CONFIG)
    assert stored() == first and len(first) == 1
