"""What a generated data set is made of: the options (``GeneratorConfig``, ``DirtConfig``), the
summary a run returns, the dirt classes and the sources a store of each shape sends.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from tailor.sources import SOURCES

MS_PER_DAY = 86_400_000


MS_PER_HOUR = 3_600_000


GZIP_LEVEL = 2


SITE = "https://shop.tailor.example"


CURRENCY = "EUR"


PERSONAS = (
    "loyal_high_spender",
    "bargain_hunter",
    "window_shopper",
    "one_time_buyer",
    "lapsing",
    "new_explorer",
)


DIRT_CLASSES = (
    "malformed_json",
    "missing_required",
    "invalid_timestamp",
    "bad_price",
    "unknown_product",
    "schema_drift",
    "late",
    "duplicate",
    "malformed_csv",
)


# dirt classes the loader quarantines; the others are loaded and handled downstream
QUARANTINED_DIRT = (
    "malformed_json",
    "missing_required",
    "invalid_timestamp",
    "bad_price",
    "malformed_csv",
)


GROUND_TRUTH_FILES = (
    "personas.csv",
    "identities.csv",
    "consents.csv",
    "dirt.csv",
    "manifest.json",
    "incidents.csv",  # only with incidents (tailor.incidents)
)


GENERATED_SOURCES = tuple(SOURCES)


# Strings the loader must reject as timestamps (checked against DuckDB's timestamptz cast).
INVALID_TIMESTAMPS = (
    "yesterday",
    "2024-13-45T99:00:00Z",
    "2026-02-30T10:00:00Z",
    "31/12/2026 10:00",
    "1696152896",
    "N/A",
    "0000-00-00 00:00:00",
    "not a timestamp",
)


DRIFT_FIELDS = (
    ("experimentId", ("exp_checkout_v2", "exp_reco_carousel", "exp_free_shipping")),
    ("appBuild", ("4.12.0 (4120)", "4.13.1 (4131)", "5.0.0-beta.2")),
    ("abVariant", ("control", "treatment_a", "treatment_b")),
    ("consentString", ("CPc1AAAAAAAAAA", "CPd9BgAAAAAAAA")),
    ("pageLoadMs", (412, 873, 1290, 2210)),
)


@dataclass(frozen=True)
class DirtConfig:
    """Rates of injected dirt, per record of the affected source (0 = none).

    Classes are exclusive: a dirty record carries exactly one kind of dirt.
    ``mixed_timezones`` is not dirt in the loader's sense (the instant is right) and is
    not listed in ``dirt.csv``.
    """

    malformed_json: float = 0.002  # truncated NDJSON line (events)
    missing_required: float = (
        0.002  # events: messageId, timestamp or both ids; customers: customer_id; orders: order_id
    )
    duplicate: float = (
        0.01  # redelivery: same messageId and payload, later receivedAt, same or next partition
    )
    late: float = 0.01  # event of day D in partition D+1..D+3
    schema_drift: float = 0.01  # unknown extra top-level fields
    mixed_timezones: float = 0.3  # timestamps written with the local UTC offset instead of "Z"
    bad_price: float = (
        0.002  # properties.price (events) 0 or negative, unit_price (order_items) negative
    )
    unknown_product: float = 0.002  # Product Viewed with a product_id not in the catalog
    invalid_timestamp: float = 0.0005  # unparseable timestamp string (events)
    malformed_csv: float = 0.0005  # CSV row with the wrong number of fields (customers, orders)

    def scaled(self, factor: float) -> DirtConfig:
        """All rates times ``factor`` (capped at 1); ``scaled(0)`` gives clean data."""
        if factor < 0:
            raise ValueError("factor must be >= 0")
        return replace(
            self, **{f.name: min(1.0, getattr(self, f.name) * factor) for f in fields(self)}
        )


@dataclass(frozen=True)
class GeneratorConfig:
    customers: int = 5000
    products: int = 800  # initial catalog; a few products are added during the window
    days: int = 30
    start: dt.date = dt.date(2026, 10, 1)
    seed: int = 42
    anonymous_visitors: float = 0.5  # never-identified visitors, as a share of customers
    dirt: DirtConfig = field(default_factory=DirtConfig)

    def validate(self) -> None:
        if self.customers < 1:
            raise ValueError("customers must be >= 1")
        if not 20 <= self.products < 800_000:
            raise ValueError("products must be between 20 and 799999")
        if self.days < 1:
            raise ValueError("days must be >= 1")
        if self.seed < 0:
            raise ValueError("seed must be >= 0")
        if self.anonymous_visitors < 0:
            raise ValueError("anonymous_visitors must be >= 0")
        for f in fields(self.dirt):
            if not 0 <= getattr(self.dirt, f.name) <= 1:
                raise ValueError(f"dirt.{f.name} must be between 0 and 1")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["start"] = self.start.isoformat()
        return d


@dataclass
class GenerationSummary:
    files: list[Path]  # landing files written
    rows: dict[str, int]  # records written per source, dirt included
    events: int
    seconds: float


# The sources a store of each shape does not send (`tailor generate --shape`): an
# events-only store has no backend orders feed (its orders are in Order Completed's
# products[]), an orders-only store no clickstream.
SHAPE_OMITS: dict[str, tuple[str, ...]] = {
    "both": (),
    "events-only": ("orders", "order_items"),
    "orders-only": ("events",),
}


def omit_for_shape(landing: Path, shape: str, start: dt.date, days: int) -> list[Path]:
    """Remove the generated partitions of ``days`` days from ``start`` that a store of
    ``shape`` does not send; returns the folders removed."""
    removed = []
    for source in SHAPE_OMITS[shape]:
        for i in range(days):
            folder = landing / source / f"dt={(start + dt.timedelta(days=i)).isoformat()}"
            if folder.is_dir():
                shutil.rmtree(folder)
                removed.append(folder)
    return removed
