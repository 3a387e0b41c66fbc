"""The sizes a benchmark run knows, the generator parameters that give them, and the
``generate`` phase that writes their landing files."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

from benchmarks.scale.measure import children_peak_rss_mb, peak_rss_mb

# Events the generator writes per customer and day over a 30-day window (measured:
# 300 customers x 30 days -> 94,224 events, 10.5; anonymous visitors included).
EVENTS_PER_CUSTOMER_DAY = 10.5
SIZES = {"small": 100_000, "1m": 1_000_000, "10m": 10_000_000, "50m": 50_000_000}
START = dt.date(2026, 10, 1)
SEED = 42
INCREMENTAL_NIGHTS = (1, 10, 30)


def parse_events(text: str) -> int:
    """``"1M"`` -> 1_000_000, ``"250k"`` -> 250_000, ``"1e6"`` / ``"1000000"`` as given."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kKmMgG]?)\s*", text)
    if not m:
        raise ValueError(f"not an event count: {text!r}")
    mult = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}[m.group(2).lower()]
    return int(float(m.group(1)) * mult)


def size_label(events: int) -> str:
    """The folder / marker name of a size: a named size when it matches one, else e.g. 2.5m."""
    for name, n in SIZES.items():
        if n == events:
            return name
    if events >= 10**6:
        return f"{events / 10**6:g}m"
    return f"{events / 10**3:g}k"


def scaled_config(events: int, days: int) -> dict:
    """Generator parameters that give about ``events`` events over ``days`` days."""
    customers = max(20, round(events / (days * EVENTS_PER_CUSTOMER_DAY)))
    products = min(799_999, max(800, customers // 6))
    return {
        "customers": customers,
        "products": products,
        "days": days,
        "start": START.isoformat(),
        "seed": SEED,
    }


def phase_generate(root: Path, cfg: dict) -> dict:
    from tailor.synthetic.config import GeneratorConfig
    from tailor.synthetic.driver import generate

    t = time.perf_counter()
    summary = generate(
        GeneratorConfig(
            customers=cfg["customers"],
            products=cfg["products"],
            days=cfg["days"],
            start=dt.date.fromisoformat(cfg["start"]),
            seed=cfg["seed"],
        ),
        root / "landing",
        root / "ground_truth",
    )
    landing_mb = sum(f.stat().st_size for f in (root / "landing").rglob("*") if f.is_file()) / 2**20
    return {
        "seconds": time.perf_counter() - t,
        "events": summary.events,
        "rows": summary.rows,
        "landing_mb": round(landing_mb, 1),
        "peak_rss_mb": peak_rss_mb(),
        "children_peak_rss_mb": children_peak_rss_mb(),
        "config": cfg,
    }
