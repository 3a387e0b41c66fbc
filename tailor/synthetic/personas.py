"""The six latent personas: how often each visits, what it views and buys, and its coupons and
campaigns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_LOYAL, _BARGAIN, _WINDOW, _ONE_TIME, _LAPSING, _NEW, _VISITOR = range(7)


@dataclass(frozen=True)
class _Persona:
    share: float
    visits_per_day: float  # sessions per active day
    views: float  # product views per session
    buy: float  # chance that a session ends in an order
    add: float  # chance that a viewed product goes into the cart
    extra_qty: float  # chance that a cart line has a quantity above 1
    price_class: int  # 0 cheap end of a category, 1 neutral, 2 expensive end
    coupon: float  # share of orders with a coupon
    device: tuple[float, float, float]  # desktop, mobile, tablet (primary device)
    evening: float  # share of sessions between 18:00 and midnight, local time
    affinity: float  # share of views in the favourite categories
    search: float  # share of product views reached through search
    campaign: float  # share of sessions arriving from a campaign
    campaigns: tuple[float, ...]  # weights over _CAMPAIGNS
    age: tuple[float, float]  # mean, sd


# a table, one persona a row in _Persona's field order (data: the rows share a shape)
_PERSONA_PARAMS: tuple[_Persona, ...] = (
    # loyal_high_spender: frequent, big expensive baskets, desktop, office hours
    _Persona(
        0.12,
        0.36,
        6.0,
        0.50,
        0.35,
        0.25,
        2,
        0.04,
        (0.90, 0.06, 0.04),
        0.08,
        0.85,
        0.25,
        0.12,
        (0, 0, 4, 1, 0, 0, 0, 0, 0),
        (48, 10),
    ),
    # bargain_hunter: cheap end of each category, nearly always a coupon, phone in the evening
    _Persona(
        0.20,
        0.30,
        8.0,
        0.40,
        0.25,
        0.40,
        0,
        0.90,
        (0.06, 0.90, 0.04),
        0.80,
        0.60,
        0.45,
        0.60,
        (0, 2, 2, 4, 1, 0, 3, 0, 0),
        (32, 8),
    ),
    # window_shopper: many long sessions, almost never buys
    _Persona(
        0.20,
        0.38,
        15.0,
        0.004,
        0.10,
        0.05,
        1,
        0.10,
        (0.08, 0.82, 0.10),
        0.55,
        0.70,
        0.30,
        0.30,
        (0, 1, 0, 0, 3, 4, 0, 0, 3),
        (27, 7),
    ),
    # one_time_buyer: one or two visits, one order
    _Persona(
        0.18,
        0.05,
        5.0,
        0.0,
        0.35,
        0.10,
        1,
        0.12,
        (0.82, 0.12, 0.06),
        0.30,
        0.70,
        0.40,
        0.50,
        (3, 4, 0, 0, 1, 0, 2, 0, 0),
        (40, 13),
    ),
    # lapsing: active in the first part of the window, then gone
    _Persona(
        0.15,
        0.45,
        6.0,
        0.30,
        0.30,
        0.15,
        1,
        0.12,
        (0.80, 0.14, 0.06),
        0.30,
        0.75,
        0.30,
        0.20,
        (1, 0, 3, 1, 0, 0, 0, 3, 0),
        (42, 11),
    ),
    # new_explorer: signs up in the window with a first (welcome-coupon) order, explores a lot
    _Persona(
        0.15,
        0.40,
        10.0,
        0.12,
        0.20,
        0.10,
        1,
        0.90,
        (0.06, 0.86, 0.08),
        0.20,
        0.50,
        0.50,
        0.55,
        (2, 1, 0, 0, 3, 3, 0, 0, 3),
        (26, 5),
    ),
    # never-identified visitors (not a customer persona)
    _Persona(
        0.0,
        0.0,
        4.0,
        0.0,
        0.08,
        0.05,
        1,
        0.0,
        (0.35, 0.55, 0.10),
        0.45,
        0.30,
        0.35,
        0.50,
        (2, 2, 1, 1, 2, 2, 1, 0, 1),
        (35, 12),
    ),
)


# (source, medium, name, referrer, landing: 0 home, 1 category, 2 product)
_CAMPAIGNS = (
    ("google", "cpc", "brand_search", "https://www.google.com/", 2),
    ("google", "cpc", "generic_shopping", "https://www.google.com/", 2),
    ("newsletter", "email", "newsletter_weekly", "", 1),
    ("newsletter", "email", "autumn_sale", "", 1),
    ("facebook", "social", "retargeting_q4", "https://www.facebook.com/", 2),
    ("instagram", "social", "influencer_autumn", "https://l.instagram.com/", 2),
    ("pricecompare", "referral", "price_feed", "https://compare.example/", 2),
    ("newsletter", "email", "winback", "", 0),
    ("tiktok", "social", "new_season", "https://www.tiktok.com/", 1),
)


_COUPONS = {
    _LOYAL: (("VIP5", 5),),
    _BARGAIN: (("SAVE10", 10), ("DEAL15", 15), ("FLASH20", 20)),
    _WINDOW: (("AUTUMN10", 10),),
    _ONE_TIME: (("AUTUMN10", 10), ("SAVE10", 10)),
    _LAPSING: (("COMEBACK15", 15), ("AUTUMN10", 10)),
    _NEW: (("WELCOME10", 10),),
}


_PERSONA_ARR = {
    name: np.array([getattr(p, name) for p in _PERSONA_PARAMS], dtype=np.float64)
    for name in ("affinity", "search", "add", "extra_qty", "coupon", "price_class")
}
