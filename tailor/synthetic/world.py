"""The world planned up front (catalog, people, devices, sessions, phone orders), which the day
builders only read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from tailor.synthetic.catalog import _TAXONOMY, _plan_catalog
from tailor.synthetic.common import _rng
from tailor.synthetic.config import MS_PER_DAY, GeneratorConfig
from tailor.synthetic.devices import _device_contexts, _plan_devices
from tailor.synthetic.personas import _NEW, _PERSONA_PARAMS, _VISITOR
from tailor.synthetic.population import _COUNTRIES, _People, _plan_people
from tailor.synthetic.visits import HORIZON_DAYS, plan_actors, plan_sessions


@dataclass
class _World:
    """Everything planned for ``config.days`` days; the day workers only read it. What a day
    holds depends only on the days before it (``visits``, ``catalog``)."""

    config: GeneratorConfig
    day0: int  # days since the epoch of config.start
    window_start_ms: int
    window_end_ms: int
    # catalog
    prod_ids: list[str]
    prod_sku: list[str]
    prod_title: list[str]
    prod_desc: list[str]
    prod_path: list[str]
    prod_brand_name: list[str]
    prod_slug: list[str]
    prod_queries: list[tuple[str, str, str]]
    prod_cat: np.ndarray
    prod_leaf: np.ndarray
    prod_brand: np.ndarray
    prod_pop: np.ndarray
    prod_price: np.ndarray  # cents, products x days
    prod_created_day: np.ndarray  # -1 = before the window
    prod_created_ms: np.ndarray
    prod_listed: np.ndarray  # False = inactive from the start
    prod_active_until: np.ndarray  # first day the product is inactive (days = never)
    leaf_median: np.ndarray  # cents
    leaf_path: list[str]
    leaf_slug: list[str]
    cat_mass: np.ndarray
    catalog_changes: dict[int, list[tuple[int, int]]]  # day -> [(product, updated ms)]
    # actors (customers first, then anonymous visitors)
    n_customers: int
    persona: np.ndarray
    country: np.ndarray
    tz: np.ndarray
    fav_cat: np.ndarray  # actors x 2, -1 = none
    fav_brand: np.ndarray  # actors x 3
    customer_ids: list[str]
    email_clean: list[str]
    email_typed: list[str]  # as typed into a newsletter form
    first_names: list[str]
    tz_names: list[str]
    tz_offsets: np.ndarray  # timezones x (max(days, HORIZON_DAYS) + 8), minutes; column 0 = day -4
    # devices
    dev_actor: np.ndarray
    dev_type: np.ndarray
    dev_anon: list[str]
    dev_context: list[dict]
    dev_app: np.ndarray
    dev_mode: np.ndarray
    # sessions, sorted by start
    s_start: np.ndarray
    s_day: np.ndarray
    s_device: np.ndarray
    s_actor: np.ndarray
    s_ident: np.ndarray
    s_known: np.ndarray
    s_purchase: np.ndarray
    s_order: np.ndarray
    s_campaign: np.ndarray
    s_views: np.ndarray
    s_mixed: np.ndarray
    # phone orders
    p_actor: np.ndarray
    p_time: np.ndarray
    p_order: np.ndarray
    p_day: np.ndarray


def _tz_offset_table(tz_names: list[str], start: dt.date, days: int) -> np.ndarray:
    """UTC offset in minutes of each timezone at noon UTC of each day from start-4 to start+days+3."""
    out = np.zeros((len(tz_names), days + 8), dtype=np.int64)
    for i, name in enumerate(tz_names):
        zone = ZoneInfo(name)
        for j in range(days + 8):
            noon = dt.datetime.combine(start + dt.timedelta(days=j - 4), dt.time(12), tzinfo=dt.UTC)
            off = noon.astimezone(zone).utcoffset()
            out[i, j] = int(off.total_seconds() // 60) if off is not None else 0
    return out


def _plan_world(config: GeneratorConfig) -> tuple[_World, _People]:
    """Everything of ``config.days`` days; a day's plan depends only on the days before it."""
    days = config.days
    start_ms = (config.start - dt.date(1970, 1, 1)).days * MS_PER_DAY
    end_ms = start_ms + days * MS_PER_DAY
    cat = _plan_catalog(config, days)
    rng = _rng(config.seed, "people")

    n_c = config.customers
    n_v = int(round(config.anonymous_visitors * n_c))
    n_a = n_c + n_v
    shares = np.array([p.share for p in _PERSONA_PARAMS[:6]])
    persona = np.concatenate(
        [rng.choice(6, size=n_c, p=shares / shares.sum()), np.full(n_v, _VISITOR)]
    )

    # where people live
    cw = np.array([c[1] for c in _COUNTRIES])
    country = rng.choice(len(_COUNTRIES), size=n_a, p=cw / cw.sum())
    tz_names: list[str] = sorted({tz for c in _COUNTRIES for _, tz in c[5]})
    tz_index = {t: i for i, t in enumerate(tz_names)}
    city_u = rng.random(n_a)
    city = [int(city_u[i] * len(_COUNTRIES[country[i]][5])) for i in range(n_a)]
    tz = np.array(
        [tz_index[_COUNTRIES[country[i]][5][city[i]][1]] for i in range(n_a)], dtype=np.int64
    )
    tz_offsets = _tz_offset_table(tz_names, config.start, max(days, HORIZON_DAYS))

    # taste: 1-2 favourite categories, 3 favourite brands in them
    n_cats = len(_TAXONOMY)
    fav_cat = np.full((n_a, 2), -1, dtype=np.int64)
    fav_cat[:, 0] = rng.choice(n_cats, size=n_a, p=cat["cat_mass"])
    second = rng.choice(n_cats, size=n_a, p=cat["cat_mass"])
    two = (rng.random(n_a) < 0.6) & (second != fav_cat[:, 0])
    fav_cat[two, 1] = second[two]
    brand_cat = cat["brand_cat"]
    brands_of = [np.flatnonzero(brand_cat == c) for c in range(n_cats)]
    fav_brand = np.empty((n_a, 3), dtype=np.int64)
    bu = rng.random((n_a, 3))
    use_second = rng.random(n_a) < 0.4
    for i in range(n_a):
        c0 = fav_cat[i, 0]
        c1 = fav_cat[i, 1] if fav_cat[i, 1] >= 0 else c0
        for k in range(3):
            c = c1 if (k == 2 and use_second[i]) else c0
            b = brands_of[c]
            fav_brand[i, k] = b[int(bu[i, k] * len(b))]

    # ---- when each person visits, on which device, known or not
    actors = plan_actors(config, rng, persona, tz, tz_offsets)
    erase_ms, erase_with_id = actors.erase_ms, actors.erase_with_id
    dev_actor, dtype_arr, dev_mode, dev_app = _plan_devices(
        _rng(config.seed, "device_plan"), persona
    )
    sessions = plan_sessions(config, persona, tz, tz_offsets, actors, dev_actor, dev_mode)

    # new customers sign up in their anchor session; everybody else long before the window
    signup_ms = np.full(n_a, -1, dtype=np.int64)
    new = persona == _NEW
    signup_ms[new] = actors.anchor_ms[new] + 90_000
    old = ~new & (persona != _VISITOR)
    signup_ms[old] = start_ms - rng.integers(MS_PER_DAY, 3 * 365 * MS_PER_DAY, size=int(old.sum()))

    # ---- customer records
    ids_order = np.argsort(np.where(signup_ms[:n_c] >= 0, signup_ms[:n_c], 0), kind="stable")
    customer_ids = [""] * n_a
    for k, i in enumerate(ids_order):
        customer_ids[int(i)] = f"C{k + 1:07d}"
    people = _plan_people(config, rng, persona, country, city, signup_ms, n_c)
    people.erase_ms = erase_ms
    people.erase_with_id = erase_with_id
    for i in range(n_c):
        people.rows[i][0] = customer_ids[i]
    first_names = [r[2] for r in people.rows] + [""] * n_v

    # ---- device details
    anon, contexts = _device_contexts(config, dtype_arr, dev_app, dev_actor, country, tz, tz_names)

    email_typed = []
    tu = rng.random(n_c)
    for i in range(n_c):
        e = people.email_clean[i]
        if tu[i] < 0.15:
            local, _, dom = e.partition("@")
            e = ".".join(p.capitalize() for p in local.split(".")) + "@" + dom
        email_typed.append(e)

    # one keyword argument per field (a record with many fields, not repeated logic)
    world = _World(
        config=config,
        day0=(config.start - dt.date(1970, 1, 1)).days,
        window_start_ms=start_ms,
        window_end_ms=end_ms,
        **{k: v for k, v in cat.items() if k != "brand_cat"},  # the catalog's fields
        n_customers=n_c,
        persona=persona,
        country=country,
        tz=tz,
        fav_cat=fav_cat,
        fav_brand=fav_brand,
        customer_ids=customer_ids,
        email_clean=people.email_clean,
        email_typed=email_typed,
        first_names=first_names,
        tz_names=tz_names,
        tz_offsets=tz_offsets,
        dev_actor=dev_actor,
        dev_type=dtype_arr,
        dev_anon=anon,
        dev_context=contexts,
        dev_app=dev_app,
        dev_mode=dev_mode,
        **sessions,
    )
    return world, people
