"""The fitted models kept between nights: ``private.fitted_models``.

A job that refits on a cadence (``ml.recommend.cadence``, ``ml.propensity.cadence``)
stores the model a refit night fitted, and the nights between serve it. The store lives
in the warehouse, so it commits or rolls back with the night's working copy, and in the
``private`` schema, which the analyst snapshot never copies. A night reads the newest fit
of a night *before* it (:func:`load`), so a rerun of a night decides as the first run
did; the :data:`KEEP` newest fits of a task are kept.

Two payload forms, neither of which runs anything it reads unless this warehouse wrote it:

* arrays (:func:`pack_arrays` / :func:`unpack_arrays`): numpy ``.npz`` read with
  ``allow_pickle=False`` (the recommenders' item-item weights);
* estimators (:func:`pack_estimator` / :func:`unpack_estimator`): a pickle signed with an
  HMAC under a key derived from the warehouse's privacy key (``tailor.erased``); a
  payload whose signature does not match is refused before it is unpickled.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import pickle
from dataclasses import dataclass
from typing import Any

import numpy as np

FITTED_MODELS_DDL = """
create table if not exists private.fitted_models (
    task varchar not null,      -- recommendation | churn:<N>d | purchase:<N>d
    fit_date date not null,     -- the night that fitted it
    model varchar not null,     -- the fitted model (ml.model_runs.model)
    spec json not null,         -- what rebuilds and judges it: parameters, features, settings, fit-time metrics
    payload blob not null       -- arrays (.npz, no pickle) or a signed pickle of the estimator
)
"""

# fits kept per task: the newest and the one before it (what a rerun of the newest reads)
KEEP = 2

# What a job that stores fits reads and writes besides its own tables, for a workspace
# (``tailor.warehouse_io``): the fits, the privacy key that signs them, and the erasures
# that make a fit stale. All live in the DuckDB file, whatever engine built the marts.
WORKSPACE_WRITES = ("private.fitted_models", "private.subject_key")
WORKSPACE_READS = ("ops.erasure_audit",)

_SIGNING_DOMAIN = b"tailor:fitted-model:v1"
_DIGEST = hashlib.sha256().digest_size


@dataclass
class Fit:
    task: str
    fit_date: dt.date
    model: str
    spec: dict[str, Any]
    payload: bytes


def _exists(con: Any) -> bool:
    (n,) = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'private' and table_name = 'fitted_models'"
    ).fetchone()
    return bool(n)


def save(con: Any, task: str, day: dt.date, model: str, spec: dict, payload: bytes) -> None:
    """Store ``day``'s fit of ``task`` (replacing it and any later one: a rerun of an
    earlier night makes its fits the newest) and keep the :data:`KEEP` newest."""
    con.execute("create schema if not exists private")
    con.execute(FITTED_MODELS_DDL)
    con.execute("begin transaction")
    try:
        con.execute(
            "delete from private.fitted_models where task = ? and fit_date >= ?", [task, day]
        )
        con.execute(
            "insert into private.fitted_models values (?, ?, ?, ?, ?)",
            [task, day, model, json.dumps(spec, default=str), payload],
        )
        con.execute(
            """
            delete from private.fitted_models
            where task = ? and fit_date not in (
                select fit_date from private.fitted_models where task = ?
                order by fit_date desc limit ?
            )
            """,
            [task, task, KEEP],
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def load(con: Any, task: str, day: dt.date) -> Fit | None:
    """The newest stored fit of ``task`` made on a night before ``day``."""
    if not _exists(con):
        return None
    row = con.execute(
        """
        select fit_date, model, spec, payload from private.fitted_models
        where task = ? and fit_date < ? order by fit_date desc limit 1
        """,
        [task, day],
    ).fetchone()
    if row is None:
        return None
    return Fit(task, row[0], row[1], json.loads(row[2]), bytes(row[3]))


def describe(fit: Fit, day: dt.date) -> str:
    return f"the fit of {fit.fit_date} ({(day - fit.fit_date).days} days old)"


def stale(
    con: Any,
    fit: Fit,
    day: dt.date,
    *,
    every: int,
    settings: dict[str, Any],
    customers: tuple[str, int, float],
) -> str | None:
    """Why ``fit`` must not be served on ``day``, by the rules every job shares (None
    when none holds): it is ``every`` days old or older; the settings that shape a fit
    (``settings``) changed; someone erased since the fit is to be fully gone tonight (see
    :func:`erasures_since`); the customers (``customers``: what is counted, how many
    tonight, the largest growth allowed, a share) grew beyond the limit."""
    when = describe(fit, day)
    if (day - fit.fit_date).days >= every:
        return f"cadence: {when}, refit_every_days {every}"
    if fit.spec.get("settings") != settings:
        return f"the settings changed since {when}"
    erased = erasures_since(con, fit.fit_date, day)
    if erased:
        return f"{erased} erasure(s) since {when} due tonight"
    what, now, limit = customers
    before = int(fit.spec.get("customers") or 0)
    growth = (now - before) / max(before, 1)
    if growth > limit:
        return f"{what} grew by {growth:.0%} since {when} (max_customer_change {limit:.0%})"
    return None


def erasures_since(con: Any, since: dt.date, day: dt.date) -> int:
    """Erasures applied after the night ``since`` up to ``day`` (their people's data is in
    a fit made on ``since``) whose physical part is done by ``day`` or due the next day.

    A stored fit holds erased people only as part of its weights: like their landing
    files and the free blocks of the warehouse file, that trace goes with the batched
    physical part of erasure (:mod:`tailor.privacy.physical`), by the same deadline
    (``erasure.physical_deadline_days``), not on the night of the request; their rows,
    lists and scores are gone that night. A fit is thus refitted on the night the pass
    runs (or earlier, by the cadence), and the person is fully gone on the day the audit
    records. An erasure recorded before the audit had the physical columns counts at once.
    """
    columns = {
        name
        for (name,) in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'ops' and table_name = 'erasure_audit'"
        ).fetchall()
    }
    if not columns:
        return 0
    due = "true"
    if {"physical_due_on", "physically_erased_on"} <= columns:
        # the physical pass runs one night ahead of the deadline (tailor.privacy.pending.due)
        due = (
            "coalesce(physically_erased_on <= $day, physical_due_on <= $day + interval 1 day, true)"
        )
    (n,) = con.execute(
        "select count(*) from ops.erasure_audit "
        f"where run_date > $since and run_date <= $day and {due}",
        {"since": since, "day": day},
    ).fetchone()
    return int(n)


# --------------------------------------------------------------------------- payloads


def pack_arrays(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def unpack_arrays(payload: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _signing_key(con: Any) -> bytes:
    from tailor.erased import subject_key

    return hmac.new(subject_key(con), _SIGNING_DOMAIN, hashlib.sha256).digest()


def pack_estimator(con: Any, estimator: Any) -> bytes:
    """``estimator`` pickled, preceded by its HMAC-SHA256 under the warehouse's key."""
    body = pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)
    return hmac.new(_signing_key(con), body, hashlib.sha256).digest() + body


def unpack_estimator(con: Any, payload: bytes) -> Any:
    """The estimator :func:`pack_estimator` stored; ValueError, before anything is
    unpickled, when the signature is not this warehouse's."""
    mac, body = payload[:_DIGEST], payload[_DIGEST:]
    expected = hmac.new(_signing_key(con), body, hashlib.sha256).digest()
    if len(payload) <= _DIGEST or not hmac.compare_digest(mac, expected):
        raise ValueError("the stored model's signature does not match this warehouse's key")
    return pickle.loads(body)  # noqa: S301 - signed by this warehouse, checked above
