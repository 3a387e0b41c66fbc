"""Segment names say only what the members show, in absolute terms, for every shop shape
(orders only, web events only, both), and a segment whose profile drifts is renamed."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ml.segmentation import PreviousRun, SegmentationConfig, Thresholds, segment

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 10, 30)
T = Thresholds()
CONFIG = SegmentationConfig(k_range=(4, 6), n_init=3, compare_alternatives=False)
BUYER_NAMES = (
    "Lapsing buyers",
    "High-value lapsing",
    "New customers",
    "One-time buyers",
    "Recent one-time buyers",
    "High-value loyal",
    "High-value customers",
    "Discount-driven buyers",
    "Frequent buyers",
    "Regular buyers",
)
WEB_WORDS = ("visitor", "Window shoppers", "mobile", "desktop", "evening", "session")
ORDER_WORDS = ("orders", "spent", "last order", "discounted", "order value")


def shop(shape: str, n: int = 160, seed: int = 0) -> pd.DataFrame:
    """marts.customer_features as a shop of ``shape`` fills it: everyone joined at least 180
    days ago (no one is new, though the one-time buyers joined last, far later than the
    others); three kinds of buyers (in shops with orders) and browsers (in shops with
    events)."""
    rng = np.random.default_rng(seed)
    kinds = {  # orders, order value, days since the last order, sessions, mobile, joined
        "loyal": (6, 150.0, 10, 14, 0.15, (600, 1500)),
        "one_time": (1, 40.0, 60, 2, 0.5, (180, 230)),
        "lapsed": (3, 60.0, 250, 1, 0.5, (600, 1500)),
        "browser": (0, 0.0, None, 9, 0.85, (300, 900)),
    }
    frames = []
    for kind, (orders, aov, since, sessions, mobile, joined) in kinds.items():
        if shape == "events-only":
            orders, since = 0, None
        if shape == "orders-only" and kind == "browser":
            continue
        tenure = rng.uniform(*joined, n)
        freq = rng.poisson(orders, n) if orders > 1 else np.full(n, orders)
        spend = freq * aov * rng.lognormal(0, 0.2, n)
        recency = np.where(freq > 0, (since or 0) * rng.uniform(0.7, 1.3, n) + 1, tenure)
        web = shape != "orders-only"
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": [f"{kind}-{i}" for i in range(n)],
                    "recency_days": recency,
                    "frequency": freq,
                    "monetary": spend,
                    "average_order_value": np.where(freq > 0, spend / np.maximum(freq, 1), np.nan),
                    "sessions": rng.poisson(sessions, n) + 1 if web else 0,
                    "page_views_per_session": rng.uniform(2, 8, n) if web else np.nan,
                    "discount_share": np.where(freq > 0, rng.uniform(0, 0.3, n), np.nan),
                    "mobile_share": np.clip(mobile + rng.normal(0, 0.05, n), 0, 1)
                    if web
                    else np.nan,
                    "evening_share": rng.uniform(0, 0.4, n) if web else np.nan,
                    "days_since_first_seen": tenure,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def claims_hold(name: str, members: pd.DataFrame, everyone: pd.DataFrame) -> list[str]:
    """What the name claims that its members do not show."""
    wrong = []
    bought = members["frequency"] > 0
    buyers = everyone.loc[everyone["frequency"] > 0]
    if name.startswith(BUYER_NAMES) and bought.mean() < 0.5:
        wrong.append("named for buyers, most never bought")
    joined = members["days_since_first_seen"].median()
    if name.startswith("New") and joined > T.new_days:
        wrong.append("new, but joined long ago")
    since = members.loc[bought, "recency_days"].median()
    if "lapsing" in name.lower() and since <= T.lapsing_days:
        wrong.append("lapsing, but bought lately")
    if name.startswith("Recent") and since > T.recent_days:
        wrong.append("recent, but bought long ago")
    if "one-time" in name.lower() and members["frequency"].median() >= 2:
        wrong.append("one-time, but bought repeatedly")
    if ("loyal" in name or "Frequent" in name) and members[
        "frequency"
    ].median() < T.frequent_orders:
        wrong.append("frequent, but few orders")
    spend = members["monetary"].median()
    if "High-value" in name and spend < T.high_value_ratio * buyers["monetary"].median():
        wrong.append("high-value, but spends like the others")
    if "(mobile" in name and members["mobile_share"].mean() < T.mobile_share:
        wrong.append("mobile, but not on mobile")
    return wrong


@pytest.mark.parametrize("shape", ["orders-only", "events-only", "both"])
def test_no_segment_name_claims_what_its_members_do_not_show(shape):
    features = shop(shape)
    res = segment(features, DAY, config=CONFIG, currency="EUR")
    members = features.assign(segment_name=res.assignments["segment_name"].to_numpy())
    has_orders = shape != "events-only"
    has_events = shape != "orders-only"
    for name, group in members.groupby("segment_name"):
        assert claims_hold(name, group, features) == [], (shape, name)
    for name, text in zip(res.profiles["segment_name"], res.profiles["description"], strict=True):
        if not has_orders:  # no order claims without orders
            assert not name.startswith(BUYER_NAMES), name
            assert not any(w in text for w in ORDER_WORDS), text
        if not has_events:  # no device or browsing claims without events
            assert not any(w in name for w in WEB_WORDS), name
            assert not any(w in text for w in WEB_WORDS), text
        assert "New" not in name, (shape, name)  # everyone joined 180+ days ago
    if has_orders:
        names = " ".join(res.profiles["segment_name"])
        assert "Lapsing" in names and "One-time buyers" in names


def test_a_segment_whose_profile_no_longer_fits_keeps_its_id_and_is_renamed():
    features = shop("both")
    first = segment(features, DAY, config=CONFIG)
    prof = first.profiles
    one_time = prof.loc[prof["segment_name"].str.startswith("One-time"), "segment_id"].iloc[0]
    names = dict(zip(prof["segment_id"], prof["segment_name"], strict=True))
    # the name the segment had when it was formed no longer says what it holds
    names[one_time] = "High-value loyal"
    import json

    previous = PreviousRun(
        run_id=first.run_id,
        k=len(prof),
        centroids=pd.DataFrame([json.loads(c) for c in prof["centroid"]], index=prof["segment_id"]),
        names=names,
        latest_ids=set(prof["segment_id"]),
        assignments=first.assignments.set_index("customer_id")["segment_id"].astype("Int64"),
        next_id=int(prof["segment_id"].max()) + 1,
    )
    day2 = DAY + dt.timedelta(days=1)
    second = segment(features, day2, config=CONFIG, previous=previous)
    after = second.profiles.set_index("segment_id")["segment_name"]
    assert set(after.index) == set(prof["segment_id"])  # every segment keeps its id
    assert after[one_time].startswith("One-time buyers")
    # the others still fit their names and keep them
    for sid, name in names.items():
        if sid != one_time:
            assert after[sid] == name
    renamed = second.naming.set_index("segment_id")
    assert list(renamed.index) == [one_time]
    assert renamed.loc[one_time, "previous_name"] == "High-value loyal"
    assert "no longer fits" in renamed.loc[one_time, "reason"]
