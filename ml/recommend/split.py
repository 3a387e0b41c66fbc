"""The per-customer temporal split the evaluation and the tuning rest on.

Every customer with enough history holds out their latest interactions: the last share
(or count) of the products they came to with a relevant interaction (bought, carted, or
viewed in a store that sends only views), ordered by when they first did. The training
part is every event before the customer's first held-out one; customers too short to
split (and the ones left out of a sample) keep their whole history in the training part,
where it still teaches the models about products. Every split customer counts, however
long ago they were active, so the choice does not rest on the last few days' customers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ml.recommend.data import last_instants, sparse_matrix


@dataclass
class Split:
    """``train``: the events models are fitted on; ``truth``: the held-out products per
    customer (``users x items``, 0/1); ``users``: the customers evaluated (sorted);
    ``reference``: per customer, the instant (float days) their training history is
    decayed to (their latest training event); ``split_users``:
    how many customers could be split before any sample; ``cutoff``: per customer, the
    instant of their first held-out product (inf: not evaluated)."""

    train: pd.DataFrame
    truth: sp.csr_matrix
    users: np.ndarray
    reference: np.ndarray
    split_users: int
    cutoff: np.ndarray | None = None


def customer_split(
    events: pd.DataFrame,
    shape: tuple[int, int],
    relevant_codes: tuple[int, ...],
    *,
    share: float,
    count: int | None,
    min_items: int,
    end: float | np.ndarray,
    max_users: int | None,
    seed: int = 0,
) -> Split:
    """Split ``events`` (``user, item, kind, t``) per customer.

    A customer with ``n >= min_items`` distinct relevant products holds out the last
    ``count`` of them (or ``max(1, round(share * n))``), keeping at least one for
    training; events after the first held-out product's instant are left out of training.
    ``max_users``: a fixed random sample of the split customers (``seed``) is evaluated.
    ``end``: the instant the others' histories are decayed to (one, or one per customer).
    """
    n_users, n_items = shape
    reference = np.broadcast_to(np.asarray(end, dtype=np.float64), (n_users,)).copy()
    rel = events[events["kind"].isin(relevant_codes)]
    first = (
        rel.groupby(["user", "item"], sort=False, observed=True)["t"].min().reset_index()
        if len(rel)
        else pd.DataFrame({"user": [], "item": [], "t": []})
    )
    # products first seen at the same instant (orders of one day, a session) in a fixed
    # pseudo-random order: by product id they would hold out the same products everywhere
    first["tie"] = _scramble(first["user"].to_numpy(), first["item"].to_numpy(), seed)
    first = first.sort_values(["user", "t", "tie"], kind="stable")
    users_col = first["user"].to_numpy(dtype=np.int64)
    n_per_user = np.bincount(users_col, minlength=n_users)
    if count:
        held = np.minimum(np.full(n_users, count), n_per_user - 1)
    else:
        held = np.maximum(1, np.floor(share * n_per_user + 0.5)).astype(np.int64)
        held = np.minimum(held, n_per_user - 1)
    splittable = (n_per_user >= max(min_items, 2)) & (held >= 1)
    users = np.flatnonzero(splittable)
    split_users = len(users)
    if max_users and len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    chosen = np.zeros(n_users, dtype=bool)
    chosen[users] = True
    # position of each (user, item) within its user's sorted list
    starts = np.concatenate([[0], np.cumsum(n_per_user)[:-1]])
    pos = np.arange(len(first)) - starts[users_col]
    first_held = pos == (n_per_user - held)[users_col]
    cut_rows = first_held & chosen[users_col]
    cutoff = np.full(n_users, np.inf)
    cutoff[users_col[cut_rows]] = first["t"].to_numpy()[cut_rows]
    in_truth = chosen[users_col] & (pos >= (n_per_user - held)[users_col])
    truth = sparse_matrix(
        users_col[in_truth], first["item"].to_numpy()[in_truth], np.ones(in_truth.sum()), shape
    )
    truth.data[:] = 1.0
    # training: every event before the cutoff, and at the cutoff instant the events of
    # the products ranked before the held-out ones (ties of one day or session)
    ev_users = events["user"].to_numpy()
    t = events["t"].to_numpy()
    held_keys = users_col[in_truth] * n_items + first["item"].to_numpy()[in_truth]
    ev_keys = ev_users.astype(np.int64) * n_items + events["item"].to_numpy()
    at_cut = t == cutoff[ev_users]
    keep = t < cutoff[ev_users]
    keep[at_cut] = ~np.isin(ev_keys[at_cut], held_keys)
    train = events[keep]
    reference = last_instants(train, n_users, reference)
    return Split(train, truth, users, reference, split_users, cutoff)


def _scramble(users: np.ndarray, items: np.ndarray, seed: int) -> np.ndarray:
    """A deterministic pseudo-random 64-bit key per (user, item) (splitmix64)."""
    with np.errstate(over="ignore"):
        z = (users.astype(np.uint64) << np.uint64(32)) ^ items.astype(np.uint64)
        z = z + np.uint64(0x9E3779B97F4A7C15) * np.uint64(seed + 1)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))
