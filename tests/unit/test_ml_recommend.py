"""The recommendation job's rules, on small in-memory data with known answers: exclusions,
the diversity rule, popularity fill, the temporal split and the model choice."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from ml.recommend import (
    KINDS,
    ModelResult,
    RecData,
    RecommendConfig,
    category_codes,
    choose,
    diversify,
    evaluate,
    exclusions,
    holdout_truth,
    purchase_matrix,
    ranked_lists,
    repeat_purchase_mask,
    train_matrix,
)
from ml.recommenders import ItemKNNRecommender, PopularityRecommender
from ml.recommenders.base import contains

pytestmark = pytest.mark.unit

CONFIG = RecommendConfig(
    weights={"view": 1.0, "cart": 3.0, "purchase": 5.0}, half_life_days=30.0, holdout_days=7
)
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
    """RecData whose interactions aggregate ``events`` the way marts.user_item_interactions
    does (score decayed to each customer's last interaction, then on to AS_OF)."""
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
    return RecData(
        customer_ids=np.array([f"C{u}" for u in range(n_users)], dtype=object),
        products=products,
        interactions=inter,
        holdout=events[events["at"] >= AS_OF - dt.timedelta(days=CONFIG.holdout_days)].reset_index(
            drop=True
        ),
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


def test_train_matrix_is_the_history_before_the_cutoff_decayed_to_it():
    events = _ev(
        [
            (0, 0, "view", 20),
            (0, 0, "purchase", 2),  # pair spans the cutoff
            (0, 1, "cart", 3),  # pair only in the holdout
            (1, 2, "view", 10),
            (1, 2, "view", 9),  # pair only before
            (1, 3, "purchase", 8.5),
            (1, 3, "view", 1),
        ]
    )
    data = _events_and_data(events, 2, 4)
    cutoff = AS_OF - dt.timedelta(days=7)
    X = train_matrix(data, cutoff, CONFIG).toarray()
    h = CONFIG.half_life_days

    def decayed(w, days_before_as_of):
        return w * 0.5 ** ((days_before_as_of - 7) / h)

    expected = np.zeros((2, 4))
    expected[0, 0] = decayed(1, 20)
    expected[1, 2] = decayed(1, 10) + decayed(1, 9)
    expected[1, 3] = decayed(5, 8.5)
    np.testing.assert_allclose(X, expected, rtol=1e-5)


def test_purchases_before_the_cutoff_and_the_truth():
    events = _ev(
        [
            (0, 0, "purchase", 10),  # bought before: excluded, not counted as truth
            (0, 0, "purchase", 1),
            (0, 1, "cart", 2),  # relevant
            (0, 2, "view", 2),  # a view is not relevant by default
            (1, 3, "purchase", 1),  # inactive product: not counted
            (1, 1, "purchase", 3),  # relevant
        ]
    )
    active = np.array([True, True, True, False])
    data = _events_and_data(events, 2, 4, active)
    cutoff = AS_OF - dt.timedelta(days=7)
    bought = purchase_matrix(data, before=cutoff)
    assert bought.toarray().tolist() == [[1, 0, 0, 0], [0, 0, 0, 0]]
    assert purchase_matrix(data).toarray().tolist() == [[1, 0, 0, 0], [0, 1, 0, 1]]
    truth = holdout_truth(data, cutoff, exclusions(bought, np.zeros(4, bool)), CONFIG)
    assert truth.toarray().tolist() == [[0, 1, 0, 0], [0, 1, 0, 0]]
    # a repeat-purchase category makes the earlier purchase recommendable again
    repeat = exclusions(bought, np.array([True, False, False, False]))
    assert holdout_truth(data, cutoff, repeat, CONFIG)[0, 0] == 1


def test_evaluation_finds_planted_structure_and_beats_popularity():
    # items come in pairs (2j, 2j+1): whoever viewed one carts the other in the holdout;
    # pair 0 is bought by everyone, so popularity alone guesses it
    rng = np.random.default_rng(1)
    rows = []
    n_users, n_pairs = 120, 10
    for u in range(n_users):
        rows.append((u, 0, "purchase", 20))
        j = 1 + u % (n_pairs - 1)
        first, second = 2 * j, 2 * j + 1
        rows.append((u, first, "view", 15 + rng.random()))
        rows.append((u, second, "cart", 1 + rng.random()) if u < 60 else (u, second, "view", 14))
    data = _events_and_data(_ev(rows), n_users, 2 * n_pairs)
    config = CONFIG.__class__(**{**CONFIG.__dict__, "models": ("itemknn",), "min_holdout_users": 5})
    factories = {
        "popularity": PopularityRecommender,
        "itemknn": lambda: ItemKNNRecommender(shrink=0.0),
    }
    ev = evaluate(data, config, factories=factories)
    knn = ev.result("itemknn").metrics
    pop = ev.result("popularity").metrics
    assert ev.served == "itemknn" and not ev.fallback
    assert knn["ndcg@10"] > 0.9
    assert knn["ndcg@10"] > 2 * pop["ndcg@10"]
    assert ev.data_window["holdout_users"] == 60
    assert knn["warm.users"] == 60


def test_too_few_holdout_users_serves_popularity():
    data = _events_and_data(_ev([(0, 0, "view", 20), (0, 1, "cart", 1)]), 1, 2)
    ev = evaluate(data, CONFIG)
    assert ev.served == "popularity" and ev.fallback
    assert ev.result("popularity").status == "fallback"


# --------------------------------------------------------------------------- choice


def _results(**ndcg):
    return [
        ModelResult(
            name, "baseline" if name == "popularity" else "candidate", metrics={"ndcg@10": v}
        )
        for name, v in ndcg.items()
    ]


def test_choose_the_best_ndcg():
    ev = choose(_results(popularity=0.1, itemknn=0.2, ease=0.25), CONFIG, {})
    assert (ev.served, ev.fallback) == ("ease", False)
    assert {r.name: r.status for r in ev.results} == {
        "popularity": "baseline",
        "itemknn": "candidate",
        "ease": "chosen",
    }


def test_fall_back_when_nothing_beats_popularity():
    ev = choose(_results(popularity=0.2, itemknn=0.2), RecommendConfig(min_lift=0.05), {})
    assert ev.served == "popularity"
    # popularity winning outright is served, and flagged: the run is not personalized
    ev = choose(_results(popularity=0.3, itemknn=0.2), CONFIG, {})
    assert (ev.served, ev.best, ev.fallback) == ("popularity", "itemknn", True)
    assert ev.result("popularity").status == "fallback"
    assert ev.result("itemknn").status == "candidate"
    assert "does not beat popularity" in ev.message
    # a tie is not a win
    ev = choose(_results(popularity=0.2, itemknn=0.2), CONFIG, {})
    assert (ev.served, ev.fallback) == ("popularity", True)
    ev = choose(_results(popularity=0.2, itemknn=0.21), RecommendConfig(min_lift=0.1), {})
    assert (ev.served, ev.fallback) == ("popularity", True)
    assert ev.result("popularity").status == "fallback"
    assert "does not beat popularity" in ev.message


def test_fall_back_when_ndcg_drops_more_than_ten_percent():
    ev = choose(_results(popularity=0.1, ease=0.25), CONFIG, {"ease": 0.30})
    assert (ev.served, ev.fallback) == ("popularity", True)
    assert "dropped" in ev.message
    assert ev.result("ease").metrics["previous_ndcg@10"] == 0.30
    ev = choose(_results(popularity=0.1, ease=0.28), CONFIG, {"ease": 0.30})
    assert (ev.served, ev.fallback) == ("ease", False)
