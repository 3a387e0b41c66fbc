"""When people visit: the sessions of each person in the window, erasure requests, and who is
known (logged in, signed up, left an e-mail) in which session.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from tailor.synthetic.config import MS_PER_DAY, MS_PER_HOUR, GeneratorConfig
from tailor.synthetic.devices import _ID_EMAIL, _ID_LOGIN, _ID_SIGNUP, _MODE_EMAIL, _MODE_LOGIN
from tailor.synthetic.personas import _LAPSING, _NEW, _ONE_TIME, _PERSONA_PARAMS, _VISITOR

_MIN_SESSION_GAP_MS = 2 * MS_PER_HOUR  # session starts at least this far apart per person


_SESSION_SOFT_MAX_MS = 55 * 60_000  # after this, a session only sends quick follow-up events


_TILTS = (-2.0, 0.0, 2.0)


def _plan_visits(
    config: GeneratorConfig,
    rng: np.random.Generator,
    persona: np.ndarray,
    tz: np.ndarray,
    tz_offsets: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """When each person visits: (session actor, is anchor, start ms) plus per person the
    anchor session's start, the erasure request time (-1 = none) and whether the request
    names the customer id.

    Every person has one anchor session that always happens (a new explorer's sign-up, a
    one-time buyer's order, ...); the other visits follow the persona's rate.
    """
    days = config.days
    n_c = config.customers
    n_a = len(persona)
    P = _PERSONA_PARAMS
    start_ms = (config.start - dt.date(1970, 1, 1)).days * MS_PER_DAY
    end_ms = start_ms + days * MS_PER_DAY
    rate = np.array([P[p].visits_per_day for p in persona]) * np.exp(rng.normal(0, 0.3, size=n_a))
    act_lo = np.zeros(n_a, dtype=np.int64)
    act_hi = np.full(n_a, days, dtype=np.int64)
    lapse = persona == _LAPSING
    act_hi[lapse] = np.maximum(
        1, np.round(days * rng.uniform(0.25, 0.42, size=int(lapse.sum())))
    ).astype(np.int64)
    new = persona == _NEW
    signup_day = np.full(n_a, -1, dtype=np.int64)
    signup_day[new] = rng.integers(0, days, size=int(new.sum()))
    act_lo[new] = np.maximum(0, signup_day[new] - 2)
    n_extra = rng.poisson(rate * (act_hi - act_lo))
    one = persona == _ONE_TIME
    n_extra[one] = rng.poisson(0.8, size=int(one.sum()))
    vis = persona == _VISITOR
    n_extra[vis] = rng.poisson(1.3, size=int(vis.sum()))

    anchor_day = act_lo + (rng.random(n_a) * (act_hi - act_lo)).astype(np.int64)
    anchor_day[new] = signup_day[new]
    s_actor = np.concatenate([np.arange(n_a), np.repeat(np.arange(n_a), n_extra)])
    s_anchor = np.concatenate([np.ones(n_a, dtype=bool), np.zeros(int(n_extra.sum()), dtype=bool)])
    lo, hi = act_lo[s_actor], act_hi[s_actor]
    s_dayplan = np.where(
        s_anchor, anchor_day[s_actor], lo + (rng.random(len(s_actor)) * (hi - lo)).astype(np.int64)
    )
    evening_share = np.array([P[p].evening for p in range(7)])[persona[s_actor]]
    evening = rng.random(len(s_actor)) < evening_share
    hour = np.where(
        evening,
        np.clip(rng.normal(20.6, 1.25, size=len(s_actor)), 18.05, 23.9),
        np.clip(rng.normal(13.0, 2.4, size=len(s_actor)), 7.0, 17.9),
    )
    off = tz_offsets[tz[s_actor], s_dayplan + 4]
    start = start_ms + s_dayplan * MS_PER_DAY + (hour * MS_PER_HOUR).astype(np.int64) - off * 60_000
    latest = end_ms - 2 * MS_PER_HOUR
    # anchors that fall outside the window in UTC move by a day; other sessions are dropped
    start = np.where(s_anchor & (start > latest) & (days > 1), start - MS_PER_DAY, start)
    start = np.where(s_anchor & (start < start_ms), start + MS_PER_DAY, start)
    start = np.where(s_anchor, np.clip(start, start_ms, latest), start)
    keep = s_anchor | ((start >= start_ms) & (start <= latest))
    s_actor, s_anchor, start = s_actor[keep], s_anchor[keep], start[keep]

    # erasure requests: about 0.2% of customers, a day or more after their first visit
    anchor_start = np.zeros(n_a, dtype=np.int64)
    anchor_start[s_actor[s_anchor]] = start[s_anchor]
    erase_ms = np.full(n_a, -1, dtype=np.int64)
    erase_with_id = np.ones(n_a, dtype=bool)
    cust_anchor_day = (anchor_start[:n_c] - start_ms) // MS_PER_DAY
    eligible = np.flatnonzero(cust_anchor_day <= days - 2)
    if len(eligible):
        n_erase = int(rng.binomial(n_c, 0.002))
        if n_c >= 200:
            n_erase = max(1, n_erase)
        n_erase = min(n_erase, len(eligible))
        who = np.sort(rng.choice(eligible, size=n_erase, replace=False))
        for i in who:
            first = int(cust_anchor_day[i]) + 1
            d = int(rng.integers(first, days))
            erase_ms[i] = (
                start_ms + d * MS_PER_DAY + int(rng.integers(7 * MS_PER_HOUR, 20 * MS_PER_HOUR))
            )
        erase_with_id[who] = rng.random(len(who)) < 0.7
    after_erase = (erase_ms[s_actor] >= 0) & (start > erase_ms[s_actor]) & ~s_anchor
    s_actor, s_anchor, start = s_actor[~after_erase], s_anchor[~after_erase], start[~after_erase]

    # sessions of one person start at least two hours apart (across devices), so a
    # 30-minute inactivity rule recovers them; anchors always stay
    order = np.lexsort((start, s_actor))
    s_actor, s_anchor, start = s_actor[order], s_anchor[order], start[order]
    extra = ~s_anchor
    ea, es = s_actor[extra], start[extra]
    close = np.zeros(len(ea), dtype=bool)
    close[1:] = (ea[1:] == ea[:-1]) & (es[1:] - es[:-1] < _MIN_SESSION_GAP_MS)
    close |= np.abs(es - anchor_start[ea]) < _MIN_SESSION_GAP_MS
    drop = np.zeros(len(s_actor), dtype=bool)
    drop[np.flatnonzero(extra)[close]] = True
    s_actor, s_anchor, start = s_actor[~drop], s_anchor[~drop], start[~drop]

    return s_actor, s_anchor, start, anchor_start, erase_ms, erase_with_id


def _plan_identity(
    rng: np.random.Generator,
    persona: np.ndarray,
    dev_mode: np.ndarray,
    s_actor: np.ndarray,
    s_anchor: np.ndarray,
    start: np.ndarray,
    s_device: np.ndarray,
    s_purchase: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Who is known when: per device, the session that logs in (or signs up, or leaves an
    email) and the sessions after it that carry the userId. Returns the session arrays
    re-sorted by (device, start) plus ``s_ident``, ``s_known`` and the sign-up flag."""
    n_d = len(dev_mode)
    order = np.lexsort((start, s_device))
    s_actor, s_anchor, start, s_device, s_purchase = (
        s_actor[order],
        s_anchor[order],
        start[order],
        s_device[order],
        s_purchase[order],
    )
    n_s = len(s_actor)
    first_idx = np.full(n_d, -1, dtype=np.int64)
    new_dev = np.ones(n_s, dtype=bool)
    new_dev[1:] = s_device[1:] != s_device[:-1]
    first_idx[s_device[new_dev]] = np.flatnonzero(new_dev)
    sess_count = np.bincount(s_device, minlength=n_d)
    rank_in_dev = np.arange(n_s) - first_idx[s_device]
    first_buy = np.full(n_d, 1 << 40, dtype=np.int64)
    np.minimum.at(first_buy, s_device[s_purchase], rank_in_dev[s_purchase])
    draw = (rng.random(n_d) * np.maximum(sess_count, 1)).astype(np.int64)
    login_rank = np.minimum(draw, first_buy)
    anchor_rank = np.full(n_d, -1, dtype=np.int64)
    signup_sess = s_anchor & (persona[s_actor] == _NEW)
    anchor_rank[s_device[signup_sess]] = rank_in_dev[signup_sess]
    has_signup = anchor_rank >= 0
    login_rank[has_signup] = anchor_rank[has_signup]
    mode = dev_mode[s_device]
    lr = login_rank[s_device]
    s_ident = np.zeros(n_s, dtype=np.int64)
    s_ident[(mode == _MODE_LOGIN) & (rank_in_dev == lr)] = _ID_LOGIN
    s_ident[signup_sess] = _ID_SIGNUP
    s_ident[(mode == _MODE_EMAIL) & (rank_in_dev == lr)] = _ID_EMAIL
    s_known = (mode == _MODE_LOGIN) & (rank_in_dev > lr)

    return s_actor, s_anchor, start, s_device, s_purchase, s_ident, s_known, signup_sess
