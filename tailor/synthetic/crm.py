"""The CRM-side sources: customers.csv rows per day, consent records and erasure requests.

Every customer's record, first consents and erasure request are planned once; the changes of
day ``d`` (a move, a new phone number, a change of mind in the preference center) come from
a stream of (seed, day) and apply to the state the days before left, so a day's rows do not
depend on how many days follow it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from tailor.incidents import Incident, consent_bug_records
from tailor.sources import CONSENT_PURPOSES
from tailor.synthetic.common import _iso_seconds, _rng
from tailor.synthetic.config import MS_PER_DAY, MS_PER_HOUR
from tailor.synthetic.population import _People
from tailor.synthetic.world import _World

_CRM_CHANGE_CHANCE = 0.001  # per customer and day: a move or a new phone number
_CONSENT_CHANGE_CHANCE = 0.05 / 30  # per customer and day: a change of mind
_GRANT_RATE = {
    "email_marketing": 0.80,
    "sms_marketing": 0.35,
    "personalization": 0.90,
    "analytics": 0.85,
}


def _days_of(world: _World, ms: np.ndarray) -> np.ndarray:
    """Day index in the window of each instant (-1 and below: before the window)."""
    return (ms - world.window_start_ms) // MS_PER_DAY


def _may_change(world: _World, people: _People, d: int) -> np.ndarray:
    """Customers who can change something on day ``d``: signed up before it, and not asking
    to be forgotten on or before it."""
    n_c = world.n_customers
    erase_day = _days_of(world, people.erase_ms[:n_c])
    return (_days_of(world, people.signup_ms[:n_c]) < d) & (
        (people.erase_ms[:n_c] < 0) | (erase_day > d)
    )


def _customer_rows(world: _World, people: _People) -> dict[int, list[list[str]]]:
    """customers.csv rows per day: everyone known before the window on day 1, new sign-ups on
    their day, and a few later changes (city or phone)."""
    cfg = world.config
    n_c = world.n_customers
    start_ms = world.window_start_ms
    signup = people.signup_ms[:n_c]
    sday = np.maximum(_days_of(world, signup), 0)
    by_day: dict[int, list[tuple[int, int, list[str]]]] = {}
    for i in np.flatnonzero(sday < cfg.days).tolist():
        by_day.setdefault(int(sday[i]), []).append((0, int(max(signup[i], 0)), people.rows[i]))
    current = [list(r) for r in people.rows]
    for d in range(1, cfg.days):
        rng = _rng(cfg.seed, "crm", d)
        u = rng.random((n_c, 5))
        change = (u[:, 4] < _CRM_CHANGE_CHANCE) & _may_change(world, people, d)
        for i in np.flatnonzero(change).tolist():
            t = start_ms + d * MS_PER_DAY + int((6 + 14 * u[i, 1]) * MS_PER_HOUR)
            row = current[i] = list(current[i])
            cities = people.city_choices[i]
            if u[i, 2] < 0.6 and len(cities) > 1:
                now = [c for c, _ in cities].index(row[7])
                cty, tzname = cities[(now + 1 + int(u[i, 3] * (len(cities) - 1))) % len(cities)]
                row[7], row[8] = cty, tzname
            else:
                row[9] = (
                    f"{people.phone_prefix[i]} {150 + int(u[i, 3] * 29)} {10_000_000 + int(u[i, 0] * 89_999_999)}"
                )
            row[11] = _iso_seconds(t)
            by_day.setdefault(d, []).append((1, t, row))
    return {
        d: [r for _, _, r in sorted(rows, key=lambda x: (x[0], x[1], x[2][0]))]
        for d, rows in by_day.items()
    }


def _consent_records(
    world: _World, people: _People, incidents: tuple[Incident, ...] = ()
) -> tuple[dict[int, list[dict]], list[list[str]], dict[Incident, int]]:
    """Consent records per day, each customer's final consent (ground truth) and how many
    withdrawals each ``consent_banner_bug`` incident added on its day.

    Records are numbered in time order within a day, continuing the day before; a consent
    banner bug's withdrawals come after the day's own records.
    """
    cfg = world.config
    n_c = world.n_customers
    start_ms = world.window_start_ms
    u = _rng(cfg.seed, "consents").random((n_c, len(CONSENT_PURPOSES)))
    sday = np.maximum(_days_of(world, people.signup_ms[:n_c]), 0)
    pending: dict[int, list[tuple[int, int, str, str, bool]]] = {}  # day -> (ms, customer, ...)
    for i in np.flatnonzero(sday < cfg.days).tolist():
        t = int(people.signup_ms[i]) + 1_000
        for k, purpose in enumerate(CONSENT_PURPOSES):
            granted = bool(u[i, k] < _GRANT_RATE[purpose])
            pending.setdefault(int(sday[i]), []).append((t, i, purpose, "signup_form", granted))
    bugs = {
        (inc.day - cfg.start).days: inc for inc in incidents if inc.kind == "consent_banner_bug"
    }
    erased = {world.customer_ids[i] for i in np.flatnonzero(people.erase_ms >= 0).tolist()}
    purpose_w = np.cumsum([0.6, 0.1, 0.25, 0.05])
    state: dict[tuple[int, str], tuple[bool, int, str]] = {}
    by_day: dict[int, list[dict]] = {}
    injected: dict[Incident, int] = {}
    n = 0
    for d in range(cfg.days):
        records = pending.pop(d, [])
        if d:
            cu = _rng(cfg.seed, "consents", d).random((n_c, 4))
            change = (cu[:, 3] < _CONSENT_CHANGE_CHANCE) & _may_change(world, people, d)
            for i in np.flatnonzero(change).tolist():
                t = start_ms + d * MS_PER_DAY + int((7 + 15 * cu[i, 1]) * MS_PER_HOUR)
                purpose = CONSENT_PURPOSES[
                    int(np.searchsorted(purpose_w, cu[i, 2] * purpose_w[-1], side="right"))
                ]
                records.append((t, i, purpose, "preference_center", not state[(i, purpose)][0]))
        if d in bugs:  # customers who granted personalization before the day
            subjects = sorted(
                world.customer_ids[i]
                for (i, purpose), (granted, _, _) in state.items()
                if purpose == "personalization" and granted
            )
            subjects = [s for s in subjects if s not in erased]
        records.sort(key=lambda r: (r[0], world.customer_ids[r[1]], CONSENT_PURPOSES.index(r[2])))
        day = by_day.setdefault(d, [])
        for t, i, purpose, source, granted in records:
            n += 1
            day.append(
                {
                    "consent_id": f"CS{n:08d}",
                    "subject_id": world.customer_ids[i],
                    "purpose": purpose,
                    "granted": granted,
                    "consented_at": _iso_seconds(t),
                    "source": source,
                }
            )
            state[(i, purpose)] = (granted, t, source)
        if d in bugs:
            bug = consent_bug_records(bugs[d], cfg.seed, subjects, n + 1)
            n += len(bug)
            injected[bugs[d]] = len(bug)
            day.extend(bug)
            day.sort(key=lambda r: r["consented_at"])
            index = {world.customer_ids[i]: i for i in range(n_c)}
            for rec in bug:
                i = index[rec["subject_id"]]
                t = _ms_of(rec["consented_at"])
                if state[(i, "personalization")][1] < t:
                    state[(i, "personalization")] = (False, t, rec["source"])
        if not day:
            del by_day[d]
    final = [
        [world.customer_ids[i], purpose, "true" if g else "false", _iso_seconds(t), src]
        for (i, purpose), (g, t, src) in state.items()
    ]
    final.sort()
    return by_day, final, injected


def _ms_of(iso: str) -> int:
    """Milliseconds since the epoch of an ISO timestamp ending in Z."""
    return int(dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _erasure_rows(world: _World, people: _People) -> dict[int, list[list[str]]]:
    """erasure_requests.csv rows per day of the window; ids number every request by time."""
    who = np.flatnonzero(people.erase_ms >= 0)
    who = who[np.argsort(people.erase_ms[who], kind="stable")]
    by_day: dict[int, list[list[str]]] = {}
    for n, i in enumerate(who.tolist(), start=1):
        t = int(people.erase_ms[i])
        cid = world.customer_ids[i] if people.erase_with_id[i] else ""
        email = people.email_crm[i] if people.erase_with_id[i] else people.email_clean[i]
        d = int(_days_of(world, np.int64(t)))
        if d < world.config.days:
            by_day.setdefault(d, []).append([f"E{n:06d}", cid, email, _iso_seconds(t)])
    return by_day
