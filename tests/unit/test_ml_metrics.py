"""Ranking metrics on hand-worked examples, and the batch form against the per-user one."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from ml.metrics import (
    average_precision_at_k,
    catalog_coverage,
    hit_rate_at_k,
    map_at_k,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    summarize,
)

pytestmark = pytest.mark.unit


def test_two_hits_in_the_top_three():
    # truth {a, c}; recs a b c d; hits at ranks 1 and 3
    truth, recs = {"a", "c"}, ["a", "b", "c", "d"]
    assert precision_at_k(truth, recs, 3) == pytest.approx(2 / 3)
    assert recall_at_k(truth, recs, 3) == pytest.approx(1.0)
    # DCG = 1/log2(2) + 1/log2(4) = 1.5; ideal = 1 + 1/log2(3)
    assert ndcg_at_k(truth, recs, 3) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    # AP = (1/1 + 2/3) / min(2, 3)
    assert average_precision_at_k(truth, recs, 3) == pytest.approx((1 + 2 / 3) / 2)
    assert hit_rate_at_k(truth, recs, 3) == 1.0


def test_cutoff_drops_later_hits():
    truth, recs = {"a", "c"}, ["a", "b", "c", "d"]
    assert precision_at_k(truth, recs, 2) == pytest.approx(0.5)
    assert recall_at_k(truth, recs, 2) == pytest.approx(0.5)
    # one hit at rank 1; ideal has two hits in two slots
    assert ndcg_at_k(truth, recs, 2) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert average_precision_at_k(truth, recs, 2) == pytest.approx(1 / 2)


def test_more_relevant_items_than_k():
    truth, recs = {"a", "b", "c", "d"}, ["x", "a"]
    assert precision_at_k(truth, recs, 2) == pytest.approx(0.5)
    assert recall_at_k(truth, recs, 2) == pytest.approx(0.25)
    # one hit at rank 2: (1/log2(3)) / (1 + 1/log2(3))
    assert ndcg_at_k(truth, recs, 2) == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    # AP: precision at the hit 1/2, over min(4, 2)
    assert average_precision_at_k(truth, recs, 2) == pytest.approx(0.25)


def test_no_hit_and_empty_truth_score_zero():
    for f in (precision_at_k, recall_at_k, ndcg_at_k, average_precision_at_k, hit_rate_at_k):
        assert f({"a"}, ["x", "y"], 2) == 0.0
        assert f(set(), ["x", "y"], 2) == 0.0


def test_short_list_is_not_rewarded_for_being_short():
    # precision divides by k, not by the list length
    assert precision_at_k({"a"}, ["a"], 5) == pytest.approx(0.2)


def test_a_repeated_item_counts_once():
    assert precision_at_k({"a"}, ["a", "a"], 2) == pytest.approx(0.5)
    assert ndcg_at_k({"a"}, ["a", "a"], 2) == pytest.approx(1.0)


def test_perfect_ranking_scores_one():
    assert ndcg_at_k({1, 2, 3}, [3, 1, 2, 9], 3) == pytest.approx(1.0)
    assert average_precision_at_k({1, 2, 3}, [3, 1, 2], 3) == pytest.approx(1.0)


def test_map_is_the_mean_of_average_precisions():
    truths = [{"a"}, {"b"}]
    recs = [["a", "x"], ["x", "b"]]
    assert map_at_k(truths, recs, 2) == pytest.approx((1.0 + 0.5) / 2)


def test_catalog_coverage():
    assert catalog_coverage([[0, 1], [1, 2, -1]], 4) == pytest.approx(0.75)
    with pytest.raises(ValueError):
        catalog_coverage([[0]], 0)


def test_batch_form_matches_the_definitions():
    rng = np.random.default_rng(0)
    n_users, n_items, k = 60, 30, 10
    truth = sp.random(n_users, n_items, density=0.1, random_state=1, format="csr")
    truth.data[:] = 1
    recs = np.stack([rng.permutation(n_items)[:k] for _ in range(n_users)]).astype(np.int32)
    recs[::7, 6:] = -1  # some short lists
    recs[3, 1] = recs[3, 0]  # a repeated item
    batch = ranking_metrics(truth, recs, k)
    for u in range(n_users):
        t = set(truth[u].indices.tolist())
        r = [i for i in recs[u].tolist() if i >= 0]
        assert batch["precision"][u] == pytest.approx(precision_at_k(t, r, k))
        assert batch["recall"][u] == pytest.approx(recall_at_k(t, r, k))
        assert batch["ndcg"][u] == pytest.approx(ndcg_at_k(t, r, k))
        assert batch["map"][u] == pytest.approx(average_precision_at_k(t, r, k))
        assert batch["hit_rate"][u] == pytest.approx(hit_rate_at_k(t, r, k))


def test_summarize_reports_slices_and_coverage():
    truth = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 1, 0, 0]]))
    recs = np.array([[0, 2], [3, 2]])
    out = summarize(truth, recs, (2,), catalog_size=4, slices={"warm": np.array([True, False])})
    assert out["users"] == 2
    assert out["hit_rate@2"] == pytest.approx(0.5)
    assert out["coverage@2"] == pytest.approx(3 / 4)
    assert out["warm.users"] == 1
    assert out["warm.ndcg@2"] == pytest.approx(1.0)
    assert out["ndcg@2"] == pytest.approx(0.5)
