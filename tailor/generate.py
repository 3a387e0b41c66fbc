"""Deterministic synthetic source data for the landing zone.

``generate`` writes every source of ``tailor.sources`` for a window of days, in the layout
the loader reads::

    <landing>/events/dt=D/events.ndjson.gz              Segment-spec NDJSON, gzip (mtime 0)
    <landing>/customers/dt=D/customers.csv              CRM export: new and changed customers
    <landing>/orders/dt=D/orders.csv                    shop backend orders
    <landing>/order_items/dt=D/order_items.csv          their lines
    <landing>/products/dt=D/products.parquet            catalog: full on day 1, then changes
    <landing>/consents/dt=D/consents.ndjson.gz          consent grants and withdrawals
    <landing>/erasure_requests/dt=D/erasure_requests.csv

and the answers a test or an evaluation needs next to it, never in the landing zone::

    <ground_truth>/personas.csv     customer_id, persona, signup_date
    <ground_truth>/identities.csv   anonymous_id, customer_id, device_type, identified_by
    <ground_truth>/consents.csv     each customer's final consent per purpose
    <ground_truth>/dirt.csv         one row per injected dirty record
    <ground_truth>/manifest.json    the config and the record counts per source and day
    <ground_truth>/incidents.csv    the incidents injected, if any (``tailor.incidents``)

Behaviour comes from six latent personas (see ``PERSONAS``) that differ in visit
frequency, page views per session, orders, basket size, price level, coupons, recency,
device and time of day, so that segmentation has something real to find. Product
popularity is long-tailed and every shopper has favourite categories and brands, so
recommendations have something to learn.

Everything is drawn from numpy generators seeded from ``GeneratorConfig.seed`` (one
stream per purpose and per day), so the same config gives byte-identical files whatever
the number of worker processes. Days are built in parallel: a worker renders the events
and orders of the sessions that start on its day; records that belong to a later
partition (sessions running past midnight UTC, late and redelivered events, order
updates) are handed back and written at the head of that day's file. An events file may
therefore hold two gzip members, which gzip readers (DuckDB, Python, zcat) read as one
stream.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import multiprocessing as mp
import os
import shutil
import time
import unicodedata
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

import numpy as np
import orjson

from tailor.incidents import (
    EVENT_INCIDENTS,
    INCIDENTS_HEADER,
    Incident,
    check_window,
    consent_bug_records,
    ground_truth_rows,
    rewrite_events_file,
)
from tailor.sources import CONSENT_PURPOSES, SOURCES

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
_LOYAL, _BARGAIN, _WINDOW, _ONE_TIME, _LAPSING, _NEW, _VISITOR = range(7)

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


# --------------------------------------------------------------------------- configuration


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
    bad_price: float = 0.002  # properties.price (events) or unit_price (order_items) 0 or negative
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


# --------------------------------------------------------------------------- personas


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

# --------------------------------------------------------------------------- reference data

# top category, sku prefix, share of the catalog, brands, leaves (path below top, median EUR, nouns)
_TAXONOMY: tuple[
    tuple[str, str, float, tuple[str, ...], tuple[tuple[str, float, tuple[str, ...]], ...]], ...
] = (
    (
        "Home",
        "HOM",
        0.17,
        ("Nordhaus", "Casaluna", "Kochwerk", "Lumenio", "Hyggelig", "Ferrano", "Maison Lys"),
        (
            (
                "Kitchen > Cookware",
                39.0,
                ("Frying Pan", "Saucepan", "Dutch Oven", "Wok", "Stock Pot", "Grill Pan"),
            ),
            (
                "Kitchen > Knives",
                45.0,
                ("Chef's Knife", "Bread Knife", "Knife Block", "Paring Knife", "Santoku Knife"),
            ),
            (
                "Kitchen > Small Appliances",
                79.0,
                ("Kettle", "Toaster", "Hand Blender", "Coffee Grinder", "Espresso Machine"),
            ),
            (
                "Furniture > Living Room",
                249.0,
                ("Sofa", "Armchair", "Coffee Table", "Bookshelf", "Sideboard"),
            ),
            (
                "Furniture > Office",
                179.0,
                ("Desk", "Office Chair", "Monitor Stand", "Filing Cabinet"),
            ),
            ("Decor > Lighting", 59.0, ("Floor Lamp", "Table Lamp", "Pendant Light", "Wall Light")),
            (
                "Decor > Textiles > Cushions",
                22.0,
                ("Cushion Cover", "Throw Pillow", "Floor Cushion"),
            ),
            (
                "Decor > Textiles > Blankets",
                45.0,
                ("Throw Blanket", "Wool Blanket", "Knitted Plaid"),
            ),
            ("Bath", 19.0, ("Towel Set", "Bath Mat", "Shower Curtain", "Soap Dispenser")),
        ),
    ),
    (
        "Fashion",
        "FAS",
        0.20,
        ("Maren & Mo", "Velluto", "Urbanist", "Kestrel", "Norrland", "Bellamie", "Rift"),
        (
            ("Women > Dresses", 59.0, ("Wrap Dress", "Midi Dress", "Shirt Dress", "Knit Dress")),
            ("Women > Shoes > Sneakers", 79.0, ("Sneaker", "Platform Sneaker", "Slip-On")),
            ("Women > Shoes > Boots", 119.0, ("Ankle Boot", "Chelsea Boot", "Knee Boot")),
            ("Men > Shirts", 39.0, ("Oxford Shirt", "Flannel Shirt", "Linen Shirt", "Polo Shirt")),
            ("Men > Shoes", 99.0, ("Derby Shoe", "Loafer", "Leather Sneaker")),
            ("Men > Jackets", 149.0, ("Parka", "Bomber Jacket", "Rain Jacket", "Wool Coat")),
            ("Accessories > Bags", 69.0, ("Backpack", "Tote Bag", "Crossbody Bag", "Weekender")),
            ("Accessories > Watches", 129.0, ("Chronograph", "Field Watch", "Minimalist Watch")),
        ),
    ),
    (
        "Electronics",
        "ELE",
        0.15,
        ("Voltra", "Sonique", "Pixelon", "Arcwave", "Kalibr", "Nexor"),
        (
            (
                "Audio > Headphones",
                89.0,
                ("Over-Ear Headphones", "Wireless Earbuds", "Noise-Cancelling Headphones"),
            ),
            ("Audio > Speakers", 99.0, ("Bluetooth Speaker", "Soundbar", "Smart Speaker")),
            ("Computers > Laptops", 899.0, ("Laptop", "Ultrabook", "Convertible Laptop")),
            (
                "Computers > Accessories",
                29.0,
                ("Wireless Mouse", "Mechanical Keyboard", "USB-C Hub", "Laptop Sleeve"),
            ),
            ("Phones > Smartphones", 449.0, ("Smartphone", "Compact Phone")),
            ("Phones > Accessories > Cases", 19.0, ("Phone Case", "Flip Case", "Screen Protector")),
            (
                "Phones > Accessories > Chargers",
                25.0,
                ("Fast Charger", "Power Bank", "Charging Cable"),
            ),
            ("TV & Video", 599.0, ("4K TV", "Streaming Stick", "Projector")),
        ),
    ),
    (
        "Sports & Outdoors",
        "SPO",
        0.10,
        ("Peakline", "Strider", "Alpenfux", "Corevo", "Tidewater"),
        (
            ("Fitness > Yoga", 29.0, ("Yoga Mat", "Yoga Block", "Resistance Band")),
            ("Fitness > Weights", 49.0, ("Dumbbell Set", "Kettlebell", "Weight Bench")),
            ("Cycling", 59.0, ("Bike Helmet", "Bike Light Set", "Cycling Jersey", "Bike Lock")),
            ("Camping > Tents", 179.0, ("Dome Tent", "Tunnel Tent", "Ultralight Tent")),
            ("Camping > Sleeping Bags", 89.0, ("Sleeping Bag", "Sleeping Mat")),
            ("Running > Shoes", 119.0, ("Running Shoe", "Trail Running Shoe")),
        ),
    ),
    (
        "Beauty",
        "BEA",
        0.12,
        ("Lumière", "Verdana Botanics", "Skinlab", "Aurelle", "Nordic Glow"),
        (
            ("Skincare > Face", 24.0, ("Face Cream", "Serum", "Cleanser", "Sheet Mask")),
            ("Skincare > Body", 14.0, ("Body Lotion", "Body Scrub", "Hand Cream")),
            ("Makeup", 16.0, ("Lipstick", "Mascara", "Foundation", "Eyeshadow Palette")),
            ("Hair Care", 12.0, ("Shampoo", "Conditioner", "Hair Oil", "Hair Mask")),
            ("Fragrance", 59.0, ("Eau de Parfum", "Eau de Toilette", "Body Mist")),
        ),
    ),
    (
        "Toys & Games",
        "TOY",
        0.08,
        ("Kidoodle", "Brickworks", "Playfox", "Tinker & Tom"),
        (
            (
                "Board Games",
                29.0,
                ("Strategy Game", "Party Game", "Family Board Game", "Card Game"),
            ),
            ("Building Sets", 49.0, ("Building Set", "Construction Kit", "Marble Run")),
            ("Outdoor Toys", 39.0, ("Kick Scooter", "Water Blaster", "Kite", "Balance Bike")),
            ("Puzzles", 17.0, ("Jigsaw Puzzle", "3D Puzzle", "Puzzle Box")),
        ),
    ),
    (
        "Books & Media",
        "BOO",
        0.08,
        ("Northbound Press", "Inkwell", "Paperlane", "Vinylhaus"),
        (
            ("Books > Fiction", 14.0, ("Novel", "Crime Novel", "Fantasy Novel")),
            ("Books > Non-Fiction > Cooking", 24.0, ("Cookbook", "Baking Book")),
            ("Books > Children's Books", 11.0, ("Picture Book", "Story Collection")),
            ("Music > Vinyl", 27.0, ("Vinyl LP", "Deluxe Vinyl Edition")),
        ),
    ),
    (
        "Garden",
        "GAR",
        0.10,
        ("Gartenglück", "Greenhand", "Terravista", "Bloomfield"),
        (
            ("Tools", 29.0, ("Pruning Shears", "Garden Spade", "Rake", "Hose Reel")),
            ("Plants > Seeds", 4.5, ("Seed Mix", "Herb Seeds", "Flower Seeds")),
            ("Plants > Pots", 19.0, ("Plant Pot", "Planter", "Hanging Basket")),
            ("Outdoor Furniture", 199.0, ("Garden Chair", "Lounger", "Patio Table", "Bench")),
            ("Grills & BBQ", 229.0, ("Charcoal Grill", "Gas Grill", "Grill Tool Set")),
        ),
    ),
)
_ADJECTIVES = (
    "Classic",
    "Essential",
    "Premium",
    "Compact",
    "Pro",
    "Eco",
    "Urban",
    "Nordic",
    "Vintage",
    "Everyday",
    "Deluxe",
    "Smart",
    "Soft",
    "Ultra",
    "Signature",
    "Lite",
    "Studio",
    "Heritage",
)
_USES = {
    "Home": "everyday living",
    "Fashion": "every season",
    "Electronics": "work and play",
    "Sports & Outdoors": "training and trips",
    "Beauty": "your daily routine",
    "Toys & Games": "hours of play",
    "Books & Media": "quiet evenings",
    "Garden": "your garden and balcony",
}

# language: (female first names, male first names, last names)
_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "de": (
        (
            "Anna",
            "Lena",
            "Laura",
            "Julia",
            "Sarah",
            "Lea",
            "Hannah",
            "Katharina",
            "Sophie",
            "Marie",
            "Claudia",
            "Sabine",
        ),
        (
            "Lukas",
            "Jonas",
            "Leon",
            "Felix",
            "Maximilian",
            "Paul",
            "Tobias",
            "Jan",
            "Michael",
            "Thomas",
            "Stefan",
            "Florian",
        ),
        (
            "Müller",
            "Schmidt",
            "Schneider",
            "Fischer",
            "Weber",
            "Meyer",
            "Wagner",
            "Becker",
            "Schulz",
            "Hoffmann",
            "Koch",
            "Richter",
            "Wolf",
            "Schröder",
            "Neumann",
            "Zimmermann",
        ),
    ),
    "fr": (
        ("Camille", "Léa", "Manon", "Chloé", "Emma", "Inès", "Julie", "Sophie", "Claire", "Élodie"),
        (
            "Lucas",
            "Hugo",
            "Louis",
            "Nathan",
            "Thomas",
            "Julien",
            "Antoine",
            "Nicolas",
            "Pierre",
            "Maxime",
        ),
        (
            "Martin",
            "Bernard",
            "Dubois",
            "Thomas",
            "Robert",
            "Richard",
            "Petit",
            "Durand",
            "Leroy",
            "Moreau",
            "Simon",
            "Laurent",
            "Lefèvre",
            "Girard",
        ),
    ),
    "nl": (
        ("Emma", "Sanne", "Lotte", "Anouk", "Femke", "Fleur", "Iris", "Lisa"),
        ("Daan", "Sem", "Lars", "Bram", "Thijs", "Ruben", "Jesse", "Tim"),
        (
            "de Jong",
            "Jansen",
            "de Vries",
            "van den Berg",
            "van Dijk",
            "Bakker",
            "Janssen",
            "Visser",
            "Smit",
            "Meijer",
            "de Boer",
            "Mulder",
        ),
    ),
    "es": (
        ("Lucía", "María", "Paula", "Laura", "Marta", "Carmen", "Elena", "Sara"),
        ("Hugo", "Pablo", "Javier", "Daniel", "Alejandro", "Carlos", "David", "Sergio"),
        (
            "García",
            "Fernández",
            "González",
            "Rodríguez",
            "López",
            "Martínez",
            "Sánchez",
            "Pérez",
            "Gómez",
            "Martín",
            "Ruiz",
            "Díaz",
        ),
    ),
    "it": (
        ("Giulia", "Sofia", "Chiara", "Francesca", "Martina", "Sara", "Alessia", "Elena"),
        ("Lorenzo", "Matteo", "Luca", "Marco", "Andrea", "Francesco", "Alessandro", "Davide"),
        (
            "Rossi",
            "Russo",
            "Ferrari",
            "Esposito",
            "Bianchi",
            "Romano",
            "Colombo",
            "Ricci",
            "Marino",
            "Greco",
            "Bruno",
            "Gallo",
        ),
    ),
    "pl": (
        ("Anna", "Zuzanna", "Julia", "Maja", "Katarzyna", "Agnieszka", "Magdalena", "Ewa"),
        ("Jakub", "Jan", "Piotr", "Krzysztof", "Tomasz", "Paweł", "Michał", "Kacper"),
        (
            "Nowak",
            "Kowalski",
            "Wiśniewski",
            "Wójcik",
            "Kowalczyk",
            "Kamiński",
            "Lewandowski",
            "Zieliński",
            "Szymański",
            "Woźniak",
        ),
    ),
    "en": (
        (
            "Olivia",
            "Emily",
            "Sophie",
            "Charlotte",
            "Jessica",
            "Hannah",
            "Grace",
            "Amelia",
            "Emma",
            "Madison",
        ),
        (
            "Oliver",
            "Jack",
            "Harry",
            "James",
            "George",
            "William",
            "Thomas",
            "Daniel",
            "Michael",
            "Ethan",
        ),
        (
            "Smith",
            "Jones",
            "Taylor",
            "Brown",
            "Williams",
            "Wilson",
            "Johnson",
            "Davies",
            "Miller",
            "Clarke",
            "Walker",
            "O'Brien",
        ),
    ),
    "sv": (
        ("Elsa", "Alice", "Maja", "Ebba", "Wilma", "Astrid"),
        ("Erik", "Lars", "Oskar", "William", "Hugo", "Axel"),
        ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Svensson"),
    ),
}

# country: (weight, name language, locale, phone prefix, ((city, IANA timezone), ...))
_COUNTRIES: tuple[tuple[str, float, str, str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "DE",
        0.30,
        "de",
        "de-DE",
        "+49",
        tuple(
            (c, "Europe/Berlin")
            for c in (
                "Berlin",
                "Hamburg",
                "München",
                "Köln",
                "Frankfurt am Main",
                "Stuttgart",
                "Leipzig",
                "Düsseldorf",
            )
        ),
    ),
    (
        "FR",
        0.13,
        "fr",
        "fr-FR",
        "+33",
        tuple(
            (c, "Europe/Paris")
            for c in ("Paris", "Lyon", "Marseille", "Toulouse", "Bordeaux", "Lille", "Nantes")
        ),
    ),
    (
        "NL",
        0.09,
        "nl",
        "nl-NL",
        "+31",
        tuple(
            (c, "Europe/Amsterdam")
            for c in ("Amsterdam", "Rotterdam", "Utrecht", "Den Haag", "Eindhoven")
        ),
    ),
    (
        "ES",
        0.08,
        "es",
        "es-ES",
        "+34",
        (
            ("Madrid", "Europe/Madrid"),
            ("Barcelona", "Europe/Madrid"),
            ("Valencia", "Europe/Madrid"),
            ("Sevilla", "Europe/Madrid"),
            ("Las Palmas de Gran Canaria", "Atlantic/Canary"),
        ),
    ),
    (
        "IT",
        0.08,
        "it",
        "it-IT",
        "+39",
        tuple(
            (c, "Europe/Rome") for c in ("Roma", "Milano", "Napoli", "Torino", "Bologna", "Firenze")
        ),
    ),
    (
        "AT",
        0.07,
        "de",
        "de-AT",
        "+43",
        tuple((c, "Europe/Vienna") for c in ("Wien", "Graz", "Linz", "Salzburg", "Innsbruck")),
    ),
    (
        "PL",
        0.06,
        "pl",
        "pl-PL",
        "+48",
        tuple((c, "Europe/Warsaw") for c in ("Warszawa", "Kraków", "Wrocław", "Gdańsk", "Poznań")),
    ),
    (
        "GB",
        0.05,
        "en",
        "en-GB",
        "+44",
        tuple(
            (c, "Europe/London")
            for c in ("London", "Manchester", "Birmingham", "Edinburgh", "Bristol")
        ),
    ),
    (
        "BE",
        0.04,
        "nl",
        "nl-BE",
        "+32",
        tuple((c, "Europe/Brussels") for c in ("Brussel", "Antwerpen", "Gent", "Leuven")),
    ),
    (
        "CH",
        0.03,
        "de",
        "de-CH",
        "+41",
        tuple((c, "Europe/Zurich") for c in ("Zürich", "Basel", "Bern")),
    ),
    (
        "SE",
        0.02,
        "sv",
        "sv-SE",
        "+46",
        tuple((c, "Europe/Stockholm") for c in ("Stockholm", "Göteborg", "Malmö")),
    ),
    (
        "US",
        0.03,
        "en",
        "en-US",
        "+1",
        (
            ("New York", "America/New_York"),
            ("Boston", "America/New_York"),
            ("Chicago", "America/Chicago"),
            ("Los Angeles", "America/Los_Angeles"),
            ("Seattle", "America/Los_Angeles"),
        ),
    ),
    (
        "CA",
        0.01,
        "en",
        "en-CA",
        "+1",
        (("Toronto", "America/Toronto"), ("Vancouver", "America/Vancouver")),
    ),
    (
        "AU",
        0.01,
        "en",
        "en-AU",
        "+61",
        (("Sydney", "Australia/Sydney"), ("Melbourne", "Australia/Melbourne")),
    ),
)
_EMAIL_DOMAINS = (
    "example.com",
    "example.org",
    "example.net",
    "mail.example",
    "post.example",
    "web.example",
)
_IP_FIRST_OCTETS = (
    31,
    37,
    46,
    62,
    77,
    78,
    79,
    80,
    81,
    82,
    84,
    85,
    87,
    88,
    89,
    90,
    91,
    93,
    94,
    95,
    109,
    176,
    178,
    185,
    188,
    212,
    213,
    217,
)

_DESKTOP, _MOBILE, _TABLET = 0, 1, 2
_DEVICE_TYPES = ("desktop", "mobile", "tablet")
# device type -> ((os, browser, weight, user agent template), ...); {v} is a version number
_USER_AGENTS = (
    (
        (
            "Windows",
            "Chrome",
            0.45,
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
        ),
        (
            "Windows",
            "Edge",
            0.15,
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.0.0",
        ),
        (
            "Windows",
            "Firefox",
            0.12,
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
        ),
        (
            "macOS",
            "Safari",
            0.16,
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.{m} Safari/605.1.15",
        ),
        (
            "macOS",
            "Chrome",
            0.12,
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
        ),
    ),
    (
        (
            "iOS",
            "Mobile Safari",
            0.45,
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_{m} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.{m} Mobile/15E148 Safari/604.1",
        ),
        (
            "Android",
            "Chrome Mobile",
            0.50,
            "Mozilla/5.0 (Linux; Android 14; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Mobile Safari/537.36",
        ),
        (
            "Android",
            "Samsung Internet",
            0.05,
            "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/27.0 Chrome/{v}.0.0.0 Mobile Safari/537.36",
        ),
    ),
    (
        (
            "iPadOS",
            "Mobile Safari",
            0.65,
            "Mozilla/5.0 (iPad; CPU OS 18_{m} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.{m} Mobile/15E148 Safari/604.1",
        ),
        (
            "Android",
            "Chrome",
            0.35,
            "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
        ),
    ),
)
_APP_USER_AGENTS = {
    "iOS": "TailorShop/4.{m}.0 (iPhone; iOS 18.{m}; Scale/3.00)",
    "Android": "TailorShop/4.{m}.0 (Linux; Android 14; Pixel 8)",
}

# session identity actions
_ID_NONE, _ID_LOGIN, _ID_SIGNUP, _ID_EMAIL = 0, 1, 2, 3
# device identity modes
_MODE_NONE, _MODE_LOGIN, _MODE_EMAIL = 0, 1, 2
# event kinds (decide which dirt an event can carry)
_K_PLAIN, _K_PRICED, _K_VIEWED, _K_CRITICAL = 0, 1, 2, 3

_MIN_SESSION_GAP_MS = 2 * MS_PER_HOUR  # session starts at least this far apart per person
_SESSION_SOFT_MAX_MS = 55 * 60_000  # after this, a session only sends quick follow-up events
_TILTS = (-2.0, 0.0, 2.0)


# --------------------------------------------------------------------------- small helpers


def _rng(seed: int, stream: str, *keys: int) -> np.random.Generator:
    """An independent generator per purpose (and day), stable across versions of the plan."""
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence([seed, zlib.crc32(stream.encode()), *keys]))
    )


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def _iso_seconds(ms: int) -> str:
    return (dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=int(ms))).isoformat(
        timespec="seconds"
    ) + "Z"


def _iso_ms_list(ms: np.ndarray) -> list[str]:
    """ISO-8601 with milliseconds, no zone suffix, for a whole array at once."""
    return np.datetime_as_string(
        np.asarray(ms, dtype="int64").astype("datetime64[ms]"), unit="ms"
    ).tolist()


def _offset_str(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _uuid4_list(rng: np.random.Generator, n: int) -> list[str]:
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    h = raw.tobytes().hex()
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-{h[i + 12 : i + 16]}-{h[i + 16 : i + 20]}-{h[i + 20 : i + 32]}"
        for i in range(0, 32 * n, 32)
    ]


def _ascii(text: str) -> str:
    text = text.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    text = (
        text.replace("Ä", "Ae")
        .replace("Ö", "Oe")
        .replace("Ü", "Ue")
        .replace("ł", "l")
        .replace("Ł", "L")
    )
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _slug(text: str) -> str:
    out = []
    for ch in _ascii(text).lower():
        out.append(ch if ch.isalnum() else "-")
    return "-".join(p for p in "".join(out).split("-") if p)


def _choice_by_group(
    rng: np.random.Generator, group: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """For each element, draw an index from the weight row of its group (weights: groups x k)."""
    cum = np.cumsum(weights, axis=1)
    cum = cum / cum[:, -1:]
    u = rng.random(len(group))
    out = (u[:, None] >= cum[group]).sum(axis=1)
    return np.minimum(out, weights.shape[1] - 1)


def _csv_text(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _csv_line(row: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(row)
    return buf.getvalue()


# --------------------------------------------------------------------------- the world


@dataclass
class _World:
    """Everything planned up front; the day workers only read it."""

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
    tz_offsets: np.ndarray  # timezones x (days + 8), minutes; column 0 = day -4
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


def _plan_catalog(config: GeneratorConfig) -> dict:
    rng = _rng(config.seed, "catalog")
    n = config.products
    days = config.days
    cats = _TAXONOMY
    cat_share = np.array([c[2] for c in cats])
    cat_share = cat_share / cat_share.sum()
    # at least one product per category, the rest by share
    counts = np.ones(len(cats), dtype=np.int64) + rng.multinomial(n - len(cats), cat_share)

    leaf_path, leaf_slug, leaf_median, leaf_cat, leaf_nouns = [], [], [], [], []
    for ci, (top, _code, _share, _brands, leaves) in enumerate(cats):
        for sub, median, nouns in leaves:
            path = f"{top} > {sub}"
            leaf_path.append(path)
            leaf_slug.append(_slug(path.replace(" > ", "/")))
            leaf_median.append(int(median * 100))
            leaf_cat.append(ci)
            leaf_nouns.append(nouns)
    leaf_cat_arr = np.array(leaf_cat)
    brand_names: list[str] = []
    brand_cat: list[int] = []
    for ci, c in enumerate(cats):
        for b in c[3]:
            brand_names.append(b)
            brand_cat.append(ci)
    brand_cat_arr = np.array(brand_cat)

    # new products during the window
    new_per_day = rng.poisson(max(0.3, n * 0.0015), size=days)
    new_per_day[0] = 0
    n_new = int(new_per_day.sum())
    total = n + n_new
    new_cats = rng.choice(len(cats), size=n_new, p=cat_share)
    prod_cat = np.concatenate([np.repeat(np.arange(len(cats)), counts), new_cats]).astype(np.int64)
    prod_created_day = np.concatenate(
        [np.full(n, -1), np.repeat(np.arange(days), new_per_day)]
    ).astype(np.int64)

    prod_leaf = np.empty(total, dtype=np.int64)
    prod_brand = np.empty(total, dtype=np.int64)
    for ci in range(len(cats)):
        members = np.flatnonzero(prod_cat == ci)
        leaves = np.flatnonzero(leaf_cat_arr == ci)
        # a couple of leaves carry most of a category
        lw = rng.dirichlet(np.full(len(leaves), 2.0))
        prod_leaf[members] = leaves[rng.choice(len(leaves), size=len(members), p=lw)]
        brands = np.flatnonzero(brand_cat_arr == ci)
        bw = 1.0 / np.arange(1, len(brands) + 1) ** 0.8
        bw = bw / bw.sum()
        prod_brand[members] = brands[rng.choice(len(brands), size=len(members), p=bw)]

    leaf_median_arr = np.array(leaf_median, dtype=np.float64)
    base_price = leaf_median_arr[prod_leaf] * np.exp(rng.normal(0, 0.5, size=total))
    endings = np.array([99, 99, 99, 49, 95, 0])
    cents = (
        np.floor(base_price / 100) * 100 + endings[rng.integers(0, len(endings), size=total)]
    ).astype(np.int64)
    cents = np.maximum(cents, 149)
    # Zipf-like popularity over a random rank order
    rank = rng.permutation(total)
    pop = 1.0 / (rank + 1.0) ** 1.05

    price = np.repeat(cents[:, None], days, axis=1)
    listed = np.ones(total, dtype=bool)
    first_of_cat = {int(np.flatnonzero(prod_cat[:n] == ci)[0]) for ci in range(len(cats))}
    inactive = rng.random(n) < 0.02
    for p in np.flatnonzero(inactive):
        if int(p) not in first_of_cat:
            listed[p] = False
    active_until = np.full(total, days, dtype=np.int64)

    start_ms = (config.start - dt.date(1970, 1, 1)).days * MS_PER_DAY
    created_ms = np.empty(total, dtype=np.int64)
    created_ms[:n] = start_ms - rng.integers(3 * MS_PER_DAY, 730 * MS_PER_DAY, size=n)
    changes: dict[int, list[tuple[int, int]]] = {}
    for p in range(n, total):
        d = int(prod_created_day[p])
        created_ms[p] = start_ms + d * MS_PER_DAY + int(rng.integers(0, 2 * MS_PER_HOUR))
        changes.setdefault(d, []).append((p, int(created_ms[p])))
    for d in range(1, days):
        existing = np.flatnonzero((prod_created_day < d) & listed & (active_until > d))
        n_price = min(len(existing), int(rng.poisson(max(0.5, n * 0.004))))
        n_off = min(len(existing), int(rng.poisson(max(0.1, n * 0.0006))))
        touched = (
            rng.choice(existing, size=n_price + n_off, replace=False) if n_price + n_off else []
        )
        for k, p in enumerate(touched):
            p = int(p)
            if k < n_price:
                factor = rng.choice([0.8, 0.85, 0.9, 1.1, 1.15])
                new = int(max(149, np.floor(price[p, d] * factor / 100) * 100 + 99))
                price[p, d:] = new
            elif p not in first_of_cat:
                active_until[p] = d
            else:
                continue
            changes.setdefault(d, []).append(
                (p, start_ms + d * MS_PER_DAY + int(rng.integers(0, 2 * MS_PER_HOUR)))
            )

    ids, skus, titles, descs, paths, bnames, slugs, queries = [], [], [], [], [], [], [], []
    adj_idx = rng.integers(0, len(_ADJECTIVES), size=total)
    noun_u = rng.random(total)
    desc_form = rng.integers(0, 3, size=total)
    for p in range(total):
        ci = int(prod_cat[p])
        leaf = int(prod_leaf[p])
        top = cats[ci][0]
        nouns = leaf_nouns[leaf]
        noun = nouns[int(noun_u[p] * len(nouns))]
        adj = _ADJECTIVES[int(adj_idx[p])]
        brand = brand_names[int(prod_brand[p])]
        title = f"{brand} {adj} {noun}"
        parts = leaf_path[leaf].split(" > ")
        leaf_name = parts[-1].lower()
        form = int(desc_form[p])
        if form == 0:
            desc = (
                f"The {adj.lower()} {noun.lower()} from {brand}, made for {_USES[top]}. "
                f"Part of our {top} range in {leaf_name}."
            )
        elif form == 1:
            article = "an" if adj[0] in "AEIOU" else "a"
            desc = (
                f"{brand} {noun.lower()} in {article} {adj.lower()} design. "
                f"One of our favourites in {leaf_name}, in the {top} department."
            )
        else:
            desc = f"{adj} {noun.lower()} by {brand} for {_USES[top]}, from the {top.lower()} department."
        pid = f"P{p + 1:06d}"
        ids.append(pid)
        skus.append(f"{cats[ci][1]}-{p + 1:06d}")
        titles.append(title)
        descs.append(desc)
        paths.append(leaf_path[leaf])
        bnames.append(brand)
        slugs.append(f"{pid.lower()}-{_slug(title)}")
        queries.append((noun.lower(), brand.lower(), f"{adj} {noun}".lower()))

    return dict(
        prod_ids=ids,
        prod_sku=skus,
        prod_title=titles,
        prod_desc=descs,
        prod_path=paths,
        prod_brand_name=bnames,
        prod_slug=slugs,
        prod_queries=queries,
        prod_cat=prod_cat,
        prod_leaf=prod_leaf,
        prod_brand=prod_brand,
        prod_pop=pop,
        prod_price=price,
        prod_created_day=prod_created_day,
        prod_created_ms=created_ms,
        prod_listed=listed,
        prod_active_until=active_until,
        leaf_median=np.array(leaf_median, dtype=np.int64),
        leaf_path=leaf_path,
        leaf_slug=leaf_slug,
        cat_mass=cat_share,
        catalog_changes=changes,
        brand_cat=brand_cat_arr,
    )


@dataclass
class _People:
    """Customer records and the other per-person plans that only the main process needs."""

    rows: list[list[str]]  # customers.csv rows by actor index (customers only)
    signup_ms: np.ndarray
    erase_ms: np.ndarray  # -1 = no request
    erase_with_id: np.ndarray
    email_clean: list[str]  # lower-cased, trimmed
    email_crm: list[str]  # as the CRM exports it
    city_choices: list[tuple[tuple[str, str], ...]]
    phone_prefix: list[str]


def _plan_world(config: GeneratorConfig) -> tuple[_World, _People]:
    days = config.days
    start_ms = (config.start - dt.date(1970, 1, 1)).days * MS_PER_DAY
    end_ms = start_ms + days * MS_PER_DAY
    cat = _plan_catalog(config)
    rng = _rng(config.seed, "people")

    n_c = config.customers
    n_v = int(round(config.anonymous_visitors * n_c))
    n_a = n_c + n_v
    shares = np.array([p.share for p in _PERSONA_PARAMS[:6]])
    persona = np.concatenate(
        [rng.choice(6, size=n_c, p=shares / shares.sum()), np.full(n_v, _VISITOR)]
    )
    P = _PERSONA_PARAMS

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
    tz_offsets = _tz_offset_table(tz_names, config.start, days)

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

    # ---- sessions: when each person visits
    s_actor, s_anchor, start, anchor_start, erase_ms, erase_with_id = _plan_visits(
        config, rng, persona, tz, tz_offsets
    )

    # ---- devices and identity
    dev_actor, dtype_arr, dev_mode, dev_app, s_device, s_purchase = _plan_devices(
        rng, persona, s_actor, s_anchor, start, anchor_start
    )
    s_actor, s_anchor, start, s_device, s_purchase, s_ident, s_known, signup_sess = _plan_identity(
        rng, persona, dev_mode, s_actor, s_anchor, start, s_device, s_purchase
    )
    n_s = len(s_actor)

    # new customers sign up in their anchor session; everybody else long before the window
    signup_ms = np.full(n_a, -1, dtype=np.int64)
    signup_ms[s_actor[signup_sess]] = start[signup_sess] + 90_000
    old = (persona != _NEW) & (persona != _VISITOR)
    signup_ms[old] = start_ms - rng.integers(MS_PER_DAY, 3 * 365 * MS_PER_DAY, size=int(old.sum()))

    # per-session details
    views_mean = np.array([P[p].views for p in range(7)])[persona] * np.exp(
        rng.normal(0, 0.2, size=n_a)
    )
    s_views = 1 + rng.poisson(np.maximum(views_mean[s_actor] - 1, 0.2))
    s_views = np.minimum(s_views, 40)
    camp_share = np.array([P[p].campaign for p in range(7)])[persona[s_actor]]
    camp_w = np.array([P[p].campaigns for p in range(7)], dtype=np.float64)
    s_campaign = np.where(
        rng.random(n_s) < camp_share, _choice_by_group(rng, persona[s_actor], camp_w), -1
    )
    s_mixed = rng.random(n_s) < config.dirt.mixed_timezones

    # phone orders: a few loyal customers order by phone (no web events)
    loyal = np.flatnonzero(persona == _LOYAL)
    phone_who = loyal[rng.random(len(loyal)) < 0.12 * days / 30]
    p_day = rng.integers(0, days, size=len(phone_who))
    p_hour = rng.uniform(9, 17.5, size=len(phone_who))
    p_time = (
        start_ms
        + p_day * MS_PER_DAY
        + (p_hour * MS_PER_HOUR).astype(np.int64)
        - tz_offsets[tz[phone_who], p_day + 4] * 60_000
    )
    ok = (erase_ms[phone_who] < 0) | (p_time < erase_ms[phone_who])
    p_actor, p_time = phone_who[ok], p_time[ok]

    # global session order; order numbers by time across web and phone
    order = np.argsort(start, kind="stable")
    s_actor, start, s_device, s_purchase, s_ident, s_known, s_views, s_campaign, s_mixed = (
        a[order]
        for a in (
            s_actor,
            start,
            s_device,
            s_purchase,
            s_ident,
            s_known,
            s_views,
            s_campaign,
            s_mixed,
        )
    )
    times = np.concatenate([start[s_purchase], p_time])
    o_rank = np.empty(len(times), dtype=np.int64)
    o_rank[np.argsort(times, kind="stable")] = np.arange(1, len(times) + 1)
    s_order = np.zeros(n_s, dtype=np.int64)
    s_order[s_purchase] = o_rank[: int(s_purchase.sum())]
    p_order = o_rank[int(s_purchase.sum()) :]
    p_day_final = (p_time - start_ms) // MS_PER_DAY

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

    world = _World(
        config=config,
        day0=(config.start - dt.date(1970, 1, 1)).days,
        window_start_ms=start_ms,
        window_end_ms=end_ms,
        prod_ids=cat["prod_ids"],
        prod_sku=cat["prod_sku"],
        prod_title=cat["prod_title"],
        prod_desc=cat["prod_desc"],
        prod_path=cat["prod_path"],
        prod_brand_name=cat["prod_brand_name"],
        prod_slug=cat["prod_slug"],
        prod_queries=cat["prod_queries"],
        prod_cat=cat["prod_cat"],
        prod_leaf=cat["prod_leaf"],
        prod_brand=cat["prod_brand"],
        prod_pop=cat["prod_pop"],
        prod_price=cat["prod_price"],
        prod_created_day=cat["prod_created_day"],
        prod_created_ms=cat["prod_created_ms"],
        prod_listed=cat["prod_listed"],
        prod_active_until=cat["prod_active_until"],
        leaf_median=cat["leaf_median"],
        leaf_path=cat["leaf_path"],
        leaf_slug=cat["leaf_slug"],
        cat_mass=cat["cat_mass"],
        catalog_changes=cat["catalog_changes"],
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
        s_start=start,
        s_day=(start - start_ms) // MS_PER_DAY,
        s_device=s_device,
        s_actor=s_actor,
        s_ident=s_ident,
        s_known=s_known,
        s_purchase=s_purchase,
        s_order=s_order,
        s_campaign=s_campaign,
        s_views=s_views,
        s_mixed=s_mixed,
        p_actor=p_actor,
        p_time=p_time,
        p_order=p_order,
        p_day=p_day_final,
    )
    return world, people


def _plan_visits(
    config: GeneratorConfig,
    rng: np.random.Generator,
    persona: np.ndarray,
    tz: np.ndarray,
    tz_offsets: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """When each person visits: (session actor, is anchor, start ms) plus per person the
    anchor session's start, the erasure request time (-1 = none) and whether the request
    names the customer id.

    Every person has one anchor session that always happens (a new explorer's sign-up, a
    one-time buyer's order, ...); the other visits follow the persona's rate.
    """
    days = config.days
    n_c = config.customers
    n_a = len(persona)
    P = _PERSONA_PARAMS
    start_ms = (config.start - dt.date(1970, 1, 1)).days * MS_PER_DAY
    end_ms = start_ms + days * MS_PER_DAY
    rate = np.array([P[p].visits_per_day for p in persona]) * np.exp(rng.normal(0, 0.3, size=n_a))
    act_lo = np.zeros(n_a, dtype=np.int64)
    act_hi = np.full(n_a, days, dtype=np.int64)
    lapse = persona == _LAPSING
    act_hi[lapse] = np.maximum(
        1, np.round(days * rng.uniform(0.25, 0.42, size=int(lapse.sum())))
    ).astype(np.int64)
    new = persona == _NEW
    signup_day = np.full(n_a, -1, dtype=np.int64)
    signup_day[new] = rng.integers(0, days, size=int(new.sum()))
    act_lo[new] = np.maximum(0, signup_day[new] - 2)
    n_extra = rng.poisson(rate * (act_hi - act_lo))
    one = persona == _ONE_TIME
    n_extra[one] = rng.poisson(0.8, size=int(one.sum()))
    vis = persona == _VISITOR
    n_extra[vis] = rng.poisson(1.3, size=int(vis.sum()))

    anchor_day = act_lo + (rng.random(n_a) * (act_hi - act_lo)).astype(np.int64)
    anchor_day[new] = signup_day[new]
    s_actor = np.concatenate([np.arange(n_a), np.repeat(np.arange(n_a), n_extra)])
    s_anchor = np.concatenate([np.ones(n_a, dtype=bool), np.zeros(int(n_extra.sum()), dtype=bool)])
    lo, hi = act_lo[s_actor], act_hi[s_actor]
    s_dayplan = np.where(
        s_anchor, anchor_day[s_actor], lo + (rng.random(len(s_actor)) * (hi - lo)).astype(np.int64)
    )
    evening_share = np.array([P[p].evening for p in range(7)])[persona[s_actor]]
    evening = rng.random(len(s_actor)) < evening_share
    hour = np.where(
        evening,
        np.clip(rng.normal(20.6, 1.25, size=len(s_actor)), 18.05, 23.9),
        np.clip(rng.normal(13.0, 2.4, size=len(s_actor)), 7.0, 17.9),
    )
    off = tz_offsets[tz[s_actor], s_dayplan + 4]
    start = start_ms + s_dayplan * MS_PER_DAY + (hour * MS_PER_HOUR).astype(np.int64) - off * 60_000
    latest = end_ms - 2 * MS_PER_HOUR
    # anchors that fall outside the window in UTC move by a day; other sessions are dropped
    start = np.where(s_anchor & (start > latest) & (days > 1), start - MS_PER_DAY, start)
    start = np.where(s_anchor & (start < start_ms), start + MS_PER_DAY, start)
    start = np.where(s_anchor, np.clip(start, start_ms, latest), start)
    keep = s_anchor | ((start >= start_ms) & (start <= latest))
    s_actor, s_anchor, start = s_actor[keep], s_anchor[keep], start[keep]

    # erasure requests: about 0.2% of customers, a day or more after their first visit
    anchor_start = np.zeros(n_a, dtype=np.int64)
    anchor_start[s_actor[s_anchor]] = start[s_anchor]
    erase_ms = np.full(n_a, -1, dtype=np.int64)
    erase_with_id = np.ones(n_a, dtype=bool)
    cust_anchor_day = (anchor_start[:n_c] - start_ms) // MS_PER_DAY
    eligible = np.flatnonzero(cust_anchor_day <= days - 2)
    if len(eligible):
        n_erase = int(rng.binomial(n_c, 0.002))
        if n_c >= 200:
            n_erase = max(1, n_erase)
        n_erase = min(n_erase, len(eligible))
        who = np.sort(rng.choice(eligible, size=n_erase, replace=False))
        for i in who:
            first = int(cust_anchor_day[i]) + 1
            d = int(rng.integers(first, days))
            erase_ms[i] = (
                start_ms + d * MS_PER_DAY + int(rng.integers(7 * MS_PER_HOUR, 20 * MS_PER_HOUR))
            )
        erase_with_id[who] = rng.random(len(who)) < 0.7
    after_erase = (erase_ms[s_actor] >= 0) & (start > erase_ms[s_actor]) & ~s_anchor
    s_actor, s_anchor, start = s_actor[~after_erase], s_anchor[~after_erase], start[~after_erase]

    # sessions of one person start at least two hours apart (across devices), so a
    # 30-minute inactivity rule recovers them; anchors always stay
    order = np.lexsort((start, s_actor))
    s_actor, s_anchor, start = s_actor[order], s_anchor[order], start[order]
    extra = ~s_anchor
    ea, es = s_actor[extra], start[extra]
    close = np.zeros(len(ea), dtype=bool)
    close[1:] = (ea[1:] == ea[:-1]) & (es[1:] - es[:-1] < _MIN_SESSION_GAP_MS)
    close |= np.abs(es - anchor_start[ea]) < _MIN_SESSION_GAP_MS
    drop = np.zeros(len(s_actor), dtype=bool)
    drop[np.flatnonzero(extra)[close]] = True
    s_actor, s_anchor, start = s_actor[~drop], s_anchor[~drop], start[~drop]

    return s_actor, s_anchor, start, anchor_start, erase_ms, erase_with_id


def _plan_devices(
    rng: np.random.Generator,
    persona: np.ndarray,
    s_actor: np.ndarray,
    s_anchor: np.ndarray,
    start: np.ndarray,
    anchor_start: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Devices (one, or two for a quarter of customers) and which device each session uses.

    Returns device actor, type, identity mode and app flag, and each session's device and
    purchase flag (only devices that log in can check out).
    """
    n_a = len(persona)
    P = _PERSONA_PARAMS
    n_dev = np.where(persona == _VISITOR, 1, 1 + (rng.random(n_a) < 0.25)).astype(np.int64)
    dev_first = np.concatenate([[0], np.cumsum(n_dev)[:-1]])
    dev_actor = np.repeat(np.arange(n_a), n_dev)
    dev_rank = np.arange(len(dev_actor)) - dev_first[dev_actor]
    n_d = len(dev_actor)
    dev_probs = np.array([P[p].device for p in range(7)])
    primary_type = _choice_by_group(rng, persona, dev_probs)
    dtype_arr = np.empty(n_d, dtype=np.int64)
    dtype_arr[dev_rank == 0] = primary_type
    sec = np.flatnonzero(dev_rank == 1)
    if len(sec):
        pt = primary_type[dev_actor[sec]]
        shift = 1 + (rng.random(len(sec)) < 0.5)
        dtype_arr[sec] = (pt + shift) % 3
    dev_mode = np.full(n_d, _MODE_LOGIN, dtype=np.int64)
    dev_mode[persona[dev_actor] == _VISITOR] = _MODE_NONE
    prim_window = (dev_rank == 0) & (persona[dev_actor] == _WINDOW)
    dev_mode[prim_window & (rng.random(n_d) < 0.3)] = _MODE_EMAIL
    u_sec = rng.random(n_d)
    dev_mode[(dev_rank == 1) & (u_sec < 0.35)] = _MODE_EMAIL
    dev_mode[(dev_rank == 1) & (u_sec >= 0.35) & (u_sec < 0.45)] = _MODE_NONE
    dev_app = (dtype_arr == _MOBILE) & (rng.random(n_d) < 0.35)

    # sessions onto devices: anchors and a new explorer's pre-signup visits use the first
    on_second = (n_dev[s_actor] == 2) & ~s_anchor & (rng.random(len(s_actor)) < 0.3)
    on_second &= ~((persona[s_actor] == _NEW) & (start < anchor_start[s_actor]))
    s_device = dev_first[s_actor] + on_second.astype(np.int64)

    # purchases
    buy = np.array([P[p].buy for p in range(7)])[persona[s_actor]]
    s_purchase = rng.random(len(s_actor)) < buy
    s_purchase |= s_anchor & np.isin(
        persona[s_actor], [_LOYAL, _BARGAIN, _LAPSING, _ONE_TIME, _NEW]
    )
    s_purchase &= ~((persona[s_actor] == _ONE_TIME) & ~s_anchor)
    s_purchase &= ~((persona[s_actor] == _NEW) & (start < anchor_start[s_actor]))
    s_purchase &= dev_mode[s_device] == _MODE_LOGIN

    return dev_actor, dtype_arr, dev_mode, dev_app, s_device, s_purchase


def _plan_identity(
    rng: np.random.Generator,
    persona: np.ndarray,
    dev_mode: np.ndarray,
    s_actor: np.ndarray,
    s_anchor: np.ndarray,
    start: np.ndarray,
    s_device: np.ndarray,
    s_purchase: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Who is known when: per device, the session that logs in (or signs up, or leaves an
    email) and the sessions after it that carry the userId. Returns the session arrays
    re-sorted by (device, start) plus ``s_ident``, ``s_known`` and the sign-up flag."""
    n_d = len(dev_mode)
    order = np.lexsort((start, s_device))
    s_actor, s_anchor, start, s_device, s_purchase = (
        s_actor[order],
        s_anchor[order],
        start[order],
        s_device[order],
        s_purchase[order],
    )
    n_s = len(s_actor)
    first_idx = np.full(n_d, -1, dtype=np.int64)
    new_dev = np.ones(n_s, dtype=bool)
    new_dev[1:] = s_device[1:] != s_device[:-1]
    first_idx[s_device[new_dev]] = np.flatnonzero(new_dev)
    sess_count = np.bincount(s_device, minlength=n_d)
    rank_in_dev = np.arange(n_s) - first_idx[s_device]
    first_buy = np.full(n_d, 1 << 40, dtype=np.int64)
    np.minimum.at(first_buy, s_device[s_purchase], rank_in_dev[s_purchase])
    draw = (rng.random(n_d) * np.maximum(sess_count, 1)).astype(np.int64)
    login_rank = np.minimum(draw, first_buy)
    anchor_rank = np.full(n_d, -1, dtype=np.int64)
    signup_sess = s_anchor & (persona[s_actor] == _NEW)
    anchor_rank[s_device[signup_sess]] = rank_in_dev[signup_sess]
    has_signup = anchor_rank >= 0
    login_rank[has_signup] = anchor_rank[has_signup]
    mode = dev_mode[s_device]
    lr = login_rank[s_device]
    s_ident = np.zeros(n_s, dtype=np.int64)
    s_ident[(mode == _MODE_LOGIN) & (rank_in_dev == lr)] = _ID_LOGIN
    s_ident[signup_sess] = _ID_SIGNUP
    s_ident[(mode == _MODE_EMAIL) & (rank_in_dev == lr)] = _ID_EMAIL
    s_known = (mode == _MODE_LOGIN) & (rank_in_dev > lr)

    return s_actor, s_anchor, start, s_device, s_purchase, s_ident, s_known, signup_sess


def _device_contexts(
    config: GeneratorConfig,
    dtype_arr: np.ndarray,
    dev_app: np.ndarray,
    dev_actor: np.ndarray,
    country: np.ndarray,
    tz: np.ndarray,
    tz_names: list[str],
) -> tuple[list[str], list[dict]]:
    """An anonymousId and the constant part of the Segment ``context`` for each device."""
    n_d = len(dtype_arr)
    drng = _rng(config.seed, "devices")
    anon = _uuid4_list(drng, n_d)
    ua_pick_u = drng.random(n_d)
    versions = drng.integers(128, 142, size=n_d)
    minor = drng.integers(0, 7, size=n_d)
    ips = drng.integers(1, 255, size=(n_d, 3))
    first_octet = drng.integers(0, len(_IP_FIRST_OCTETS), size=n_d)
    contexts = []
    for d in range(n_d):
        t = int(dtype_arr[d])
        options = _USER_AGENTS[t]
        w = np.cumsum([o[2] for o in options])
        k = int(np.searchsorted(w / w[-1], ua_pick_u[d], side="right"))
        os_name, browser, _, tmpl = options[min(k, len(options) - 1)]
        if dev_app[d]:
            os_name = "iOS" if ua_pick_u[d] < 0.45 else "Android"
            browser = "Tailor Shop App"
            tmpl = _APP_USER_AGENTS[os_name]
        a = int(dev_actor[d])
        c = _COUNTRIES[int(country[a])]
        ctx = {
            "device": {"type": _DEVICE_TYPES[t]},
            "os": {"name": os_name},
            "browser": {"name": browser},
            "userAgent": tmpl.format(v=int(versions[d]), m=int(minor[d])),
            "locale": c[3],
            "timezone": tz_names[int(tz[a])],
            "ip": f"{_IP_FIRST_OCTETS[first_octet[d]]}.{ips[d, 0]}.{ips[d, 1]}.{ips[d, 2]}",
        }
        if dev_app[d]:
            ctx["app"] = {"name": "Tailor Shop", "version": f"4.{int(minor[d])}.0"}
        contexts.append(ctx)

    return anon, contexts


def _plan_people(
    config: GeneratorConfig,
    rng: np.random.Generator,
    persona: np.ndarray,
    country: np.ndarray,
    city: list[int],
    signup_ms: np.ndarray,
    n_c: int,
) -> _People:
    gender_u = rng.random(n_c)
    name_u = rng.random((n_c, 3))
    age_sd = rng.normal(0, 1, size=n_c)
    bday = rng.integers(0, 365, size=n_c)
    email_variant = rng.random(n_c)
    domain = rng.integers(0, len(_EMAIL_DOMAINS), size=n_c)
    phone_digits = rng.integers(10_000_000, 99_999_999, size=n_c)
    phone_mid = rng.integers(150, 179, size=n_c)
    suffix = rng.integers(1, 99, size=n_c)
    used: set[str] = set()
    rows: list[list[str]] = []
    clean: list[str] = []
    crm: list[str] = []
    cities: list[tuple[tuple[str, str], ...]] = []
    prefixes: list[str] = []
    for i in range(n_c):
        c = _COUNTRIES[int(country[i])]
        females, males, lasts = _NAMES[c[2]]
        g = gender_u[i]
        gender = "f" if g < 0.47 else "m" if g < 0.93 else "x" if g < 0.95 else ""
        female = gender == "f" or (gender in ("x", "") and name_u[i, 2] < 0.5)
        firsts = females if female else males
        first = firsts[int(name_u[i, 0] * len(firsts))]
        last = lasts[int(name_u[i, 1] * len(lasts))]
        local = f"{_ascii(first)}.{_ascii(last)}".lower().replace(" ", "").replace("'", "")
        email = f"{local}@{_EMAIL_DOMAINS[domain[i]]}"
        k = int(suffix[i])
        while email in used:
            email = f"{local}{k}@{_EMAIL_DOMAINS[domain[i]]}"
            k += 7
        used.add(email)
        v = email_variant[i]
        shown = email
        if v < 0.06:
            lp, _, dom = email.partition("@")
            shown = ".".join(p.capitalize() for p in lp.split(".")) + "@" + dom.capitalize()
        elif v < 0.09:
            shown = f"  {email} "
        elif v < 0.11:
            lp, _, dom = email.partition("@")
            shown = (
                "  "
                + ".".join(p.capitalize() for p in lp.split("."))
                + "@"
                + dom.capitalize()
                + " "
            )
        elif v < 0.12:
            shown = email.upper()
        mean, sd = _PERSONA_PARAMS[int(persona[i])].age
        age = int(np.clip(round(mean + sd * age_sd[i]), 18, 88))
        birth = dt.date(config.start.year - age - 1, 1, 1) + dt.timedelta(days=int(bday[i]))
        cty, tzname = c[5][city[i]]
        phone = f"{c[4]} {phone_mid[i]} {phone_digits[i]}"
        created = _iso_seconds(int(signup_ms[i])) if signup_ms[i] >= 0 else ""
        rows.append(
            [
                "",
                shown,
                first,
                last,
                gender,
                birth.isoformat(),
                c[0],
                cty,
                tzname,
                phone,
                created,
                created,
            ]
        )
        clean.append(email)
        crm.append(shown)
        cities.append(c[5])
        prefixes.append(c[4])
    return _People(
        rows=rows,
        signup_ms=signup_ms,
        erase_ms=np.zeros(0, dtype=np.int64),
        erase_with_id=np.zeros(0, dtype=bool),
        email_clean=clean,
        email_crm=crm,
        city_choices=cities,
        phone_prefix=prefixes,
    )


# --------------------------------------------------------------------------- one day of events


class _Sampler:
    """Draws products for a day: by category and price level, or by brand, Zipf-weighted."""

    def __init__(self, w: _World, day: int):
        avail = w.prod_listed & (w.prod_created_day <= day) & (w.prod_active_until > day)
        idx_all = np.flatnonzero(avail)
        pop = w.prod_pop
        rel = w.prod_price[:, day] / w.leaf_median[w.prod_leaf]
        self.fallback = (idx_all, np.cumsum(pop[idx_all]))
        self.tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for c in range(len(_TAXONOMY)):
            idx = idx_all[w.prod_cat[idx_all] == c]
            if not len(idx):
                continue
            for k, tilt in enumerate(_TILTS):
                self.tables[c * 3 + k] = (idx, np.cumsum(pop[idx] * rel[idx] ** tilt))
        for b in np.unique(w.prod_brand[idx_all]):
            idx = idx_all[w.prod_brand[idx_all] == b]
            self.tables[100 + int(b)] = (idx, np.cumsum(pop[idx]))
        self.leaf_top: dict[int, list[dict]] = {}
        leaves = w.prod_leaf[idx_all]
        for leaf in np.unique(leaves):
            idx = idx_all[leaves == leaf]
            top = idx[np.argsort(-pop[idx], kind="stable")[:4]]
            self.leaf_top[int(leaf)] = [
                {"product_id": w.prod_ids[p], "position": k + 1} for k, p in enumerate(top)
            ]

    def draw(self, keys: np.ndarray, u: np.ndarray) -> np.ndarray:
        out = np.empty(len(keys), dtype=np.int64)
        if not len(keys):
            return out
        order = np.argsort(keys, kind="stable")
        sk = keys[order]
        bounds = np.flatnonzero(np.diff(sk)) + 1
        for lo, hi in zip(
            np.concatenate([[0], bounds]), np.concatenate([bounds, [len(sk)]]), strict=True
        ):
            idx, cum = self.tables.get(int(sk[lo]), self.fallback)
            sel = order[lo:hi]
            pos = np.searchsorted(cum, u[sel] * cum[-1], side="right")
            out[sel] = idx[np.minimum(pos, len(idx) - 1)]
        return out


@dataclass
class _DayOutput:
    day: int
    member: bytes  # gzip member holding the day's own event lines, in receivedAt order
    n_own: int
    own_dirt: list[tuple[int, str, str]]  # (0-based position among own lines, class, messageId)
    forward: list[
        tuple[int, int, int, int, bytes, str, str]
    ]  # (dest day, receivedAt ms, src day, seq, line, class, messageId)
    orders: list[
        tuple[int, int, int, list[str], list[list[str]]]
    ]  # (dest day, updated ms, order no, row, items)
    n_events: int


_PERSONA_ARR = {
    name: np.array([getattr(p, name) for p in _PERSONA_PARAMS], dtype=np.float64)
    for name in ("affinity", "search", "add", "extra_qty", "coupon", "price_class")
}


def _build_day(w: _World, day: int) -> _DayOutput:
    """Render the events and orders of the sessions (and phone orders) starting on ``day``."""
    cfg = w.config
    rng = _rng(cfg.seed, "day", day)
    sampler = _Sampler(w, day)
    lo, hi = (int(x) for x in np.searchsorted(w.s_day, [day, day + 1]))
    ns = hi - lo
    s_actor = w.s_actor[lo:hi]
    s_views = w.s_views[lo:hi]
    s_purchase = w.s_purchase[lo:hi]
    ph = np.flatnonzero(w.p_day == day)
    ph = ph[np.argsort(w.p_time[ph], kind="stable")]
    ph_items = 1 + rng.integers(0, 3, size=len(ph))

    # product picks for every view step of the day, then for phone orders
    v_actor = np.concatenate([np.repeat(s_actor, s_views), np.repeat(w.p_actor[ph], ph_items)])
    n_web = int(s_views.sum())
    nv_all = len(v_actor)
    v_persona = w.persona[v_actor]
    u = rng.random((nv_all, 6))
    second = (w.fav_cat[v_actor, 1] >= 0) & (u[:, 1] < 0.4)
    fav = w.fav_cat[v_actor, second.astype(np.int64)]
    glob = np.minimum(
        np.searchsorted(np.cumsum(w.cat_mass), u[:, 2], side="right"), len(_TAXONOMY) - 1
    )
    use_fav = u[:, 0] < _PERSONA_ARR["affinity"][v_persona]
    use_fav[n_web:] = True
    cat = np.where(use_fav, fav, glob)
    use_brand = use_fav & (u[:, 3] < 0.3)
    brand = w.fav_brand[v_actor, np.minimum((u[:, 4] * 3).astype(np.int64), 2)]
    pclass = _PERSONA_ARR["price_class"][v_persona].astype(np.int64)
    keys = np.where(use_brand, 100 + brand, cat * 3 + pclass)
    picks = sampler.draw(keys, u[:, 5]).tolist()
    f = rng.random((n_web, 5))
    purchase_v = np.repeat(s_purchase, s_views)
    search_f = (f[:, 0] < _PERSONA_ARR["search"][v_persona[:n_web]]).tolist()
    list_f = (f[:, 1] < 0.3).tolist()
    add_f = (
        f[:, 2] < _PERSONA_ARR["add"][v_persona[:n_web]] * np.where(purchase_v, 1.0, 0.5)
    ).tolist()
    remove_f = (f[:, 3] < 0.1).tolist()
    qty_v = (
        1
        + (f[:, 4] < _PERSONA_ARR["extra_qty"][v_persona[:n_web]]) * (1 + (rng.random(n_web) < 0.3))
    ).tolist()
    query_k = rng.integers(0, 3, size=n_web).tolist()
    su = rng.random((ns + len(ph), 8)).tolist()

    bound = 16 * ns + 7 * n_web + 8
    long_gaps = iter(
        np.clip(rng.lognormal(np.log(22_000), 0.85, size=bound), 1_500, 300_000)
        .astype(np.int64)
        .tolist()
    )
    short_gaps = iter(rng.integers(15, 900, size=bound).tolist())

    price_c = w.prod_price[:, day].tolist()
    price_eur = [c / 100 for c in price_c]
    pid, sku, title, ppath, pbrand, pslug = (
        w.prod_ids,
        w.prod_sku,
        w.prod_title,
        w.prod_path,
        w.prod_brand_name,
        w.prod_slug,
    )
    leaf_of = w.prod_leaf.tolist()
    persona_of = w.persona.tolist()
    coupon_rate = _PERSONA_ARR["coupon"].tolist()
    n_c = w.n_customers
    start_ms = w.window_start_ms
    last_day = cfg.days - 1

    evs: list[dict] = []
    times: list[int] = []
    kinds: list[int] = []
    sess_of: list[int] = []
    orders: list[tuple[int, int, int, list[str], list[list[str]]]] = []

    def product_props(p: int, q: int) -> dict:
        return {
            "product_id": pid[p],
            "sku": sku[p],
            "name": title[p],
            "category": ppath[p],
            "brand": pbrand[p],
            "price": price_eur[p],
            "currency": CURRENCY,
            "quantity": q,
        }

    def make_order(
        order_no: int, a: int, t: int, lines: list[tuple[int, int]], channel: str, r: list[float]
    ) -> dict:
        subtotal = sum(q * price_c[p] for p, q in lines)
        code, pct = "", 0
        persona = persona_of[a]
        if r[2] < coupon_rate[persona]:
            options = _COUPONS[persona]
            code, pct = options[int(r[3] * len(options))]
        discount = subtotal * pct // 100
        shipping = 0 if subtotal - discount >= 4_900 else 495
        total = subtotal - discount + shipping
        oid = f"O{order_no:08d}"
        ordered = _iso_seconds(t)
        status, updated = "completed", ordered
        if r[4] < 0.03:
            status = "cancelled"
            day_end = start_ms + ((t - start_ms) // MS_PER_DAY + 1) * MS_PER_DAY - 1_000
            updated = _iso_seconds(min(t + int(r[5] * 3 * MS_PER_HOUR) + 600_000, day_end))
        row = [
            oid,
            w.customer_ids[a],
            ordered,
            status,
            CURRENCY,
            _money(subtotal),
            _money(discount),
            _money(shipping),
            _money(total),
            code,
            channel,
            _COUNTRIES[int(w.country[a])][0],
            updated,
        ]
        items = []
        left = discount
        for k, (p, q) in enumerate(lines):
            line_total = q * price_c[p]
            share = left if k == len(lines) - 1 else discount * line_total // subtotal
            left -= share
            items.append(
                [
                    oid,
                    str(k + 1),
                    pid[p],
                    title[p],
                    str(q),
                    _money(price_c[p]),
                    _money(share),
                    CURRENCY,
                ]
            )
        o_day = (t - start_ms) // MS_PER_DAY
        orders.append((o_day, t, order_no, row, items))
        if r[4] >= 0.97:  # returned a few days later: the backend exports the changed order again
            back = o_day + 3 + int(r[6] * 7)
            if back <= last_day:
                t_back = (
                    start_ms + back * MS_PER_DAY + int(r[7] * 10 * MS_PER_HOUR) + 8 * MS_PER_HOUR
                )
                upd = list(row)
                upd[3] = "returned"
                upd[12] = _iso_seconds(t_back)
                orders.append((back, t_back, order_no, upd, []))
        return {
            "order_id": oid,
            "checkout_id": f"chk_{order_no:08d}",
            "total": total / 100,
            "revenue": (subtotal - discount) / 100,
            "shipping": shipping / 100,
            "discount": discount / 100,
            "coupon": code or None,
            "currency": CURRENCY,
            "products": [
                {"product_id": pid[p], "quantity": q, "price": price_eur[p]} for p, q in lines
            ],
        }

    # state of the session being rendered, read by the emitters below
    s = 0
    anon: str = ""
    uid: str | None = None
    base: dict = {}
    ctx: dict = {}
    tctx: dict = {}
    referrer = ""
    campaign: dict | None = None

    def page(name: str, path: str, page_title: str, t: int) -> None:
        nonlocal ctx, tctx, referrer, campaign
        url = SITE + path
        pg = {"path": path, "referrer": referrer, "title": page_title, "url": url}
        tctx = {"page": pg, **base}
        ctx = tctx if campaign is None else {"page": pg, "campaign": campaign, **base}
        evs.append(
            {
                "messageId": None,
                "type": "page",
                "name": name,
                "anonymousId": anon,
                "userId": uid,
                "timestamp": None,
                "sentAt": None,
                "receivedAt": None,
                "properties": pg,
                "context": ctx,
            }
        )
        times.append(t)
        kinds.append(_K_PLAIN)
        sess_of.append(s)
        referrer = url
        campaign = None

    def track(event: str, props: dict, t: int, kind: int = _K_PLAIN) -> None:
        evs.append(
            {
                "messageId": None,
                "type": "track",
                "event": event,
                "anonymousId": anon,
                "userId": uid,
                "timestamp": None,
                "sentAt": None,
                "receivedAt": None,
                "properties": props,
                "context": tctx,
            }
        )
        times.append(t)
        kinds.append(kind)
        sess_of.append(s)

    def identify(traits: dict, t: int) -> None:
        evs.append(
            {
                "messageId": None,
                "type": "identify",
                "anonymousId": anon,
                "userId": uid,
                "timestamp": None,
                "sentAt": None,
                "receivedAt": None,
                "traits": traits,
                "context": tctx,
            }
        )
        times.append(t)
        kinds.append(_K_CRITICAL)
        sess_of.append(s)

    def pause(elapsed: int) -> int:
        """Think time before the next action; sessions that run long only send quick follow-ups."""
        g = next(long_gaps)
        return g if elapsed < _SESSION_SOFT_MAX_MS else 1_000 + g // 100

    def sign_in(t: int, ident: int, a: int) -> int:
        """Log in (or sign up): from the identify call on, events carry the userId."""
        nonlocal uid
        t += next(long_gaps)  # signing in happens early in a session
        if ident == _ID_SIGNUP:
            page("Sign Up", "/account/signup", "Create your account | Tailor Shop", t)
        else:
            page("Sign In", "/account/login", "Sign in | Tailor Shop", t)
        t += next(long_gaps)
        uid = w.customer_ids[a]
        identify({"email": w.email_clean[a], "first_name": w.first_names[a]}, t)
        t += next(short_gaps)
        track("Signed Up" if ident == _ID_SIGNUP else "Signed In", {"method": "email"}, t)
        return t

    vo = 0
    for s in range(ns):
        g = lo + s
        a = int(w.s_actor[g])
        dv = int(w.s_device[g])
        t = int(w.s_start[g])
        s0 = t
        nv = int(s_views[s])
        rs = su[s]
        purchase = bool(s_purchase[s])
        ident = int(w.s_ident[g])
        anon = w.dev_anon[dv]
        base = w.dev_context[dv]
        cid = w.customer_ids[a] if a < n_c else None
        uid = cid if w.s_known[g] else None
        camp_i = int(w.s_campaign[g])
        if camp_i >= 0:
            c_src, c_med, c_name, referrer, landing = _CAMPAIGNS[camp_i]
            campaign = {"source": c_src, "medium": c_med, "name": c_name}
        else:
            campaign, landing = None, 0
            referrer = "https://www.google.com/" if rs[5] < 0.35 else ""
        ctx = {}
        tctx = {}

        if landing == 0:
            page("Home", "/", "Tailor Shop", t)
        elif landing == 1:
            leaf = leaf_of[picks[vo]]
            page(
                "Category",
                f"/c/{w.leaf_slug[leaf]}",
                f"{w.leaf_path[leaf].split(' > ')[-1]} | Tailor Shop",
                t,
            )
        pending_ident = ident in (_ID_LOGIN, _ID_SIGNUP)
        cart: dict[int, int] = {}
        added: list[tuple[int, int]] = []
        for j in range(vo, vo + nv):
            p = picks[j]
            if pending_ident and (landing != 2 or j > vo):
                pending_ident = False
                t = sign_in(t, ident, a)
            if landing == 2 and j == vo:
                page("Product", f"/p/{pslug[p]}", f"{title[p]} | Tailor Shop", t)
            else:
                step = pause(t - s0)
                if search_f[j]:
                    query = w.prod_queries[p][query_k[j]]
                    t += step
                    track("Products Searched", {"query": query}, t)
                    t += next(short_gaps)
                    page(
                        "Search",
                        f"/search?q={quote_plus(query)}",
                        f"Search: {query} | Tailor Shop",
                        t,
                    )
                    step = pause(t - s0)
                elif list_f[j]:
                    leaf = leaf_of[p]
                    t += step
                    page(
                        "Category",
                        f"/c/{w.leaf_slug[leaf]}",
                        f"{w.leaf_path[leaf].split(' > ')[-1]} | Tailor Shop",
                        t,
                    )
                    t += next(short_gaps)
                    track(
                        "Product List Viewed",
                        {
                            "list_id": w.leaf_slug[leaf],
                            "category": w.leaf_path[leaf],
                            "products": sampler.leaf_top.get(leaf, []),
                        },
                        t,
                    )
                    step = pause(t - s0)
                t += step
                page("Product", f"/p/{pslug[p]}", f"{title[p]} | Tailor Shop", t)
            t += next(short_gaps)
            track("Product Viewed", product_props(p, 1), t, _K_VIEWED)
            if add_f[j]:
                q = qty_v[j]
                t += pause(t - s0) // 3 + 500
                track("Product Added", product_props(p, q), t, _K_PRICED)
                cart[p] = cart.get(p, 0) + q
                added.append((p, j))
        vo += nv
        if pending_ident:
            t = sign_in(t, ident, a)
        for p, j in added:
            if p in cart and remove_f[j] and (not purchase or len(cart) > 1):
                t += pause(t - s0) // 2
                track("Product Removed", product_props(p, cart.pop(p)), t, _K_PRICED)
        if purchase and not cart:
            p = picks[vo - 1]
            t += pause(t - s0) // 3 + 500
            track("Product Added", product_props(p, 1), t, _K_PRICED)
            cart[p] = 1
        if cart and (purchase or rs[0] < 0.5):
            lines = list(cart.items())
            listed = [
                {"product_id": pid[p], "quantity": q, "price": price_eur[p]} for p, q in lines
            ]
            value = sum(q * price_c[p] for p, q in lines) / 100
            t += pause(t - s0)
            page("Cart", "/cart", "Your cart | Tailor Shop", t)
            t += next(short_gaps)
            track(
                "Cart Viewed", {"cart_id": f"cart_{anon[:8]}_{s0 // 1000}", "products": listed}, t
            )
            if purchase or rs[1] < 0.35:
                order_no = int(w.s_order[g])
                t += pause(t - s0)
                page("Checkout", "/checkout", "Checkout | Tailor Shop", t)
                t += next(short_gaps)
                checkout_id = f"chk_{order_no:08d}" if purchase else f"chk_s{s0 // 1000}"
                track(
                    "Checkout Started",
                    {
                        "checkout_id": checkout_id,
                        "value": value,
                        "currency": CURRENCY,
                        "products": listed,
                    },
                    t,
                )
                if purchase:
                    t += pause(t - s0) + 20_000
                    channel = "app" if w.dev_app[dv] else "web"
                    props = make_order(order_no, a, t, lines, channel, rs)
                    track("Order Completed", props, t, _K_CRITICAL)
                    t += next(short_gaps)
                    page(
                        "Order Confirmation", "/checkout/confirmation", "Thank you | Tailor Shop", t
                    )
        if ident == _ID_EMAIL:
            t += pause(t - s0)
            page("Newsletter", "/newsletter", "Newsletter | Tailor Shop", t)
            t += pause(t - s0) // 2
            identify({"email": w.email_typed[a]}, t)

    # phone orders: backend only, no events
    po = n_web
    for k, i in enumerate(ph.tolist()):
        n_items = int(ph_items[k])
        basket: dict[int, int] = {}
        for p in picks[po : po + n_items]:
            basket[p] = basket.get(p, 0) + 1
        po += n_items
        make_order(
            int(w.p_order[i]),
            int(w.p_actor[i]),
            int(w.p_time[i]),
            list(basket.items()),
            "phone",
            su[ns + k],
        )

    return _finish_day(w, day, rng, evs, times, kinds, sess_of, orders)


def _finish_day(
    w: _World,
    day: int,
    rng: np.random.Generator,
    evs: list[dict],
    times: list[int],
    kinds: list[int],
    sess_of: list[int],
    orders: list,
) -> _DayOutput:
    """Stamp ids and times, inject dirt, serialize, and split own lines from later partitions."""
    cfg = w.config
    dirt = cfg.dirt
    n = len(evs)
    start_ms = w.window_start_ms
    last_day = cfg.days - 1
    if n == 0:
        return _DayOutput(day, b"", 0, [], [], orders, 0)
    t = np.array(times, dtype=np.int64)
    kind = np.array(kinds, dtype=np.int8)
    sidx = np.array(sess_of, dtype=np.int64)
    ev_day = (t - start_ms) // MS_PER_DAY
    day_end = start_ms + (ev_day + 1) * MS_PER_DAY - 1
    delay = 20 + np.minimum(rng.lognormal(np.log(350), 1.0, size=n), 90_000).astype(np.int64)
    recv = np.minimum(t + delay, day_end)
    sent = np.minimum(t + rng.integers(2, 300, size=n), recv)
    dest = ev_day.copy()

    # one kind of dirt per record, each class among the records it can apply to
    cls = np.zeros(n, dtype=np.int8)
    u = rng.random(n)
    cum = np.zeros(n)
    destructive = kind != _K_CRITICAL
    specs = (
        (1, dirt.malformed_json, destructive),
        (2, dirt.missing_required, destructive),
        (3, dirt.invalid_timestamp, destructive),
        (4, dirt.bad_price, (kind == _K_PRICED) | (kind == _K_VIEWED)),
        (5, dirt.unknown_product, kind == _K_VIEWED),
        (6, dirt.schema_drift, np.ones(n, dtype=bool)),
        (7, dirt.late, ev_day < last_day),
        (8, dirt.duplicate, np.ones(n, dtype=bool)),
    )
    for code, rate, eligible in specs:
        if rate <= 0:
            continue
        p = np.where(eligible, rate, 0.0)
        cls[(u >= cum) & (u < cum + p)] = code
        cum = cum + p
    variant = rng.integers(0, 1 << 30, size=n)
    late = np.flatnonzero(cls == 7)
    if len(late):
        k = np.minimum(1 + variant[late] % 3, last_day - ev_day[late])
        dest[late] = ev_day[late] + k
        recv[late] = (
            start_ms + dest[late] * MS_PER_DAY + rng.integers(0, 20 * MS_PER_HOUR, size=len(late))
        )
        sent[late] = recv[late] - rng.integers(50, 2_000, size=len(late))
    dup = np.flatnonzero(cls == 8)
    dup_recv = recv[dup] + np.clip(
        rng.lognormal(np.log(600_000), 1.3, size=len(dup)), 1_000, 6 * MS_PER_HOUR
    ).astype(np.int64)
    dup_dest = (dup_recv - start_ms) // MS_PER_DAY
    ok = dup_dest <= last_day
    cls[dup[~ok]] = 0
    dup, dup_recv, dup_dest = dup[ok], dup_recv[ok], dup_dest[ok]

    # timestamps: UTC "Z", or the shopper's local offset for sessions of SDKs that send it
    s_lo = int(np.searchsorted(w.s_day, day))
    sess_g = s_lo + sidx
    mixed = w.s_mixed[sess_g]
    off_min = w.tz_offsets[w.tz[w.s_actor[sess_g]], np.clip(ev_day, -4, cfg.days + 3) + 4]
    local = t + np.where(mixed, off_min * 60_000, 0)
    suffixes = {m: _offset_str(m) for m in np.unique(off_min).tolist()}
    ts = [
        b + (suffixes[o] if m else "Z")
        for b, m, o in zip(_iso_ms_list(local), mixed.tolist(), off_min.tolist(), strict=True)
    ]
    sent_s = [b + "Z" for b in _iso_ms_list(sent)]
    recv_s = [b + "Z" for b in _iso_ms_list(recv)]
    mids = _uuid4_list(rng, n)
    for i, e in enumerate(evs):
        e["messageId"] = mids[i]
        e["timestamp"] = ts[i]
        e["sentAt"] = sent_s[i]
        e["receivedAt"] = recv_s[i]

    names = ("",) + DIRT_CLASSES
    dirt_mid = list(mids)
    dirty = np.flatnonzero((cls >= 2) & (cls <= 6)).tolist()
    for i in dirty:
        e = evs[i]
        c = int(cls[i])
        v = int(variant[i])
        if c == 2:
            which = v % 3
            if which == 0:
                del e["messageId"]
                dirt_mid[i] = ""
            elif which == 1:
                del e["timestamp"]
            else:
                del e["anonymousId"]
                del e["userId"]
        elif c == 3:
            e["timestamp"] = INVALID_TIMESTAMPS[v % len(INVALID_TIMESTAMPS)]
        elif c == 4:
            props = e["properties"] = dict(e["properties"])
            props["price"] = 0.0 if v % 2 == 0 else -props["price"]
        elif c == 5:
            props = e["properties"] = dict(e["properties"])
            props["product_id"] = f"P{900_000 + v % 99_999:06d}"
            props["sku"] = f"UNK-{v % 99_999:06d}"
        elif c == 6:
            for k in range(1 + v % 2):
                fname, values = DRIFT_FIELDS[(v // 7 + k) % len(DRIFT_FIELDS)]
                e[fname] = values[(v // 131) % len(values)]
    dumps = orjson.dumps
    lines = [dumps(e) for e in evs]
    for i in np.flatnonzero(cls == 1).tolist():
        full = lines[i]
        cut = max(8, int(len(full) * (0.2 + 0.75 * (int(variant[i]) % 1000) / 1000)))
        broken = full[:cut].decode("utf-8", "ignore").encode()
        while broken and _is_json(broken):
            broken = broken[:-1]
        lines[i] = broken or b"{"
    dup_lines = []
    for i, r in zip(dup.tolist(), _iso_ms_list(dup_recv), strict=True):
        copy = dict(evs[i])
        copy["receivedAt"] = r + "Z"
        dup_lines.append(dumps(copy))
    cls[dup] = 0

    all_lines = lines + dup_lines
    all_recv = np.concatenate([recv, dup_recv])
    all_dest = np.concatenate([dest, dup_dest])
    all_cls = np.concatenate([cls, np.full(len(dup), 8, dtype=np.int8)])
    all_mid = dirt_mid + [mids[i] for i in dup.tolist()]
    own = np.flatnonzero(all_dest == day)
    own = own[np.argsort(all_recv[own], kind="stable")]
    body = b"\n".join([all_lines[i] for i in own.tolist()])
    member = gzip.compress(body + b"\n", compresslevel=GZIP_LEVEL, mtime=0) if len(own) else b""
    own_cls = all_cls[own]
    own_dirt = [
        (int(k), names[int(own_cls[k])], all_mid[int(own[k])]) for k in np.flatnonzero(own_cls)
    ]
    fwd = np.flatnonzero(all_dest != day).tolist()
    forward = [
        (
            int(all_dest[i]),
            int(all_recv[i]),
            day,
            i,
            all_lines[i],
            names[int(all_cls[i])],
            all_mid[i],
        )
        for i in fwd
    ]
    return _DayOutput(day, member, len(own), own_dirt, forward, orders, len(all_lines))


def _is_json(raw: bytes) -> bool:
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return True


_WORKER_WORLD: list[_World] = []


def _init_worker(world: _World) -> None:
    _WORKER_WORLD[:] = [world]


def _worker_day(day: int) -> _DayOutput:
    return _build_day(_WORKER_WORLD[0], day)


def _day_outputs(world: _World, workers: int) -> Iterator[_DayOutput]:
    """Each day's output, in day order; with workers > 1 days are built in parallel."""
    if workers <= 1 or world.config.days == 1:
        for d in range(world.config.days):
            yield _build_day(world, d)
        return
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=mp.get_context(method),
        initializer=_init_worker,
        initargs=(world,),
    ) as pool:
        yield from pool.map(_worker_day, range(world.config.days))


# --------------------------------------------------------------------------- main-process writers


@dataclass
class _Output:
    landing: Path
    files: list[Path] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    dirt: list[tuple[str, str, str, int, str, str]] = field(default_factory=list)

    def path(self, source: str, day: dt.date, name: str) -> tuple[Path, str]:
        rel = f"{source}/dt={day.isoformat()}/{name}"
        return self.landing / rel, rel

    def write(self, source: str, day: dt.date, name: str, data: bytes, records: int) -> str:
        path, rel = self.path(source, day, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files.append(path)
        self.counts.setdefault(source, {})[day.isoformat()] = records
        return rel


def _dirty_csv_rows(
    rng: np.random.Generator,
    rows: list[list[str]],
    redelivered: int,
    rates: tuple[tuple[str, float], ...],
    can_redeliver: bool,
    source: str,
) -> tuple[list[str], list[tuple[int, str]], list[list[str]]]:
    """CSV lines for ``rows`` with dirt injected; the last ``redelivered`` rows stay clean.

    A dirty row is sent again, corrected, in the next day's export (``can_redeliver``),
    the way a backend re-exports a record after a fix, so no entity is lost for good.
    """
    u = rng.random(len(rows))
    variant = rng.integers(0, 1 << 30, size=len(rows))
    lines: list[str] = []
    dirt: list[tuple[int, str]] = []
    again: list[list[str]] = []
    fresh = len(rows) - redelivered
    for k, row in enumerate(rows):
        cls = ""
        if can_redeliver and k < fresh:
            cum = 0.0
            for name, rate in rates:
                if cum <= u[k] < cum + rate:
                    cls = name
                    break
                cum += rate
        if not cls:
            lines.append(_csv_line(row))
            continue
        v = int(variant[k])
        bad = list(row)
        if cls == "missing_required":
            bad[0] = ""
        elif cls == "malformed_csv":
            if v % 2 == 0:
                bad = bad[:-2]
            elif source == "customers":  # the city and its country spilled into two fields
                bad = bad[:8] + [bad[6]] + bad[8:]
            else:  # an amount written with a decimal comma, unquoted
                whole, _, cents = bad[8].partition(".")
                bad = bad[:8] + [whole, cents] + bad[9:]
        elif cls == "bad_price":
            bad[5] = "0.00" if v % 2 == 0 else "-" + bad[5]
        lines.append(",".join(bad) + "\n" if cls == "malformed_csv" else _csv_line(bad))
        dirt.append((k + 1, cls))
        again.append(row)
    return lines, dirt, again


def _write_products(world: _World, out: _Output) -> None:
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    cfg = world.config
    n0 = int((world.prod_created_day < 0).sum())
    per_day: dict[int, list[tuple[int, int]]] = {
        0: [(p, int(world.prod_created_ms[p])) for p in range(n0)]
    }
    for d, changes in sorted(world.catalog_changes.items()):
        per_day.setdefault(d, []).extend(sorted(changes, key=lambda c: (c[1], c[0])))
    schema = pa.schema(
        [
            ("product_id", pa.string()),
            ("title", pa.string()),
            ("description", pa.string()),
            ("category_path", pa.string()),
            ("brand", pa.string()),
            ("price", pa.decimal128(18, 2)),
            ("currency", pa.string()),
            ("is_active", pa.bool_()),
            ("created_at", pa.string()),
            ("updated_at", pa.string()),
        ]
    )
    for d in sorted(per_day):
        rows = per_day[d]
        cols: dict[str, list] = {name: [] for name in schema.names}
        for p, updated in rows:
            cols["product_id"].append(world.prod_ids[p])
            cols["title"].append(world.prod_title[p])
            cols["description"].append(world.prod_desc[p])
            cols["category_path"].append(world.prod_path[p])
            cols["brand"].append(world.prod_brand_name[p])
            cols["price"].append(decimal.Decimal(_money(int(world.prod_price[p, d]))))
            cols["currency"].append(CURRENCY)
            cols["is_active"].append(bool(world.prod_listed[p] and world.prod_active_until[p] > d))
            cols["created_at"].append(_iso_seconds(int(world.prod_created_ms[p])))
            cols["updated_at"].append(_iso_seconds(updated))
        table = pa.table(cols, schema=schema)
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        out.write(
            "products",
            cfg.start + dt.timedelta(days=d),
            "products.parquet",
            buf.getvalue(),
            len(rows),
        )


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


def _write_csv_partitions(
    world: _World,
    out: _Output,
    source: str,
    rows_by_day: dict[int, list[list[str]]],
    rates: tuple[tuple[str, float], ...],
) -> None:
    cfg = world.config
    header = list(SOURCES[source].columns)
    carry: list[list[str]] = []
    for d in range(cfg.days):
        rows = rows_by_day.get(d, []) + carry
        if not rows:
            carry = []
            continue
        rng = _rng(cfg.seed, f"csv:{source}", d)
        lines, dirt, carry = _dirty_csv_rows(rng, rows, len(carry), rates, d < cfg.days - 1, source)
        day = cfg.start + dt.timedelta(days=d)
        text = _csv_line(header) + "".join(lines)
        rel = out.write(source, day, f"{source}.csv", text.encode(), len(rows))
        for rec, cls in dirt:
            out.dirt.append((source, day.isoformat(), rel, rec, cls, ""))


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


def _write_ndjson_gz(out: _Output, source: str, day: dt.date, records: list[dict]) -> None:
    body = b"".join(orjson.dumps(r) + b"\n" for r in records)
    out.write(
        source,
        day,
        f"{source}.ndjson.gz",
        gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0),
        len(records),
    )


def _write_ground_truth(
    world: _World,
    people: _People,
    out: _Output,
    ground_truth: Path,
    consents_final: list[list[str]],
) -> None:
    ground_truth.mkdir(parents=True, exist_ok=True)
    n_c = world.n_customers
    personas = sorted(
        [
            world.customer_ids[i],
            PERSONAS[int(world.persona[i])],
            _iso_seconds(int(people.signup_ms[i]))[:10],
        ]
        for i in range(n_c)
    )
    (ground_truth / "personas.csv").write_text(
        _csv_text(["customer_id", "persona", "signup_date"], personas)
    )

    linked = np.zeros(len(world.dev_actor), dtype=np.int64)  # 1 userId, 2 email
    login = (world.s_ident == _ID_LOGIN) | (world.s_ident == _ID_SIGNUP)
    linked[world.s_device[world.s_ident == _ID_EMAIL]] = 2
    linked[world.s_device[login]] = 1
    how = ("none", "userId", "email")
    identities = sorted(
        [
            world.customer_ids[int(a)],
            world.dev_anon[d],
            _DEVICE_TYPES[int(world.dev_type[d])],
            how[int(linked[d])],
        ]
        for d, a in enumerate(world.dev_actor.tolist())
        if a < n_c
    )
    (ground_truth / "identities.csv").write_text(
        _csv_text(
            ["anonymous_id", "customer_id", "device_type", "identified_by"],
            [[r[1], r[0], r[2], r[3]] for r in identities],
        )
    )
    (ground_truth / "consents.csv").write_text(
        _csv_text(["customer_id", "purpose", "granted", "consented_at", "source"], consents_final)
    )
    dirt_rows = sorted(out.dirt, key=lambda r: (r[0], r[1], r[2], r[3]))
    (ground_truth / "dirt.csv").write_text(
        _csv_text(
            ["source", "dt", "file", "line", "dirt_class", "message_id"],
            [[str(x) for x in r] for r in dirt_rows],
        )
    )
    dirt_counts: dict[str, int] = {}
    for r in dirt_rows:
        dirt_counts[r[4]] = dirt_counts.get(r[4], 0) + 1
    persona_counts = {p: int((world.persona[:n_c] == k).sum()) for k, p in enumerate(PERSONAS)}
    manifest = {
        "config": world.config.as_dict(),
        "window": {
            "start": world.config.start.isoformat(),
            "end": (world.config.start + dt.timedelta(days=world.config.days - 1)).isoformat(),
        },
        "records": {s: dict(sorted(out.counts.get(s, {}).items())) for s in GENERATED_SOURCES},
        "totals": {s: sum(out.counts.get(s, {}).values()) for s in GENERATED_SOURCES},
        "dirt": dict(sorted(dirt_counts.items())),
        "personas": persona_counts,
        "anonymous_visitors": int(len(world.persona) - n_c),
        "devices": int((world.dev_actor < n_c).sum()),
        "erasure_requests": int((people.erase_ms >= 0).sum()),
    }
    (ground_truth / "manifest.json").write_text(
        json.dumps(manifest, indent=2, sort_keys=False) + "\n"
    )


def _inject_event_incident(out: _Output, inc: Incident, seed: int) -> tuple[int, int]:
    """Rewrite the day's events file with the incident; renumber (or drop) the dirt rows
    of the file. Returns (change in the number of events, records affected)."""
    path, rel = out.path("events", inc.day, "events.ndjson.gz")
    if not path.exists():
        raise ValueError(f"incident {inc.kind} on {inc.day}: no events file for that day")
    dirty = {r[3] for r in out.dirt if r[0] == "events" and r[2] == rel}
    data, mapping, n, affected = rewrite_events_file(
        path.read_bytes(), inc, seed, dirty, GZIP_LEVEL
    )
    path.write_bytes(data)
    dirt = []
    for r in out.dirt:
        if r[0] == "events" and r[2] == rel:
            line = mapping[r[3] - 1]
            if line is None:
                continue
            r = (r[0], r[1], r[2], line, r[4], r[5])
        dirt.append(r)
    out.dirt[:] = dirt
    before = out.counts["events"][inc.day.isoformat()]
    out.counts["events"][inc.day.isoformat()] = n
    return n - before, affected


def _inject_consent_bug(
    world: _World,
    people: _People,
    inc: Incident,
    consent_days: dict[int, list[dict]],
    final: list[list[str]],
) -> int:
    """Add the day's bogus withdrawals to ``consent_days`` and to the final consent state
    (ground truth) where they are the customer's latest record. Returns how many."""
    d = (inc.day - world.config.start).days
    erased = {world.customer_ids[i] for i in np.flatnonzero(people.erase_ms >= 0).tolist()}
    granted: dict[str, bool] = {}
    for day in sorted(k for k in consent_days if k < d):
        for r in consent_days[day]:
            if r["purpose"] == "personalization":
                granted[r["subject_id"]] = r["granted"]
    subjects = sorted(s for s, g in granted.items() if g and s not in erased)
    first_id = sum(len(v) for v in consent_days.values()) + 1
    records = consent_bug_records(inc, world.config.seed, subjects, first_id)
    consent_days.setdefault(d, []).extend(records)
    consent_days[d].sort(key=lambda r: r["consented_at"])
    latest = {r["subject_id"]: r for r in records}
    for row in final:
        rec = latest.get(row[0])
        if rec and row[1] == "personalization" and row[3] < rec["consented_at"]:
            row[2:5] = ["false", rec["consented_at"], rec["source"]]
    return len(records)


def _write_incidents(ground_truth: Path, injected: list[tuple[Incident, int]]) -> None:
    rows = ground_truth_rows(injected)
    (ground_truth / "incidents.csv").write_text(_csv_text(INCIDENTS_HEADER, rows))
    manifest_path = ground_truth / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["incidents"] = [dict(zip(INCIDENTS_HEADER, r, strict=True)) for r in rows]
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")


def _clear_previous(landing: Path, ground_truth: Path) -> None:
    for source in GENERATED_SOURCES:
        shutil.rmtree(landing / source, ignore_errors=True)
    for name in GROUND_TRUTH_FILES:
        (ground_truth / name).unlink(missing_ok=True)


def _default_workers(world: _World) -> int:
    expected_events = int(world.s_views.sum()) * 3
    cpus = os.cpu_count() or 1
    return min(2, cpus) if expected_events > 200_000 else 1


# --------------------------------------------------------------------------- entry point


def generate(
    config: GeneratorConfig,
    landing: Path,
    ground_truth: Path,
    progress: Callable[[int, int], None] | None = None,
    *,
    workers: int | None = None,
    incidents: tuple[Incident, ...] = (),
) -> GenerationSummary:
    """Write synthetic source data for ``config.days`` days into ``landing``.

    Removes the previous output of the generated sources (and the ground-truth files)
    first, so a rerun with the same config gives byte-identical files. ``progress(done,
    total)`` is called as days finish. ``workers`` (default: 2 for large configs, else 1)
    builds days in parallel processes without changing the output. ``incidents``
    (``tailor.incidents``) break the days they name; without them nothing changes.
    """
    began = time.perf_counter()
    config.validate()
    check_window(incidents, config.start, config.days)
    injected: list[tuple[Incident, int]] = []
    landing, ground_truth = Path(landing), Path(ground_truth)
    _clear_previous(landing, ground_truth)
    world, people = _plan_world(config)
    out = _Output(landing)
    start = config.start
    dirt = config.dirt

    _write_products(world, out)
    _write_csv_partitions(
        world,
        out,
        "customers",
        _customer_rows(world, people),
        (("missing_required", dirt.missing_required), ("malformed_csv", dirt.malformed_csv)),
    )
    consent_days, consents_final = _consent_records(world, people)
    for inc in incidents:
        if inc.kind == "consent_banner_bug":
            injected.append(
                (inc, _inject_consent_bug(world, people, inc, consent_days, consents_final))
            )
    for d in sorted(consent_days):
        _write_ndjson_gz(out, "consents", start + dt.timedelta(days=d), consent_days[d])
    for d, rows in sorted(_erasure_rows(world, people).items()):
        text = _csv_line(list(SOURCES["erasure_requests"].columns)) + "".join(
            _csv_line(r) for r in rows
        )
        out.write(
            "erasure_requests",
            start + dt.timedelta(days=d),
            "erasure_requests.csv",
            text.encode(),
            len(rows),
        )

    forward: dict[int, list[tuple[int, int, int, int, bytes, str, str]]] = {}
    order_rows: dict[int, list[tuple[int, int, int, list[str], list[list[str]]]]] = {}
    carry_orders: list[list[str]] = []
    carry_items: list[list[str]] = []
    order_header = list(SOURCES["orders"].columns)
    item_header = list(SOURCES["order_items"].columns)
    n_events = 0
    n_workers = _default_workers(world) if workers is None else max(1, workers)
    for res in _day_outputs(world, n_workers):
        d = res.day
        day = start + dt.timedelta(days=d)
        for item in res.forward:
            forward.setdefault(item[0], []).append(item)
        for o in res.orders:
            order_rows.setdefault(o[0], []).append(o)

        incoming = sorted(forward.pop(d, []), key=lambda x: (x[1], x[2], x[3]))
        if incoming or res.n_own:
            head = b"".join(x[4] + b"\n" for x in incoming)
            data = (
                gzip.compress(head, compresslevel=GZIP_LEVEL, mtime=0) if incoming else b""
            ) + res.member
            rel = out.write("events", day, "events.ndjson.gz", data, len(incoming) + res.n_own)
            n_events += len(incoming) + res.n_own
            for k, x in enumerate(incoming, start=1):
                if x[5]:
                    out.dirt.append(("events", day.isoformat(), rel, k, x[5], x[6]))
            for pos, cls, mid in res.own_dirt:
                out.dirt.append(("events", day.isoformat(), rel, len(incoming) + pos + 1, cls, mid))

        todays = sorted(order_rows.pop(d, []), key=lambda o: (o[1], o[2]))
        rows = [o[3] for o in todays] + carry_orders
        items = [it for o in todays for it in o[4]] + carry_items
        last = d == config.days - 1
        if rows:
            lines, bad, carry_orders = _dirty_csv_rows(
                _rng(config.seed, "csv:orders", d),
                rows,
                len(carry_orders),
                (
                    ("missing_required", dirt.missing_required),
                    ("malformed_csv", dirt.malformed_csv),
                ),
                not last,
                "orders",
            )
            rel = out.write(
                "orders",
                day,
                "orders.csv",
                (_csv_line(order_header) + "".join(lines)).encode(),
                len(rows),
            )
            out.dirt.extend(("orders", day.isoformat(), rel, rec, cls, "") for rec, cls in bad)
        else:
            carry_orders = []
        if items:
            lines, bad, carry_items = _dirty_csv_rows(
                _rng(config.seed, "csv:order_items", d),
                items,
                len(carry_items),
                (("bad_price", dirt.bad_price),),
                not last,
                "order_items",
            )
            rel = out.write(
                "order_items",
                day,
                "order_items.csv",
                (_csv_line(item_header) + "".join(lines)).encode(),
                len(items),
            )
            out.dirt.extend(("order_items", day.isoformat(), rel, rec, cls, "") for rec, cls in bad)
        else:
            carry_items = []
        if progress:
            progress(d + 1, config.days)

    for inc in incidents:
        if inc.kind in EVENT_INCIDENTS:
            n_new, affected = _inject_event_incident(out, inc, config.seed)
            n_events += n_new
            injected.append((inc, affected))
    _write_ground_truth(world, people, out, ground_truth, consents_final)
    if injected:
        _write_incidents(ground_truth, injected)
    rows_per_source = {s: sum(out.counts.get(s, {}).values()) for s in GENERATED_SOURCES}
    return GenerationSummary(
        files=sorted(out.files),
        rows=rows_per_source,
        events=n_events,
        seconds=time.perf_counter() - began,
    )


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
