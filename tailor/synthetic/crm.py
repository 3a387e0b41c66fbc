"""The CRM-side sources: customers.csv rows per day, consent records and erasure requests."""

from __future__ import annotations

import numpy as np

from tailor.sources import CONSENT_PURPOSES
from tailor.synthetic.common import _iso_seconds, _rng
from tailor.synthetic.config import MS_PER_DAY, MS_PER_HOUR
from tailor.synthetic.population import _People
from tailor.synthetic.world import _World


def _customer_rows(world: _World, people: _People) -> dict[int, list[list[str]]]:
    """customers.csv rows per day: everyone known before the window on day 1, new sign-ups on
    their day, and a few later changes (city or phone)."""
    cfg = world.config
    rng = _rng(cfg.seed, "crm")
    n_c = world.n_customers
    start_ms = world.window_start_ms
    signup = people.signup_ms[:n_c]
    sday = np.maximum((signup - start_ms) // MS_PER_DAY, 0)
    by_day: dict[int, list[tuple[int, int, list[str]]]] = {}
    for i in range(n_c):
        by_day.setdefault(int(sday[i]), []).append((0, int(max(signup[i], 0)), people.rows[i]))
    change = rng.random(n_c) < 0.03 * cfg.days / 30
    u = rng.random((n_c, 4))
    for i in np.flatnonzero(change).tolist():
        first = int(sday[i]) + 1
        last = cfg.days - 1
        if people.erase_ms[i] >= 0:
            last = min(last, int((people.erase_ms[i] - start_ms) // MS_PER_DAY) - 1)
        if first > last:
            continue
        d = first + int(u[i, 0] * (last - first + 1))
        t = start_ms + d * MS_PER_DAY + int((6 + 14 * u[i, 1]) * MS_PER_HOUR)
        row = list(people.rows[i])
        cities = people.city_choices[i]
        if u[i, 2] < 0.6 and len(cities) > 1:
            current = [c for c, _ in cities].index(row[7])
            cty, tzname = cities[(current + 1 + int(u[i, 3] * (len(cities) - 1))) % len(cities)]
            row[7], row[8] = cty, tzname
        else:
            row[9] = (
                f"{people.phone_prefix[i]} {150 + int(u[i, 3] * 29)} {10_000_000 + int(u[i, 1] * 89_999_999)}"
            )
        row[11] = _iso_seconds(t)
        by_day.setdefault(d, []).append((1, t, row))
    return {
        d: [r for _, _, r in sorted(rows, key=lambda x: (x[0], x[1], x[2][0]))]
        for d, rows in by_day.items()
    }


def _consent_records(
    world: _World, people: _People
) -> tuple[dict[int, list[dict]], list[list[str]]]:
    """Consent records per day and each customer's final state (ground truth)."""
    cfg = world.config
    rng = _rng(cfg.seed, "consents")
    n_c = world.n_customers
    start_ms = world.window_start_ms
    grant_rate = {
        "email_marketing": 0.80,
        "sms_marketing": 0.35,
        "personalization": 0.90,
        "analytics": 0.85,
    }
    u = rng.random((n_c, len(CONSENT_PURPOSES)))
    records: list[tuple[int, int, str, str, bool, str]] = []  # (ms, customer, purpose, source...)
    state: dict[tuple[int, str], tuple[bool, int, str]] = {}
    for i in range(n_c):
        t = int(people.signup_ms[i]) + 1_000
        for k, purpose in enumerate(CONSENT_PURPOSES):
            granted = bool(u[i, k] < grant_rate[purpose])
            records.append((t, i, purpose, "signup_form", granted, ""))
            state[(i, purpose)] = (granted, t, "signup_form")
    change = rng.random(n_c) < 0.05
    cu = rng.random((n_c, 3))
    purpose_w = np.cumsum([0.6, 0.1, 0.25, 0.05])
    for i in np.flatnonzero(change).tolist():
        first = max(1, int((people.signup_ms[i] - start_ms) // MS_PER_DAY) + 1)
        last = cfg.days - 1
        if people.erase_ms[i] >= 0:  # nobody changes their mind after asking to be forgotten
            last = min(last, int((people.erase_ms[i] - start_ms) // MS_PER_DAY) - 1)
        if first > last:
            continue
        d = first + int(cu[i, 0] * (last - first + 1))
        t = start_ms + d * MS_PER_DAY + int((7 + 15 * cu[i, 1]) * MS_PER_HOUR)
        purpose = CONSENT_PURPOSES[
            int(np.searchsorted(purpose_w, cu[i, 2] * purpose_w[-1], side="right"))
        ]
        granted = not state[(i, purpose)][0]
        records.append((t, i, purpose, "preference_center", granted, ""))
        state[(i, purpose)] = (granted, t, "preference_center")
    records.sort(key=lambda r: (r[0], world.customer_ids[r[1]], CONSENT_PURPOSES.index(r[2])))
    by_day: dict[int, list[dict]] = {}
    for n, (t, i, purpose, source, granted, _) in enumerate(records, start=1):
        d = max(0, (t - start_ms) // MS_PER_DAY)
        by_day.setdefault(int(d), []).append(
            {
                "consent_id": f"CS{n:08d}",
                "subject_id": world.customer_ids[i],
                "purpose": purpose,
                "granted": granted,
                "consented_at": _iso_seconds(t),
                "source": source,
            }
        )
    final = [
        [world.customer_ids[i], purpose, "true" if g else "false", _iso_seconds(t), src]
        for (i, purpose), (g, t, src) in state.items()
    ]
    final.sort()
    return by_day, final


def _erasure_rows(world: _World, people: _People) -> dict[int, list[list[str]]]:
    who = np.flatnonzero(people.erase_ms >= 0)
    who = who[np.argsort(people.erase_ms[who], kind="stable")]
    by_day: dict[int, list[list[str]]] = {}
    for n, i in enumerate(who.tolist(), start=1):
        t = int(people.erase_ms[i])
        cid = world.customer_ids[i] if people.erase_with_id[i] else ""
        email = people.email_crm[i] if people.erase_with_id[i] else people.email_clean[i]
        d = (t - world.window_start_ms) // MS_PER_DAY
        by_day.setdefault(int(d), []).append([f"E{n:06d}", cid, email, _iso_seconds(t)])
    return by_day
