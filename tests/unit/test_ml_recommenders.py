"""Every recommender on a tiny matrix whose right answers are known.

Two groups of shoppers: group A buys items 0, 1 and 2 together, group B items 3, 4 and 5;
item 6 is bought by nobody but described like group A's items; item 7 is the most popular
item, bought by two thirds of each group. A shopper with items 0 and 1 should be shown item 2 before anything of group B;
the items most similar to 3 are 4 and 5.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from ml.recommenders import (
    ContentRecommender,
    EASERecommender,
    HistoryRecommender,
    HybridRecommender,
    ItemKNNRecommender,
    PopularityRecommender,
)
from ml.recommenders.als import ALSRecommender, implicit_available
from ml.recommenders.base import compact, contains, prune_rows, topn_dense, topn_sparse
from ml.recommenders.ease import CatalogTooLarge

pytestmark = pytest.mark.unit

N_ITEMS = 8
A, B, POPULAR, NEW = [0, 1, 2], [3, 4, 5], 7, 6
TEXTS = [
    "red leather running shoe",
    "red leather walking shoe",
    "red leather trail shoe",
    "blue glass table lamp",
    "blue glass floor lamp",
    "blue glass desk lamp",
    "red leather hiking shoe",
    "gift card",
]


def _matrix(rows: list[list[int]]) -> sp.csr_matrix:
    r = [u for u, items in enumerate(rows) for _ in items]
    c = [i for items in rows for i in items]
    return sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(len(rows), N_ITEMS))


def training() -> sp.csr_matrix:
    rows = []
    for u in range(12):
        group = A if u < 6 else B
        rows.append(group + ([POPULAR] * (u % 3 != 2)) + ([0, 3] if u == 11 else []))
    return _matrix(rows)


def probes() -> sp.csr_matrix:
    return _matrix([[0, 1], [3, 4], []])


def hybrid():
    return HybridRecommender(
        [(ItemKNNRecommender(neighbours=10, shrink=0.0), 1.0), (ContentRecommender(), 0.3)]
    )


MODELS = {
    "itemknn": lambda: ItemKNNRecommender(neighbours=10, shrink=0.0),
    "itemknn_cooccurrence": lambda: ItemKNNRecommender(neighbours=10, similarity="cooccurrence"),
    "ease": lambda: EASERecommender(l2=1.0),
    "content": lambda: ContentRecommender(),
    "hybrid": hybrid,
}
if implicit_available():
    MODELS["als"] = lambda: ALSRecommender(factors=4, regularization=0.01, alpha=5.0, iterations=30)


@pytest.fixture(params=sorted(MODELS))
def model(request):
    return MODELS[request.param]().fit(training(), item_text=TEXTS)


class TestEveryModel:
    """The shared contract: known structure, filters, shapes, batching, explanations."""

    def test_completes_the_group(self, model):
        ids, _ = model.recommend(probes()[:2], 3)
        assert ids[0, 0] == 2
        assert ids[1, 0] == 5

    def test_similar_items_are_the_group(self, model):
        ids, scores = model.similar_items(np.array([3, 0]), 2)
        assert set(ids[0]) == {4, 5}
        assert set(ids[1]) == {1, 2} or (model.name == "content" and set(ids[1]) <= {1, 2, 6})
        assert np.all(np.diff(scores, axis=1) <= 0)

    def test_never_recommends_what_is_filtered(self, model):
        X = probes()
        ids, _ = model.recommend(X, N_ITEMS)
        assert not contains(X, ids).any()
        exclude = _matrix([[2], [5], []])
        allowed = np.ones(N_ITEMS, bool)
        allowed[POPULAR] = False
        ids, _ = model.recommend(X, N_ITEMS, exclude=exclude, allowed_items=allowed)
        assert not contains(exclude, ids).any()
        assert not (ids == POPULAR).any()

    def test_kept_history_can_be_recommended(self, model):
        ids, _ = model.recommend(probes()[:2], N_ITEMS, filter_seen=False)
        assert ids.shape == (2, N_ITEMS)

    def test_no_history_no_candidates(self, model):
        ids, scores = model.recommend(probes()[2:], 3)
        assert (ids == -1).all() and np.isneginf(scores).all()

    def test_pads_short_lists(self, model):
        ids, scores = model.recommend(probes()[:1], 20)
        assert ids.shape == (1, 20)
        assert (ids[0, N_ITEMS:] == -1).all()
        valid = ids[0] >= 0
        assert len(set(ids[0, valid])) == valid.sum()
        assert np.isneginf(scores[0, ~valid]).all()

    def test_batches_do_not_change_the_answer(self, model):
        X = training()
        full = model.recommend(X, 4)
        one_by_one = model.recommend(X, 4, batch_size=1)
        np.testing.assert_array_equal(full[0], one_by_one[0])
        np.testing.assert_allclose(full[1], one_by_one[1], rtol=1e-4, atol=1e-6)

    def test_explains_with_a_history_item(self, model):
        if not model.explains:
            pytest.skip(f"{model.name} does not name history items")
        X = probes()[:2]
        ids, _ = model.recommend(X, 1)
        anchors, contrib = model.explain(X, ids)
        assert anchors[0, 0] in (0, 1)
        assert anchors[1, 0] in (3, 4)
        assert (contrib > 0).all()

    def test_rejects_a_different_catalog(self, model):
        with pytest.raises(ValueError):
            model.recommend(sp.csr_matrix((1, N_ITEMS + 1)), 3)


def test_content_reaches_items_nobody_bought():
    model = ContentRecommender().fit(training(), item_text=TEXTS)
    ids, _ = model.recommend(probes()[:1], 2)
    assert NEW in ids[0]
    cf = ItemKNNRecommender(shrink=0.0).fit(training())
    assert NEW not in cf.recommend(probes()[:1], N_ITEMS)[0]


def test_popularity_ranks_by_total_interest():
    model = PopularityRecommender().fit(training())
    ids, _ = model.recommend(probes(), 2)
    assert (ids[:, 0] == POPULAR).all()
    assert (ids[2] != -1).all()  # users without history get the popular list
    sim, _ = model.similar_items(np.array([POPULAR]), 1)
    assert sim[0, 0] != POPULAR


def test_popularity_per_segment_and_its_shrinkage():
    X = training()
    groups = np.array([0] * 6 + [1] * 6)
    model = PopularityRecommender(shrinkage=0.0).fit(X, user_groups=groups)
    ids, _ = model.recommend(probes()[2:].tocsr()[[0, 0, 0]], 4, user_groups=np.array([0, 1, -1]))
    assert set(ids[0, :3]) == set(A)  # each group's own items before the popular one
    assert set(ids[1, :3]) == set(B)
    assert ids[2, 0] == POPULAR
    # a heavy shrinkage pulls a group's ranking to the global one
    shrunk = PopularityRecommender(shrinkage=1e6).fit(X, user_groups=groups)
    np.testing.assert_allclose(shrunk.scores_for(0), shrunk.scores_for(-1), atol=1e-5)


def test_popularity_drops_exclusions_and_fills_the_list():
    X = _matrix([[POPULAR, 0]])
    model = PopularityRecommender().fit(training())
    ids, _ = model.recommend(X, 5, exclude=_matrix([[1]]))
    assert not set(ids[0]) & {POPULAR, 0, 1}
    assert (ids[0] >= 0).all()


def test_history_reshows_the_strongest_interest():
    X = sp.csr_matrix(np.array([[0, 3.0, 0, 1.0, 0, 0, 0, 0]], dtype=np.float32))
    ids, _ = HistoryRecommender().fit(X).recommend(X, 3, filter_seen=False)
    assert ids[0].tolist() == [1, 3, -1]


def test_ease_refuses_a_catalog_over_its_limit():
    with pytest.raises(CatalogTooLarge):
        EASERecommender(max_items=4).fit(training())


def test_ease_weights_have_a_zero_diagonal():
    model = EASERecommender(l2=1.0).fit(training())
    assert np.allclose(np.diag(model.item_weights_), 0.0)


def test_ease_matches_the_double_precision_closed_form():
    X = training()
    G = (X.T @ X).toarray().astype(np.float64) + 1.0 * np.eye(N_ITEMS)
    P = np.linalg.inv(G)
    B = P / -np.diag(P)
    np.fill_diagonal(B, 0.0)
    W = EASERecommender(l2=1.0, weighting="none").fit(X).item_weights_
    assert W.flags.c_contiguous
    np.testing.assert_allclose(W, B, rtol=1e-4, atol=1e-5)


def test_a_hybrid_reuses_components_fitted_on_the_same_data():
    ease = EASERecommender(l2=1.0).fit(training())
    fitted = {repr(ease): ease}
    twin = EASERecommender(l2=1.0)
    model = HybridRecommender([(twin, 1.0), (ContentRecommender(), 0.3)])
    model.fit(training(), item_text=TEXTS, fitted=fitted)
    assert model.components[0][0] is ease and not twin.n_items_  # not fitted again
    assert repr(ContentRecommender()) in fitted  # what it did fit is offered back
    alone = HybridRecommender([(EASERecommender(l2=1.0), 1.0), (ContentRecommender(), 0.3)])
    alone.fit(training(), item_text=TEXTS)
    np.testing.assert_array_equal(
        model.recommend(probes(), n=3)[0], alone.recommend(probes(), n=3)[0]
    )


def test_itemknn_keeps_at_most_n_neighbours():
    model = ItemKNNRecommender(neighbours=2).fit(training())
    assert np.diff(model.item_weights_.indptr).max() <= 2
    assert model.item_weights_.diagonal().sum() == 0


def test_unknown_option_is_an_error():
    with pytest.raises(ValueError):
        ItemKNNRecommender(similarity="jaccard").fit(training())
    with pytest.raises(ValueError):
        ItemKNNRecommender(weighting="sqrt").fit(training())
    with pytest.raises(ValueError):
        ContentRecommender().fit(training())


# --------------------------------------------------------------------------- helpers


def test_topn_dense_orders_and_breaks_ties_by_index():
    s = np.array([[0.1, 0.5, 0.5, -np.inf], [-np.inf] * 4], dtype=np.float32)
    ids, scores = topn_dense(s, 3)
    assert ids.tolist() == [[1, 2, 0], [-1, -1, -1]]
    assert scores[0].tolist() == pytest.approx([0.5, 0.5, 0.1])


def test_topn_sparse_matches_dense():
    m = sp.random(30, 40, density=0.2, random_state=3, format="csr", dtype=np.float32)
    dense = m.toarray()
    dense[dense == 0] = -np.inf
    np.testing.assert_array_equal(topn_sparse(m, 5)[0], topn_dense(dense, 5)[0])


def _tied_scores(rows: int, cols: int, nnz: int, seed: int) -> sp.csr_matrix:
    """Scores with ties, zeros, negatives, -0.0 and infinities, indices unsorted."""
    rng = np.random.default_rng(seed)
    values = rng.choice(
        np.array([0.0, -0.0, 1.5, 1.5, -2.0, 3.25, np.inf, -np.inf, 7.0, 0.125], np.float32),
        nnz,
    )
    r = rng.integers(0, rows, nnz)
    c = rng.integers(0, cols, nnz)
    m = sp.coo_matrix((values, (r, c)), shape=(rows, cols)).tocsr()
    m.sum_duplicates()
    # shuffle each row's entries: the order a sparse product leaves them in
    for i in range(rows):
        a, b = m.indptr[i], m.indptr[i + 1]
        perm = rng.permutation(b - a) + a
        m.indices[a:b], m.data[a:b] = m.indices[perm], m.data[perm]
    m.has_sorted_indices = False
    return m


@pytest.mark.parametrize("wide_indices", [False, True])
@pytest.mark.parametrize(
    ("rows", "cols"),
    [(50, 40), (7, 2**30)],  # one key block; blocks of 4 rows
)
def test_topn_sparse_keeps_ties_in_item_order_however_the_rows_are_keyed(rows, cols, wide_indices):
    from ml.recommenders.base import _topn_sparse_stable

    m = _tied_scores(rows, cols, nnz=rows * 12, seed=rows)
    if wide_indices:  # scipy's int64 indices (a matrix of over 2^31 entries)
        m.indices = m.indices.astype(np.int64)
        m.indptr = m.indptr.astype(np.int64)
    n = 6
    ids, scores = topn_sparse(m, n)
    want_ids = np.full((rows, n), -1, np.int32)
    want_scores = np.full((rows, n), -np.inf, np.float32)
    _topn_sparse_stable(m.copy(), n, want_ids, want_scores)
    np.testing.assert_array_equal(ids, want_ids)
    # bit for bit, -0.0 included
    np.testing.assert_array_equal(scores.view(np.uint32), want_scores.view(np.uint32))
    # and by hand: each row's stored entries by score descending (0.0 before -0.0),
    # then item index
    for i in range(rows):
        a, b = m.indptr[i], m.indptr[i + 1]
        entries = sorted(
            zip(m.data[a:b].tolist(), m.indices[a:b].tolist(), strict=True),
            key=lambda e: (-e[0], math.copysign(1, e[0]) < 0, e[1]),
        )[:n]
        assert ids[i, : len(entries)].tolist() == [c for _, c in entries]


def test_topn_sparse_blocks_bounded_by_entries_give_the_same_lists(monkeypatch):
    """The keys are sorted in blocks of at most _KEY_BLOCK_ENTRIES entries (one row alone
    when it holds more): the lists must not depend on where the blocks fall."""
    from ml.recommenders import base

    m = _tied_scores(60, 40, nnz=60 * 12, seed=5)
    whole = topn_sparse(m, 6)
    monkeypatch.setattr(base, "_KEY_BLOCK_ENTRIES", 7)  # rows hold ~11: one row a block
    assert len(base._row_blocks(m.indptr, 1 << 20, 7)) == 60
    blocked = topn_sparse(m, 6)
    np.testing.assert_array_equal(blocked[0], whole[0])
    np.testing.assert_array_equal(blocked[1].view(np.uint32), whole[1].view(np.uint32))
    monkeypatch.setattr(base, "_KEY_BLOCK_ENTRIES", 40)  # a few rows a block
    assert 1 < len(base._row_blocks(m.indptr, 1 << 20, 40)) < 60
    np.testing.assert_array_equal(topn_sparse(m, 6)[0], whole[0])


def test_prune_rows_drops_the_diagonal():
    m = sp.csr_matrix(np.array([[9, 1, 2], [3, 9, 1], [1, 2, 9]], dtype=np.float32))
    assert prune_rows(m, 1, drop_diagonal=True).toarray().tolist() == [
        [0, 0, 2],
        [3, 0, 0],
        [0, 2, 0],
    ]


def test_compact_shifts_kept_entries_left():
    ids = np.array([[5, 6, 7, 8]])
    keep = np.array([[False, True, False, True]])
    out, scores = compact(ids, np.array([[4.0, 3.0, 2.0, 1.0]]), keep, 3)
    assert out.tolist() == [[6, 8, -1]]
    assert scores[0, :2].tolist() == [3.0, 1.0]


def test_sparse_item_weights_explain_as_their_dense_copy():
    # the sparse path (a slot at a time) names the same anchors as the triple scan
    rng = np.random.default_rng(7)
    W = sp.random(40, 40, density=0.2, random_state=3, dtype=np.float32, format="csr")
    W.data = np.round(W.data * 4) - 1  # ties, zeros and negative weights
    W.setdiag(1.0)  # an item never explains itself
    X = sp.random(25, 40, density=0.15, random_state=5, dtype=np.float32, format="csr")
    X.data = np.round(X.data * 3) + 1
    rec = rng.integers(-1, 40, size=(25, 6)).astype(np.int32)
    sparse_model, dense_model = HybridRecommender([]), HybridRecommender([])
    sparse_model.item_weights_, dense_model.item_weights_ = W, W.toarray()
    sparse_anchors, sparse_contrib = sparse_model.explain(X, rec)
    dense_anchors, dense_contrib = dense_model.explain(X, rec)
    assert (dense_anchors >= 0).sum() > 20
    np.testing.assert_array_equal(sparse_anchors, dense_anchors)
    np.testing.assert_array_equal(sparse_contrib, dense_contrib)


def test_rows_normalize_alike_sparse_unsorted_or_dense():
    from ml.recommenders.hybrid import normalize_rows

    A = sp.random(30, 20, density=0.3, random_state=1, dtype=np.float32, format="csr")
    A.data -= 0.5  # rows whose peak is a negative score
    product = (A @ A.T.tocsr() @ A).tocsr()  # a product: rows unsorted, no duplicates
    product.data[::7] = 0  # explicit zeros are not scores
    sparse = normalize_rows(product)
    assert sparse.nnz == np.count_nonzero(product.data)
    np.testing.assert_allclose(sparse.toarray(), normalize_rows(product.toarray()), rtol=1e-6)
    # the same products as scaling by a diagonal matrix, bit for bit
    peak = np.abs(product.toarray()).max(axis=1)
    peak[peak == 0] = 1.0
    scaled = (sp.diags(1.0 / peak) @ product).toarray()
    np.testing.assert_array_equal(sparse.toarray(), scaled)


def test_the_catalog_mask_leaves_the_scores_it_reads_as_they_were():
    from ml.recommenders.base import _top

    scores = sp.random(6, 30, density=0.5, random_state=2, dtype=np.float32, format="csr")
    before = scores.copy()
    allowed = np.arange(30) % 3 != 0
    ids, _ = _top(scores, 5, None, allowed)
    assert allowed[ids[ids >= 0]].all()
    assert (scores != before).nnz == 0 and scores.nnz == before.nnz


def test_a_weight_scales_the_normalized_rows_as_multiplying_them_did():
    from ml.recommenders.hybrid import normalize_rows

    A = sp.random(40, 25, density=0.3, random_state=2, dtype=np.float32, format="csr")
    product = (A @ A.T.tocsr() @ A).tocsr()
    for scores in (product, product.toarray()):
        weighted = normalize_rows(scores, 0.35)
        expected = normalize_rows(scores) * 0.35
        if sp.issparse(scores):
            weighted, expected = weighted.toarray(), expected.toarray()
        assert weighted.dtype == np.float32
        np.testing.assert_array_equal(weighted, expected)
