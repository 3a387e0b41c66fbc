"""The recommendation job's rules, on small in-memory data with known answers: exclusions,
the diversity rule, popularity fill, the temporal split and the model choice."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from ml.recommend import (
    KINDS,
    Bench,
    Features,
    ModelResult,
    RecData,
    RecommendConfig,
    base_features,
    category_codes,
    choose,
    customer_split,
    days,
    diversify,
    evaluate,
    interaction_matrix,
    purchase_matrix,
    ranked_lists,
    repeat_purchase_mask,
    resolve,
)
from ml.recommenders import ItemKNNRecommender, PopularityRecommender
from ml.recommenders.base import contains

pytestmark = pytest.mark.unit

CONFIG = RecommendConfig(weights={"view": 1.0, "cart": 3.0, "purchase": 5.0}, half_life_days=30.0)
AS_OF = dt.datetime(2026, 11, 1)


# --------------------------------------------------------------------------- diversity


def test_diversity_keeps_at_most_n_per_category_in_rank_order():
    ids = np.array([[0, 1, 2, 3, 4, 5]])
    cats = np.array([0, 0, 0, 1, 1, 2])
    out, scores, src = diversify(
        ids,
        np.array([[6.0, 5, 4, 3, 2, 1]]),
        np.zeros((1, 6), np.int8),
        cats,
        max_per_category=2,
        n=4,
    )
    assert out.tolist() == [[0, 1, 3, 4]]
    assert scores.tolist() == [[6.0, 5.0, 3.0, 2.0]]
    assert src.tolist() == [[0, 0, 0, 0]]


def test_diversity_drops_repeats_and_pads():
    ids = np.array([[2, 2, -1, 0], [1, 0, 1, 2]])
    sources = np.array([[0, 1, 0, 1], [0, 0, 1, 1]], np.int8)
    out, _, src = diversify(ids, np.ones(ids.shape), sources, np.arange(3), max_per_category=1, n=3)
    assert out.tolist() == [[2, 0, -1], [1, 0, 2]]
    assert src.tolist() == [[0, 1, -1], [0, 0, 1]]


def test_category_codes_leave_uncategorized_products_unconstrained():
    products = pd.DataFrame({"category_path": ["A", None, "A", None, "B"]})
    codes = category_codes(products, "category_path")
    assert codes[0] == codes[2]
    assert len({codes[1], codes[3], codes[0], codes[4]}) == 4


def test_repeat_purchase_categories_match_by_path_prefix():
    products = pd.DataFrame({"category_path": ["Beauty > Skin", "Beauty", "Beautyx", "Home", None]})
    assert repeat_purchase_mask(products, ["beauty"]).tolist() == [True, True, False, False, False]
    assert not repeat_purchase_mask(products, []).any()


# --------------------------------------------------------------------------- lists


def _catalog(n_items: int, per_category: int) -> tuple[pd.DataFrame, np.ndarray]:
    products = pd.DataFrame({"category_path": [f"C{i // per_category}" for i in range(n_items)]})
    return products, category_codes(products, "category_path")


def test_served_lists_exclude_bought_and_inactive_and_respect_diversity():
    rng = np.random.default_rng(0)
    n_users, n_items = 40, 30
    X = sp.random(n_users, n_items, density=0.3, random_state=2, format="csr", dtype=np.float32)
    bought = sp.random(
        n_users, n_items, density=0.1, random_state=3, format="csr", dtype=np.float32
    )
    allowed = rng.random(n_items) > 0.2
    products, cats = _catalog(n_items, 5)
    model = ItemKNNRecommender(neighbours=20, shrink=0.0).fit(X)
    pop = PopularityRecommender().fit(X)
    config = CONFIG.__class__(**{**CONFIG.__dict__, "max_per_category": 2, "k": 8})
    ids, _, src = ranked_lists(
        model,
        pop,
        X,
        exclude=bought,
        allowed=allowed,
        categories=cats,
        groups=None,
        config=config,
        n=8,
    )
    valid = ids >= 0
    assert valid.all(), "popularity fills every list"
    assert not contains(bought, ids).any()
    assert allowed[ids[valid]].all()
    for row in ids:
        _, counts = np.unique(cats[row], return_counts=True)
        assert counts.max() <= 2
        assert len(set(row)) == len(row)
    assert set(np.unique(src)) <= {0, 1}


def test_a_short_candidate_pool_is_refilled_from_the_whole_catalog():
    # 60 items in 20 categories of 3, popularity falling with the index; with a pool of 10
    # and at most 1 per category, the 10 most popular items give only 4 categories
    n_items = 60
    X = sp.csr_matrix(np.tile(np.arange(n_items, 0, -1, dtype=np.float32), (3, 1)))
    _, cats = _catalog(n_items, 3)
    pop = PopularityRecommender().fit(X)
    config = CONFIG.__class__(
        **{**CONFIG.__dict__, "max_per_category": 1, "candidate_pool": 10, "k": 8}
    )
    ids, _, src = ranked_lists(
        pop,
        pop,
        sp.csr_matrix((2, n_items), dtype=np.float32),
        exclude=sp.csr_matrix((2, n_items)),
        allowed=np.ones(n_items, bool),
        categories=cats,
        groups=None,
        config=config,
        n=8,
    )
    assert (ids >= 0).all()
    assert ids[0].tolist() == [0, 3, 6, 9, 12, 15, 18, 21]  # the best of each category
    assert (src == 1).all()


def test_refilling_short_lists_a_few_rows_at_a_time_gives_the_same_lists(monkeypatch):
    import ml.recommend.rules

    rng = np.random.default_rng(1)
    n_items = 200
    X = sp.random(30, n_items, density=0.2, random_state=4, format="csr", dtype=np.float32)
    bought = sp.csr_matrix((rng.random((30, n_items)) < 0.3).astype(np.float32))
    _, cats = _catalog(n_items, 40)  # 5 categories: pools of 10 leave most rows short
    model = ItemKNNRecommender(neighbours=20, shrink=0.0).fit(X)
    pop = PopularityRecommender().fit(X)
    config = CONFIG.__class__(
        **{**CONFIG.__dict__, "max_per_category": 1, "candidate_pool": 10, "k": 8}
    )
    args = (model, pop, X)
    kw = dict(
        exclude=bought,
        allowed=np.ones(n_items, bool),
        categories=cats,
        groups=None,
        config=config,
        n=8,
    )
    whole = ranked_lists(*args, **kw)
    monkeypatch.setattr(ml.recommend.rules, "FILL_CELLS", 50)  # one row at a time
    assert all(np.array_equal(a, b) for a, b in zip(whole, ranked_lists(*args, **kw), strict=True))
    ids = whole[0]
    assert (ids >= 0).all() and not contains(bought, ids).any()
    for row in ids:  # 5 categories, one each, then the rest beyond the cap
        assert len(set(cats[row[:5]])) == 5


def test_too_few_categories_top_up_the_list_beyond_the_cap():
    # 6 items in 2 categories, at most 2 per category: 4 diverse items, then the rest
    X = sp.csr_matrix(np.tile(np.arange(6, 0, -1, dtype=np.float32), (2, 1)))
    _, cats = _catalog(6, 3)
    pop = PopularityRecommender().fit(X)
    config = CONFIG.__class__(**{**CONFIG.__dict__, "max_per_category": 2, "k": 5})
    bought = sp.csr_matrix(([1.0], ([1], [0])), shape=(2, 6))
    ids, _, _ = ranked_lists(
        pop,
        pop,
        sp.csr_matrix((2, 6), dtype=np.float32),
        exclude=bought,
        allowed=np.ones(6, bool),
        categories=cats,
        groups=None,
        config=config,
        n=5,
    )
    assert ids[0].tolist() == [0, 1, 3, 4, 2]
    assert ids[1].tolist() == [1, 2, 3, 4, 5]  # item 0 was bought: nothing is over the cap
    # a catalog with fewer products than k: as many as there are, never a bought one
    ids, _, _ = ranked_lists(
        pop,
        pop,
        sp.csr_matrix((2, 6), dtype=np.float32),
        exclude=bought,
        allowed=np.ones(6, bool),
        categories=cats,
        groups=None,
        config=config,
        n=7,
    )
    assert (ids[0] >= 0).sum() == 6 and (ids[1] >= 0).sum() == 5
    assert 0 not in ids[1]


def test_cold_users_get_popularity():
    X = sp.csr_matrix(np.array([[1, 1, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=np.float32))
    train = sp.csr_matrix(
        np.array([[1, 1, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 0, 1, 1]] * 3, dtype=np.float32)
    )
    _, cats = _catalog(5, 1)
    model = ItemKNNRecommender(shrink=0.0).fit(train)
    pop = PopularityRecommender().fit(train)
    config = CONFIG.__class__(**{**CONFIG.__dict__, "exclude_viewed": True})
    ids, _, src = ranked_lists(
        model,
        pop,
        X,
        exclude=sp.csr_matrix(X.shape),
        allowed=np.ones(5, bool),
        categories=cats,
        groups=None,
        config=config,
        n=3,
    )
    assert (src[1] == 1).all()
    assert ids[1, 0] == 1  # the most popular item
    assert not contains(X, ids).any()
    assert src[0, 0] == 0 and ids[0, 0] == 2  # the warm user's first item comes from the model


# --------------------------------------------------------------------------- split


def _events_and_data(events: pd.DataFrame, n_users: int, n_items: int, active=None) -> RecData:
    """RecData of ``events``, its interactions aggregated the way
    marts.user_item_interactions does."""
    h = CONFIG.half_life_days
    w = events["kind"].map({c: CONFIG.weights[k] for k, c in KINDS.items()})
    age = (AS_OF - events["at"]).dt.total_seconds() / 86400.0
    e = events.assign(score=w * 0.5 ** (age / h))
    inter = (
        e.groupby(["user", "item"])
        .agg(
            score=("score", "sum"),
            purchases=("kind", lambda k: int((k == 3).sum())),
            kind=("kind", "max"),
            first_at=("at", "min"),
        )
        .reset_index()
    )
    products = pd.DataFrame(
        {
            "product_id": [f"P{i}" for i in range(n_items)],
            "category_path": [f"C{i % 3}" for i in range(n_items)],
            "is_recommendable": np.ones(n_items, bool) if active is None else active,
        }
    )
    events = events.sort_values(["user", "at", "item"]).reset_index(drop=True)
    return RecData(
        customer_ids=np.array([f"C{u}" for u in range(n_users)], dtype=object),
        products=products,
        interactions=inter,
        events=events.assign(t=days(events["at"])),
        as_of=AS_OF,
        groups=np.full(n_users, -1, np.int32),
        group_names=[],
        servable=np.ones(n_users, bool),
        consent=np.ones(n_users, bool),
    )


def _ev(rows):
    return pd.DataFrame(
        [(u, i, KINDS[k], AS_OF - dt.timedelta(days=d)) for u, i, k, d in rows],
        columns=["user", "item", "kind", "at"],
    )


def _split(data, **kw):
    args = dict(share=0.2, count=None, min_items=3, end=data.as_of_days, max_users=None) | kw
    return customer_split(data.events, (data.n_users, data.n_items), (2, 3), **args)


def test_each_customer_holds_out_their_latest_products_however_long_ago():
    events = _ev(
        [
            # customer 0, active a year ago: 5 products bought, the latest one held out
            *[(0, i, "purchase", 400 - i) for i in range(5)],
            (0, 9, "view", 396.5),  # a view before the cutoff trains
            (0, 8, "view", 300),  # a view after it is left out
            # customer 1: 2 products only, too short to split: all of it trains
            (1, 0, "purchase", 5),
            (1, 1, "cart", 4),
            # customer 2: the same product twice counts once, a view is not relevant: 3
            (2, 0, "purchase", 30),
            (2, 0, "purchase", 20),
            (2, 2, "purchase", 10),
            (2, 3, "view", 9),
            (2, 4, "cart", 8),
        ]
    )
    data = _events_and_data(events, 3, 10)
    split = _split(data)
    assert split.users.tolist() == [0, 2] and split.split_users == 2
    assert split.truth.toarray()[0].nonzero()[0].tolist() == [4]
    assert split.truth.toarray()[2].nonzero()[0].tolist() == [4]
    train = set(zip(split.train["user"], split.train["item"], strict=True))
    assert (0, 9) in train and (0, 8) not in train and (0, 4) not in train
    assert {(1, 0), (1, 1), (2, 3)} <= train and (2, 4) not in train

    # each history is decayed to its own latest training event, however long ago
    def day(d):
        return days(np.array([AS_OF - dt.timedelta(days=d)]))[0]

    assert split.reference[0] == pytest.approx(day(396.5))
    assert split.reference[1] == pytest.approx(day(4))
    # a count instead of a share (one product always trains); min_items lets customer 1 in
    split = _split(data, count=2, min_items=2)
    assert split.users.tolist() == [0, 1, 2]
    truth = split.truth.toarray()
    assert [truth[u].nonzero()[0].tolist() for u in range(3)] == [[3, 4], [1], [2, 4]]


def test_products_of_one_instant_are_split_by_position_not_all_held_out():
    # 10 products ordered the same day: 2 held out, 8 train (none would, cut by time)
    events = _ev([(0, i, "purchase", 3) for i in range(10)])
    data = _events_and_data(events, 1, 10)
    split = _split(data)
    assert split.truth.nnz == 2
    assert len(split.train) == 8
    held = set(split.truth.indices.tolist())
    assert held.isdisjoint(split.train["item"])
    assert held != {8, 9}  # not by product order: a fixed pseudo-random one


def test_interaction_matrix_weighs_and_decays_to_each_reference():
    events = _ev([(0, 0, "view", 20), (0, 0, "purchase", 10), (1, 1, "cart", 0)])
    data = _events_and_data(events, 2, 2)
    ref = np.array([data.as_of_days - 10, data.as_of_days])
    X = interaction_matrix(data.events, (2, 2), Features(CONFIG.weights, 30.0), ref).toarray()
    np.testing.assert_allclose(X, [[1 * 0.5 ** (10 / 30) + 5, 0], [0, 3]], rtol=1e-5)
    flat = interaction_matrix(data.events, (2, 2), Features(CONFIG.weights, None), ref)
    np.testing.assert_allclose(flat.toarray(), [[6, 0], [0, 3]])


def test_purchases_of_the_training_part_are_excluded_and_not_counted_as_truth():
    events = _ev(
        [
            (0, 0, "purchase", 10),  # bought before: excluded, not counted as truth
            (0, 1, "purchase", 9),
            (0, 2, "purchase", 8),
            (0, 0, "purchase", 1),  # bought again at the end: not a new product
            (0, 3, "cart", 2),  # held out
            (1, 1, "purchase", 5),
            (1, 2, "purchase", 4),
            (1, 4, "purchase", 1),  # inactive product: not counted
        ]
    )
    active = np.array([True, True, True, True, False])
    data = _events_and_data(events, 2, 5, active)
    split = _split(data)
    assert purchase_matrix(data, split.train).toarray().tolist() == [
        [1, 1, 1, 0, 0],
        [0, 1, 1, 0, 0],
    ]
    bench = Bench.make(data, split, base_features(CONFIG), resolve(CONFIG, data))
    assert bench.users.tolist() == [0]
    assert bench.truth.toarray().tolist() == [[0, 0, 0, 1, 0]]


def test_evaluation_finds_planted_structure_and_beats_popularity():
    # items come in pairs (2j, 2j+1): whoever viewed one carts the other last;
    # pair 0 is bought by everyone, so popularity alone guesses it
    rng = np.random.default_rng(1)
    rows = []
    n_users, n_pairs = 120, 10
    for u in range(n_users):
        rows.append((u, 0, "purchase", 20))
        rows.append((u, 1, "purchase", 19))
        j = 1 + u % (n_pairs - 1)
        first, second = 2 * j, 2 * j + 1
        kind = "cart" if u < 60 else "view"  # the others are too short to be split
        rows.append((u, first, kind, 15 + rng.random()))
        rows.append((u, second, kind, 1 + rng.random()))
    data = _events_and_data(_ev(rows), n_users, 2 * n_pairs)
    config = replace(CONFIG, models=("itemknn",), min_holdout_users=5, tune=False)
    factories = {"itemknn": lambda: ItemKNNRecommender(shrink=0.0)}
    ev = evaluate(data, config, factories=factories)
    knn = ev.result("itemknn").metrics
    pop = ev.result("popularity").metrics
    assert ev.served == "itemknn" and not ev.fallback
    assert knn["ndcg@10"] > 0.9
    assert knn["ndcg@10"] > 2 * pop["ndcg@10"]
    assert ev.data_window["evaluated_users"] == 60
    lo, hi = knn["ndcg@10_ci"]
    assert lo <= knn["ndcg@10"] <= hi


def test_a_model_that_fails_while_tuning_does_not_stop_the_night(monkeypatch):
    """One candidate that cannot be fitted (a numerical error, a bug) is marked failed, as in
    the evaluation; the tuning skips its trials instead of failing the whole night."""
    from ml.recommenders import rp3beta

    def broken(self, *args, **kwargs):
        raise FloatingPointError("overflow in the random walk")

    monkeypatch.setattr(rp3beta.RP3betaRecommender, "fit", broken)
    rng = np.random.default_rng(1)
    rows = []
    for u in range(120):
        j = 1 + u % 9
        rows += [(u, 0, "purchase", 20), (u, 1, "purchase", 19)]
        rows += [(u, 2 * j, "cart", 15 + rng.random()), (u, 2 * j + 1, "cart", 1 + rng.random())]
    data = _events_and_data(_ev(rows), 120, 20)
    config = replace(CONFIG, models=("ease", "rp3beta"), min_holdout_users=5, tune=True)
    ev = evaluate(data, config)
    assert ev.result("rp3beta").status == "failed"
    assert ev.served in ("ease", "popularity")


def test_too_few_holdout_users_serves_popularity():
    data = _events_and_data(_ev([(0, 0, "view", 20), (0, 1, "cart", 1)]), 1, 2)
    ev = evaluate(data, CONFIG)
    assert ev.served == "popularity" and ev.fallback
    assert ev.result("popularity").status == "fallback"


# --------------------------------------------------------------------------- choice


def _results(n=400, seed=0, **ndcg):
    """Results whose per-customer NDCG@10 are 0/1 draws with the given means."""
    rng = np.random.default_rng(seed)
    base = rng.permutation(n) / n  # the means are exactly the given ones
    out = []
    for name, v in ndcg.items():
        per_user = (base < v).astype(float)  # paired: the same customers hit
        out.append(
            ModelResult(
                name,
                "baseline" if name == "popularity" else "candidate",
                metrics={"ndcg@10": float(per_user.mean()), "ndcg@10_se": 0.02},
                per_user={"ndcg@10": per_user},
            )
        )
    return out


def _noisy(n=400, seed=0, **ndcg):
    """Independent per-customer draws: differences of a few points are noise."""
    rng = np.random.default_rng(seed)
    out = _results(n, seed, **ndcg)
    for r in out:
        v = ndcg[r.name]
        r.per_user["ndcg@10"] = (rng.random(n) < v).astype(float)
        r.metrics["ndcg@10"] = float(r.per_user["ndcg@10"].mean())
    return out


def test_choose_the_best_ndcg():
    ev = choose(_results(popularity=0.1, itemknn=0.2, ease=0.25), CONFIG, {})
    assert (ev.served, ev.fallback) == ("ease", False)
    assert {r.name: r.status for r in ev.results} == {
        "popularity": "baseline",
        "itemknn": "candidate",
        "ease": "chosen",
    }
    assert ev.result("ease").metrics["ndcg@10_diff_vs_popularity_ci"][0] > 0


def test_popularity_replaces_a_model_only_when_significantly_better():
    # a few points of noise in popularity's favour: the personal model stays
    results = next(  # a draw in which popularity's point estimate is the better one
        r
        for seed in range(50)
        if (r := _noisy(seed=seed, popularity=0.21, ease=0.20))[0].metrics["ndcg@10"]
        > r[1].metrics["ndcg@10"]
    )
    ev = choose(results, CONFIG, {})
    assert (ev.served, ev.fallback) == ("ease", False)
    # popularity far better: served, flagged, with the interval in the message
    ev = choose(_results(popularity=0.4, ease=0.2), CONFIG, {})
    assert (ev.served, ev.best, ev.fallback) == ("popularity", "ease", True)
    assert ev.result("popularity").status == "fallback"
    assert "popularity replaces ease" in ev.message and " to " in ev.message


def test_the_served_model_changes_only_on_a_significant_difference():
    results = next(  # a draw in which rp3beta's point estimate is the better one
        r
        for seed in range(50)
        if (r := _noisy(seed=seed, popularity=0.1, ease=0.30, rp3beta=0.31))[2].metrics["ndcg@10"]
        > r[1].metrics["ndcg@10"]
    )
    ev = choose(results, CONFIG, {}, incumbent="ease")
    assert ev.served == "ease" and "within the noise" in ev.message
    ev = choose(_results(popularity=0.1, ease=0.2, rp3beta=0.3), CONFIG, {}, incumbent="ease")
    assert ev.served == "rp3beta" and "replaces ease" in ev.message
    # after a night on popularity, a model must be significantly better to come back
    ev = choose(_noisy(popularity=0.30, ease=0.31), CONFIG, {}, incumbent="popularity")
    assert (ev.served, ev.fallback) == ("popularity", True)
    ev = choose(_results(popularity=0.1, ease=0.3), CONFIG, {}, incumbent="popularity")
    assert (ev.served, ev.fallback) == ("ease", False)


def test_fall_back_only_on_a_significant_drop_against_the_previous_run():
    results = _results(popularity=0.1, ease=0.25)
    ev = choose(results, CONFIG, {"ease": {"ndcg@10": 0.30, "ndcg@10_se": 0.01}})
    assert (ev.served, ev.fallback) == ("popularity", True)
    assert "dropped" in ev.message
    assert ev.result("ease").metrics["previous_ndcg@10"] == 0.30
    # the same drop with wide intervals (few customers) is noise
    ev = choose(
        _results(popularity=0.1, ease=0.25), CONFIG, {"ease": {"ndcg@10": 0.30, "ndcg@10_se": 0.05}}
    )
    assert (ev.served, ev.fallback) == ("ease", False)
    ev = choose(_results(popularity=0.1, ease=0.28), CONFIG, {"ease": 0.30})  # under 10 %
    assert (ev.served, ev.fallback) == ("ease", False)
