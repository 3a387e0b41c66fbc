"""Segment names and descriptions, from a segment's centre."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

# --------------------------------------------------------------------------- names


def _fmt(x: float, money: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    if money:
        return f"{x:,.0f}"
    return f"{x:,.1f}" if abs(x) < 100 else f"{x:,.0f}"


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


def describe_segment(
    centroid: pd.Series,
    z: pd.Series,
    roles: Mapping[str, str],
    size: int,
    total: int,
    currency: str = "",
) -> tuple[str, str]:
    """A short name and a one-paragraph description for one segment.

    ``centroid`` is the centre in original units, ``z`` the same centre in standard units
    (how far from the average customer, in standard deviations, after the log transform).
    The name comes from a small set of rules over the roles (buyers or not, recency,
    tenure, value, frequency, discount use); one trait (mobile, evening, desktop) is added
    where the segment stands out on it.
    """

    def val(role: str) -> float | None:
        c = roles.get(role)
        return float(centroid[c]) if c is not None and c in centroid.index else None

    def zv(role: str) -> float:
        c = roles.get(role)
        return float(z[c]) if c is not None and c in z.index else 0.0

    freq = val("frequency")
    buyers = freq is None or freq >= 0.5
    if not buyers:
        if zv("tenure") < -0.75:
            base = "New browsers"
        elif zv("views_per_session") > 0.4 or zv("sessions") > 0.4 or zv("cart_adds") > 0.4:
            base = "Window shoppers"
        elif "sessions" in roles:
            base = "Occasional visitors"
        else:  # no web data: all we know is that they have not bought (or returned it all)
            base = "Non-buying customers"
    elif zv("recency") > 0.75:
        base = "Lapsing buyers" if zv("monetary") < 0.75 else "High-value lapsing"
    elif zv("tenure") < -0.75:
        base = "New customers"
    elif freq is not None and freq < 1.6 and zv("frequency") < 0.25:
        base = "One-time buyers"
    elif zv("monetary") > 0.5 and zv("aov") > 0.25 and zv("discount_share") < 0.5:
        base = "High-value loyal"
    elif zv("discount_share") > 0.5:
        base = "Discount-driven buyers"
    elif zv("frequency") > 0.5:
        base = "Frequent buyers"
    else:
        base = "Regular buyers"

    traits = []
    if zv("mobile_share") > 0.75:
        traits.append("mobile")
    elif zv("mobile_share") < -0.75:
        traits.append("desktop")
    if zv("evening_share") > 0.75:
        traits.append("evening")
    name = base + (f" ({', '.join(traits)})" if traits else "")

    share = size / total if total else 0.0
    money = f" {currency}" if currency else ""
    parts = [f"{size:,} customers ({share:.0%})."]
    facts = []
    if freq is not None:
        facts.append(f"{_fmt(freq)} orders")
    if val("monetary") is not None:
        facts.append(f"{_fmt(val('monetary'), True)}{money} spent")
    if val("aov") is not None and buyers:
        facts.append(f"average order {_fmt(val('aov'), True)}{money}")
    if val("recency") is not None and buyers:
        facts.append(f"last order {_fmt(val('recency'))} days ago")
    if val("tenure") is not None:
        facts.append(f"customer for {_fmt(val('tenure'))} days")
    if val("sessions") is not None:
        facts.append(f"{_fmt(val('sessions'))} sessions")
    if val("views_per_session") is not None:
        facts.append(f"{_fmt(val('views_per_session'))} views per session")
    if val("discount_share") is not None and buyers:
        facts.append(f"{val('discount_share'):.0%} of orders discounted")
    if val("mobile_share") is not None:
        facts.append(f"{val('mobile_share'):.0%} mobile")
    if val("evening_share") is not None:
        facts.append(f"{val('evening_share'):.0%} in the evening")
    if facts:
        parts.append("Typical customer: " + ", ".join(facts) + ".")
    standout = z.abs().sort_values(ascending=False).head(3)
    notes = [
        f"{'higher' if z[c] > 0 else 'lower'} {feature_label(c, roles)} ({z[c]:+.1f} sd)"
        for c in standout.index
        if abs(z[c]) >= 0.5
    ]
    if notes:
        parts.append("Compared with the average customer: " + "; ".join(notes) + ".")
    return name, " ".join(parts)


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
