"""Segment names and descriptions, from absolute thresholds and only from data that exists.

A segment is named from what its members show, measured in plain units (medians over the
members; recency and order value over the members who bought), against thresholds that
mean the same in every shop (``Thresholds``, from ``config/tailor.yml``'s ``segments``
section):

=====================  ===============================================================
name                   the members' profile
=====================  ===============================================================
Lapsing buyers         most bought; median days since the last order > lapsing_days
High-value lapsing     the same, median spend >= high_value_ratio x the median buyer's
New customers          most bought; median days since first seen <= new_days
One-time buyers        most bought; median orders < 2
Recent one-time b.     the same, median days since the last order <= recent_days
High-value loyal       median spend >= high_value_ratio x the median buyer's and
                       median orders >= frequent_orders
High-value customers   median spend >= high_value_ratio x the median buyer's
Discount-driven        at least half of their orders discounted (mean share >= 0.5)
Frequent buyers        median orders >= frequent_orders
Regular buyers         other buyers
New visitors           most never bought (shop with web events); first seen <= new_days
Window shoppers        never bought; median sessions >= 3
Occasional visitors    never bought; fewer sessions
Non-buying customers   never bought, and the shop has no web events
=====================  ===============================================================

Traits, only where the shop has web events: ``mobile`` (mean mobile share >= 0.7),
``desktop`` (<= 0.3), ``evening`` (mean evening share >= 0.5). A shop without orders gets
no order claim (no buyer names, no order facts); a shop without web events no claim about
sessions, devices or times of day. Names are recomputed every run; ``job`` keeps a
segment's name while it still fits and renames it (recorded with the date) when not.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Thresholds:
    """Absolute thresholds of the names (``segments`` section of ``config/tailor.yml``)."""

    new_days: int = 60
    recent_days: int = 45
    lapsing_days: int = 120
    frequent_orders: float = 4.0
    high_value_ratio: float = 2.0
    window_shopper_sessions: float = 3.0
    discount_share: float = 0.5
    mobile_share: float = 0.7
    desktop_share: float = 0.3
    evening_share: float = 0.5


@dataclass(frozen=True)
class ShopFacts:
    """What the shop's data can show at all."""

    has_orders: bool  # some customer bought (a frequency column with a value above 0)
    has_events: bool  # some customer has web sessions
    median_buyer_spend: float | None  # over the customers who bought


def shop_facts(features: pd.DataFrame, roles: Mapping[str, str]) -> ShopFacts:
    def positive(role: str) -> pd.Series | None:
        c = roles.get(role)
        return None if c is None else pd.to_numeric(features[c], errors="coerce").fillna(0) > 0

    bought = positive("frequency")
    has_orders = bool(bought is not None and bought.any())
    sessions = positive("sessions")
    spend = None
    if has_orders and "monetary" in roles:
        spend = float(features.loc[bought.to_numpy(), roles["monetary"]].median())
    return ShopFacts(
        has_orders=has_orders,
        has_events=bool(sessions is not None and sessions.any()),
        median_buyer_spend=spend,
    )


def segment_profile(
    members: pd.DataFrame, roles: Mapping[str, str], shop: ShopFacts
) -> dict[str, float]:
    """The members' profile in plain units: medians (shares: means); order facts only when
    the shop has orders, session facts only when it has web events."""

    def col(role: str) -> pd.Series | None:
        c = roles.get(role)
        return None if c is None else pd.to_numeric(members[c], errors="coerce")

    out: dict[str, float] = {}
    if shop.has_orders:
        freq = col("frequency").fillna(0)
        buyers = (freq > 0).to_numpy()
        out["buyer_share"] = float(buyers.mean()) if len(buyers) else 0.0
        out["orders"] = float(freq.median())
        for role, key in (("monetary", "spend"), ("aov", "order_value")):
            s = col(role)
            if s is not None:
                out[key] = float(s.fillna(0).median())
        if buyers.any():
            for role, key, how in (
                ("recency", "days_since_order", "median"),
                ("discount_share", "discount_share", "mean"),
            ):
                s = col(role)
                if s is not None and s[buyers].notna().any():
                    out[key] = float(getattr(s[buyers], how)())
    tenure = col("tenure")
    if tenure is not None and tenure.notna().any():
        out["tenure_days"] = float(tenure.median())
    if shop.has_events:
        for role, key, how in (
            ("sessions", "sessions", "median"),
            ("views_per_session", "views_per_session", "median"),
            ("mobile_share", "mobile_share", "mean"),
            ("evening_share", "evening_share", "mean"),
        ):
            s = col(role)
            if s is not None and s.notna().any():
                out[key] = float(getattr(s, how)())
    return out


ROLE_LABELS: dict[str, str] = {
    "frequency": "order count",
    "monetary": "spend",
    "aov": "order value",
    "recency": "days since the last order",
    "tenure": "tenure",
    "sessions": "sessions",
    "views_per_session": "page views per session",
    "cart_adds": "cart adds",
    "cart_rate": "view-to-cart rate",
    "cart_abandonment": "abandoned carts",
    "discount_share": "discount use",
    "mobile_share": "mobile use",
    "evening_share": "evening activity",
}


def feature_label(column: str, roles: Mapping[str, str]) -> str:
    """A reader's name for a feature column."""
    for role, col in roles.items():
        if col == column and role in ROLE_LABELS:
            return ROLE_LABELS[role]
    return column.replace("_", " ")


# --------------------------------------------------------------------------- names

# Why a base name was given, in the thresholds' terms (shown in the description).
REASONS: dict[str, str] = {
    "Lapsing buyers": "most bought, but their last order is over {lapsing_days} days old",
    "High-value lapsing": (
        "spend at least {high_value_ratio:g} x the median buyer's, but their last order is "
        "over {lapsing_days} days old"
    ),
    "New customers": "most bought, and were first seen at most {new_days} days ago",
    "One-time buyers": "most bought once",
    "Recent one-time buyers": "most bought once, at most {recent_days} days ago",
    "High-value loyal": (
        "spend at least {high_value_ratio:g} x the median buyer's over {frequent_orders:g} or "
        "more orders"
    ),
    "High-value customers": "spend at least {high_value_ratio:g} x the median buyer's",
    "Discount-driven buyers": "at least half of their orders were discounted",
    "Frequent buyers": "{frequent_orders:g} or more orders",
    "Regular buyers": "repeat buyers without a stronger trait",
    "New visitors": "never bought, first seen at most {new_days} days ago",
    "Window shoppers": "never bought, {window_shopper_sessions:g} or more sessions",
    "Occasional visitors": "never bought, few sessions",
    "Non-buying customers": "never bought (the shop has no web events to say more)",
}


def segment_name(profile: Mapping[str, float], shop: ShopFacts, t: Thresholds) -> str:
    """The name of a segment with this profile (see the module's table)."""
    g = profile.get
    tenure = g("tenure_days")
    new = tenure is not None and tenure <= t.new_days
    if shop.has_orders and g("buyer_share", 0.0) >= 0.5:
        ref = shop.median_buyer_spend
        high = bool(ref) and g("spend", 0.0) >= t.high_value_ratio * ref
        since = g("days_since_order")
        orders = g("orders", 0.0)
        if since is not None and since > t.lapsing_days:
            base = "High-value lapsing" if high else "Lapsing buyers"
        elif new:
            base = "New customers"
        elif orders < 2:
            recent = since is not None and since <= t.recent_days
            base = "Recent one-time buyers" if recent else "One-time buyers"
        elif high and orders >= t.frequent_orders:
            base = "High-value loyal"
        elif high:
            base = "High-value customers"
        elif g("discount_share", 0.0) >= t.discount_share:
            base = "Discount-driven buyers"
        elif orders >= t.frequent_orders:
            base = "Frequent buyers"
        else:
            base = "Regular buyers"
    elif shop.has_events:
        if new:
            base = "New visitors"
        elif g("sessions", 0.0) >= t.window_shopper_sessions:
            base = "Window shoppers"
        else:
            base = "Occasional visitors"
    else:
        base = "Non-buying customers"
    traits = []
    if shop.has_events:
        mobile = g("mobile_share")
        if mobile is not None and mobile >= t.mobile_share:
            traits.append("mobile")
        elif mobile is not None and mobile <= t.desktop_share:
            traits.append("desktop")
        if g("evening_share", 0.0) >= t.evening_share:
            traits.append("evening")
    return base + (f" ({', '.join(traits)})" if traits else "")


def _fmt(x: float | None, money: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    if money:
        return f"{x:,.0f}"
    return f"{x:,.1f}" if abs(x) < 100 else f"{x:,.0f}"


# The facts a description may state: (profile key, the data that must exist, its text).
FACTS: list[tuple[str, str, Callable[[float, str], str]]] = [
    ("buyer_share", "orders", lambda v, m: f"{v:.0%} have bought"),
    ("orders", "orders", lambda v, m: f"{_fmt(v)} orders"),
    ("spend", "orders", lambda v, m: f"{_fmt(v, True)}{m} spent"),
    ("days_since_order", "orders", lambda v, m: f"last order {_fmt(v)} days ago"),
    ("discount_share", "orders", lambda v, m: f"{v:.0%} of orders discounted"),
    ("tenure_days", "always", lambda v, m: f"first seen {_fmt(v)} days ago"),
    ("sessions", "events", lambda v, m: f"{_fmt(v)} sessions"),
    ("views_per_session", "events", lambda v, m: f"{_fmt(v)} views per session"),
    ("mobile_share", "events", lambda v, m: f"{v:.0%} of sessions on mobile"),
    ("evening_share", "events", lambda v, m: f"{v:.0%} in the evening"),
]


def describe_segment(
    profile: Mapping[str, float],
    shop: ShopFacts,
    thresholds: Thresholds,
    size: int,
    total: int,
    currency: str = "",
) -> tuple[str, str]:
    """A segment's name and a one-paragraph description: its size, the typical member (only
    facts the shop's data holds) and why it has its name."""
    name = segment_name(profile, shop, thresholds)
    g = profile.get
    share = size / total if total else 0.0
    money = f" {currency}" if currency else ""
    shown = {"orders": shop.has_orders, "always": True, "events": shop.has_events}
    facts = [
        text(value, money)
        for key, data, text in FACTS
        if shown[data] and (value := g(key)) is not None
    ]
    parts = [f"{size:,} customers ({share:.0%})."]
    if facts:
        parts.append("Typical member (medians): " + ", ".join(facts) + ".")
    base = name.split(" (")[0]
    reason = REASONS.get(base)
    if reason:
        parts.append(f"{base}: {reason.format(**vars(thresholds))}.")
    return name, " ".join(parts)


def describe_segments(
    features: pd.DataFrame,
    labels: np.ndarray,
    k: int,
    roles: Mapping[str, str],
    thresholds: Thresholds,
    currency: str = "",
) -> list[tuple[str, str]]:
    """Name and describe each of the ``k`` clusters from its members' rows of ``features``
    (every feature column, varying or not: a column of zeros still says "never bought")."""
    shop = shop_facts(features, roles)
    labels = np.asarray(labels)
    out = []
    for c in range(k):
        members = features.loc[labels == c]
        profile = segment_profile(members, roles, shop)
        out.append(
            describe_segment(profile, shop, thresholds, len(members), len(features), currency)
        )
    return out


def name_fits(previous: str, derived: str) -> bool:
    """Whether a segment's previous name still says what today's profile says: the same
    name once the marks that only tell same-named segments apart (", higher sessions",
    " #2", " (new)") are set aside."""
    return _claims(previous) == _claims(derived)


def _claims(name: str) -> str:
    name = name.split(", higher ")[0].split(", lower ")[0].split(" #")[0]
    while name.endswith(" (new)"):
        name = name[: -len(" (new)")]
    return name


def unique_names(
    names: Sequence[str], z: pd.DataFrame, roles: Mapping[str, str] | None = None
) -> list[str]:
    """Make names unique: a repeated name gets the feature its segment stands out on most
    (among the repeats); anything still repeated gets a number."""
    out = list(names)
    for name in set(names):
        idx = [i for i, n in enumerate(names) if n == name]
        if len(idx) < 2:
            continue
        sub = z.iloc[idx]
        dev = sub - sub.mean()
        for i, row in zip(idx, dev.itertuples(index=False), strict=True):
            s = pd.Series(row, index=z.columns)
            c = s.abs().idxmax()
            out[i] = f"{name}, {'higher' if s[c] > 0 else 'lower'} {feature_label(c, roles or {})}"
    seen: dict[str, int] = {}
    for i, n in enumerate(out):
        seen[n] = seen.get(n, 0) + 1
        if seen[n] > 1:
            out[i] = f"{n} #{seen[n]}"
    return out
