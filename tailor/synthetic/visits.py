"""When people visit, day by day.

Each person's one-off plan is drawn once (``plan_actors``): how often they visit, the one
anchor session that always happens (a new explorer's sign-up, a one-time buyer's order,
...) and an erasure request, if any. Each day's sessions are then drawn from a stream of
(seed, day) (``plan_sessions``), with who is known in which session and the day's order
numbers. What crosses days (the last session start per person, which devices have logged
in or left an e-mail, the next order number) is carried from one day to the next, so the
plan of a day depends only on the days before it, never on how many follow.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from tailor.synthetic.common import _choice_by_group, _rng
from tailor.synthetic.config import MS_PER_DAY, MS_PER_HOUR, GeneratorConfig
from tailor.synthetic.devices import _ID_EMAIL, _ID_LOGIN, _ID_SIGNUP, _MODE_EMAIL, _MODE_LOGIN
from tailor.synthetic.personas import (
    _BARGAIN,
    _LAPSING,
    _LOYAL,
    _NEW,
    _ONE_TIME,
    _PERSONA_PARAMS,
    _VISITOR,
)

# One-off events (anchor sessions: a new explorer's sign-up, a one-time buyer's order, an
# anonymous visitor's first visit; lapsing customers' last visits; erasure requests) fall in
# a data set's first 30 days (the default window), so its traffic is steady over them.
# Regular customers and anonymous visitors keep visiting for as long as it is extended.
HORIZON_DAYS = 30
_MIN_SESSION_GAP_MS = 2 * MS_PER_HOUR  # session starts at least this far apart per person
_SESSION_SOFT_MAX_MS = 55 * 60_000  # after this, a session only sends quick follow-up events
_TILTS = (-2.0, 0.0, 2.0)
_LOGIN_CHANCE = 0.7  # a logged-out session on a device that logs in does so with this chance
_EMAIL_CHANCE = 0.6  # a session on a newsletter device leaves the e-mail with this chance
_PHONE_ORDER_CHANCE = 0.004  # per loyal customer and day
_NEVER = 1 << 30


@dataclass
class _Actors:
    """Per person (customers first, then anonymous visitors), drawn once."""

    rate: np.ndarray  # extra sessions per active day
    views_mean: np.ndarray  # product views per session
    act_lo: np.ndarray  # first day with visits
    act_hi: np.ndarray  # first day without visits (_NEVER = keeps visiting)
    anchor_day: np.ndarray
    anchor_ms: np.ndarray  # start of the session that always happens
    erase_ms: np.ndarray  # erasure request time, -1 = none
    erase_with_id: np.ndarray  # the request names the customer id (else only the e-mail)


def _session_hours(rng: np.random.Generator, persona: np.ndarray) -> np.ndarray:
    """Local start hour of sessions of people of ``persona``: evening or daytime."""
    evening_share = np.array([p.evening for p in _PERSONA_PARAMS])[persona]
    evening = rng.random(len(persona)) < evening_share
    return np.where(
        evening,
        np.clip(rng.normal(20.6, 1.25, size=len(persona)), 18.05, 23.9),
        np.clip(rng.normal(13.0, 2.4, size=len(persona)), 7.0, 17.9),
    )


def _utc_start(
    start_ms: int, day: np.ndarray | int, hour: np.ndarray, offset_min: np.ndarray
) -> np.ndarray:
    """The instant in UTC day ``day`` at local ``hour`` (the local date may be the day before
    or after), so that a day's sessions all start in its partition."""
    local = (hour * MS_PER_HOUR).astype(np.int64) - offset_min * 60_000
    return start_ms + np.asarray(day, dtype=np.int64) * MS_PER_DAY + local % MS_PER_DAY


def plan_actors(
    config: GeneratorConfig,
    rng: np.random.Generator,
    persona: np.ndarray,
    tz: np.ndarray,
    tz_offsets: np.ndarray,
) -> _Actors:
    """Visit rates, anchors and erasure requests per person (none depends on the window)."""
    n_c = config.customers
    n_a = len(persona)
    P = _PERSONA_PARAMS
    start_ms = (config.start - dt.date(1970, 1, 1)).days * MS_PER_DAY
    rate = np.array([P[p].visits_per_day for p in persona]) * np.exp(rng.normal(0, 0.3, size=n_a))
    views_mean = np.array([P[p].views for p in range(7)])[persona] * np.exp(
        rng.normal(0, 0.2, size=n_a)
    )
    one, vis = persona == _ONE_TIME, persona == _VISITOR
    rate[one] = 0.8 / HORIZON_DAYS
    rate[vis] = 1.3 / HORIZON_DAYS
    act_lo = np.zeros(n_a, dtype=np.int64)
    act_hi = np.full(n_a, _NEVER, dtype=np.int64)
    act_hi[one] = HORIZON_DAYS
    lapse = persona == _LAPSING
    act_hi[lapse] = np.maximum(
        1, np.round(HORIZON_DAYS * rng.uniform(0.25, 0.42, size=int(lapse.sum())))
    ).astype(np.int64)
    anchor_day = (rng.random(n_a) * np.minimum(act_hi, HORIZON_DAYS)).astype(np.int64)
    new = persona == _NEW
    act_lo[new] = np.maximum(0, anchor_day[new] - 2)
    anchor_ms = _utc_start(
        start_ms, anchor_day, _session_hours(rng, persona), tz_offsets[tz, anchor_day + 4]
    )

    # erasure requests: about 0.2% of the customers known before the window, the first on
    # day 2 or 3 (from 200 customers on there is always one)
    erase_ms = np.full(n_a, -1, dtype=np.int64)
    erase_with_id = np.ones(n_a, dtype=bool)
    known = np.flatnonzero(persona[:n_c] != _NEW)
    n_erase = int(rng.binomial(n_c, 0.002))
    if n_c >= 200:
        n_erase = max(1, n_erase)
    n_erase = min(n_erase, len(known))
    who = rng.choice(known, size=n_erase, replace=False)
    day = rng.integers(1, HORIZON_DAYS, size=n_erase)
    day[:1] = 1 + rng.integers(0, 2)
    erase_ms[who] = (
        start_ms + day * MS_PER_DAY + rng.integers(7 * MS_PER_HOUR, 20 * MS_PER_HOUR, size=n_erase)
    )
    erase_with_id[who] = rng.random(n_erase) < 0.7
    return _Actors(rate, views_mean, act_lo, act_hi, anchor_day, anchor_ms, erase_ms, erase_with_id)


def _first_per_device(flag: np.ndarray, device: np.ndarray, n_devices: int) -> np.ndarray:
    """Per session: is it the first flagged session of its device (sessions sorted by time)."""
    n = len(flag)
    first = np.full(n_devices, n, dtype=np.int64)
    np.minimum.at(first, device[flag], np.flatnonzero(flag))
    return flag & (np.arange(n) == first[device])


def plan_sessions(
    config: GeneratorConfig,
    persona: np.ndarray,
    tz: np.ndarray,
    tz_offsets: np.ndarray,
    actors: _Actors,
    dev_actor: np.ndarray,
    dev_mode: np.ndarray,
) -> dict[str, np.ndarray]:
    """Sessions (``s_*``, sorted by start) and phone orders (``p_*``) of ``config.days`` days.

    Day ``d`` is drawn from the stream (seed, "visits", d) given the state the days before
    left: people visit on active days at their rate, sessions of one person start at least
    two hours apart (across devices and days) so a 30-minute inactivity rule recovers them,
    nobody visits after asking to be forgotten, devices log in (always to check out) and
    stay logged in, and orders are numbered by time, continuing the day before.
    """
    n_a, n_d = len(persona), len(dev_mode)
    P = _PERSONA_PARAMS
    start_ms = (config.start - dt.date(1970, 1, 1)).days * MS_PER_DAY
    n_dev = np.bincount(dev_actor, minlength=n_a)
    dev_first = np.searchsorted(dev_actor, np.arange(n_a))
    buy = np.array([P[p].buy for p in range(7)])
    camp_share = np.array([P[p].campaign for p in range(7)])
    camp_w = np.array([P[p].campaigns for p in range(7)], dtype=np.float64)
    loyal = np.flatnonzero(persona == _LOYAL)
    order_by_day = np.argsort(actors.anchor_day, kind="stable")  # anchors by day
    day_bounds = np.searchsorted(actors.anchor_day[order_by_day], np.arange(config.days + 1))

    logged_in = np.zeros(n_d, dtype=bool)
    email_left = np.zeros(n_d, dtype=bool)
    last_start = np.full(n_a, -(1 << 62), dtype=np.int64)
    next_order = 1
    parts: list[dict[str, np.ndarray]] = []
    for d in range(config.days):
        r = _rng(config.seed, "visits", d)
        active = (actors.act_lo <= d) & (d < actors.act_hi)
        n_extra = r.poisson(actors.rate * active)
        extra = np.repeat(np.arange(n_a), n_extra)
        extra_start = _utc_start(
            start_ms, d, _session_hours(r, persona[extra]), tz_offsets[tz[extra], d + 4]
        )
        anchors = np.sort(order_by_day[day_bounds[d] : day_bounds[d + 1]])
        actor = np.concatenate([anchors, extra])
        start = np.concatenate([actors.anchor_ms[anchors], extra_start])
        anchor = np.arange(len(actor)) < len(anchors)
        erase = actors.erase_ms[actor]
        keep = (erase < 0) | (start < erase)
        actor, start, anchor = actor[keep], start[keep], anchor[keep]
        order = np.lexsort((start, actor))
        actor, start, anchor = actor[order], start[order], anchor[order]
        same = np.zeros(len(actor), dtype=bool)
        same[1:] = actor[1:] == actor[:-1]
        before = np.where(same, np.roll(start, 1), last_start[actor])
        close = (start - before < _MIN_SESSION_GAP_MS) | (
            np.abs(start - actors.anchor_ms[actor]) < _MIN_SESSION_GAP_MS
        )
        keep = anchor | ~close
        actor, start, anchor = actor[keep], start[keep], anchor[keep]
        np.maximum.at(last_start, actor, start)
        n = len(actor)
        p = persona[actor]

        # devices: anchors and a new explorer's visits before signing up use the first
        pre_signup = (p == _NEW) & (start < actors.anchor_ms[actor])
        on_second = (n_dev[actor] == 2) & ~anchor & (r.random(n) < 0.3) & ~pre_signup
        device = dev_first[actor] + on_second.astype(np.int64)
        purchase = r.random(n) < buy[p]
        purchase |= anchor & np.isin(p, [_LOYAL, _BARGAIN, _LAPSING, _ONE_TIME, _NEW])
        purchase &= ~((p == _ONE_TIME) & ~anchor) & ~pre_signup
        purchase &= dev_mode[device] == _MODE_LOGIN

        # identity, per device in time order: the first session that logs in (always to
        # check out or sign up), the sessions after it carry the userId
        order = np.lexsort((start, device))
        actor, start, anchor, device, purchase, pre_signup, p = (
            x[order] for x in (actor, start, anchor, device, purchase, pre_signup, p)
        )
        mode = dev_mode[device]
        signup = anchor & (p == _NEW)
        wants = purchase | signup | ((r.random(n) < _LOGIN_CHANCE) & ~pre_signup)
        login = _first_per_device((mode == _MODE_LOGIN) & ~logged_in[device] & wants, device, n_d)
        first_login = np.full(n_d, n, dtype=np.int64)
        first_login[device[login]] = np.flatnonzero(login)
        known = (mode == _MODE_LOGIN) & (logged_in[device] | (np.arange(n) > first_login[device]))
        email = _first_per_device(
            (mode == _MODE_EMAIL) & ~email_left[device] & (r.random(n) < _EMAIL_CHANCE),
            device,
            n_d,
        )
        ident = np.zeros(n, dtype=np.int64)
        ident[login] = _ID_LOGIN
        ident[signup] = _ID_SIGNUP
        ident[email] = _ID_EMAIL
        logged_in[device[login]] = True
        email_left[device[email]] = True

        views = np.minimum(1 + r.poisson(np.maximum(actors.views_mean[actor] - 1, 0.2)), 40)
        campaign = np.where(r.random(n) < camp_share[p], _choice_by_group(r, p, camp_w), -1).astype(
            np.int64
        )
        mixed = r.random(n) < config.dirt.mixed_timezones

        # phone orders: a few loyal customers order by phone (no web events)
        phone = loyal[r.random(len(loyal)) < _PHONE_ORDER_CHANCE]
        p_time = _utc_start(
            start_ms, d, r.uniform(9, 17.5, size=len(phone)), tz_offsets[tz[phone], d + 4]
        )
        ok = (actors.erase_ms[phone] < 0) | (p_time < actors.erase_ms[phone])
        phone, p_time = phone[ok], p_time[ok]

        # the day's sessions by start; order numbers by time across web and phone
        order = np.argsort(start, kind="stable")
        actor, start, device, purchase, ident, known = (
            x[order] for x in (actor, start, device, purchase, ident, known)
        )
        views, campaign, mixed = views[order], campaign[order], mixed[order]
        times = np.concatenate([start[purchase], p_time])
        rank = np.empty(len(times), dtype=np.int64)
        rank[np.argsort(times, kind="stable")] = np.arange(next_order, next_order + len(times))
        next_order += len(times)
        s_order = np.zeros(n, dtype=np.int64)
        s_order[purchase] = rank[: int(purchase.sum())]
        parts.append(
            dict(
                s_start=start,
                s_day=np.full(n, d, dtype=np.int64),
                s_device=device,
                s_actor=actor,
                s_ident=ident,
                s_known=known,
                s_purchase=purchase,
                s_order=s_order,
                s_campaign=campaign,
                s_views=views,
                s_mixed=mixed,
                p_actor=phone,
                p_time=p_time,
                p_order=rank[int(purchase.sum()) :],
                p_day=np.full(len(phone), d, dtype=np.int64),
            )
        )
    return {key: np.concatenate([x[key] for x in parts]) for key in parts[0]}
