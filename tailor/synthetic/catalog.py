"""The product catalog: the taxonomy and words products are named from, and the plan of the
catalog (products, prices, popularity, changes during the window).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from tailor.synthetic.common import _rng, _slug
from tailor.synthetic.config import MS_PER_DAY, MS_PER_HOUR, GeneratorConfig

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


def _product_draws(rng: np.random.Generator, cats: np.ndarray, tables: dict) -> dict:
    """Leaf, brand, price and the words of the name of new products in categories ``cats``."""
    k = len(cats)
    leaf = np.empty(k, dtype=np.int64)
    brand = np.empty(k, dtype=np.int64)
    for ci in range(len(_TAXONOMY)):
        members = np.flatnonzero(cats == ci)
        if not len(members):
            continue
        leaves, lw = tables["leaves"][ci]
        leaf[members] = leaves[rng.choice(len(leaves), size=len(members), p=lw)]
        brands, bw = tables["brands"][ci]
        brand[members] = brands[rng.choice(len(brands), size=len(members), p=bw)]
    base = tables["leaf_median"][leaf] * np.exp(rng.normal(0, 0.5, size=k))
    endings = np.array([99, 99, 99, 49, 95, 0])
    cents = (np.floor(base / 100) * 100 + endings[rng.integers(0, len(endings), size=k)]).astype(
        np.int64
    )
    return dict(
        leaf=leaf,
        brand=brand,
        cents=np.maximum(cents, 149),
        adj=rng.integers(0, len(_ADJECTIVES), size=k),
        noun_u=rng.random(k),
        form=rng.integers(0, 3, size=k),
    )


def _plan_catalog(config: GeneratorConfig, days: int) -> dict:
    """The catalog for ``days`` days: the initial products from the ``catalog`` stream, and
    each later day's new products, price changes and delistings from that day's stream, so
    a day's catalog does not depend on how many days follow it."""
    rng = _rng(config.seed, "catalog")
    n = config.products
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
    tables: dict = {"leaves": [], "brands": [], "leaf_median": np.array(leaf_median, dtype=float)}
    for ci in range(len(cats)):
        leaves = np.flatnonzero(leaf_cat_arr == ci)
        # a couple of leaves carry most of a category
        tables["leaves"].append((leaves, rng.dirichlet(np.full(len(leaves), 2.0))))
        brands = np.flatnonzero(brand_cat_arr == ci)
        bw = 1.0 / np.arange(1, len(brands) + 1) ** 0.8
        tables["brands"].append((brands, bw / bw.sum()))

    prod_cat = np.repeat(np.arange(len(cats)), counts).astype(np.int64)
    draws = [_product_draws(rng, prod_cat, tables)]
    # Zipf-like popularity over a random rank order
    pop = [1.0 / (rng.permutation(n) + 1.0) ** 1.05]
    listed = np.ones(n, dtype=bool)
    first_of_cat = {int(np.flatnonzero(prod_cat == ci)[0]) for ci in range(len(cats))}
    for p in np.flatnonzero(rng.random(n) < 0.02):
        if int(p) not in first_of_cat:
            listed[p] = False
    start_ms = (config.start - dt.date(1970, 1, 1)).days * MS_PER_DAY
    created = [start_ms - rng.integers(3 * MS_PER_DAY, 730 * MS_PER_DAY, size=n)]
    created_day = [np.full(n, -1, dtype=np.int64)]
    cat_parts = [prod_cat]
    price_now = draws[0]["cents"].copy()
    active_until = np.full(n, days, dtype=np.int64)
    prices = [price_now.copy()]
    changes: dict[int, list[tuple[int, int]]] = {}
    for d in range(1, days):
        r = _rng(config.seed, "catalog", d)
        total = len(price_now)
        k = int(r.poisson(max(0.3, n * 0.0015)))
        new_cats = r.choice(len(cats), size=k, p=cat_share).astype(np.int64)
        new = _product_draws(r, new_cats, tables)
        new_created = start_ms + d * MS_PER_DAY + r.integers(0, 2 * MS_PER_HOUR, size=k)
        draws.append(new)
        pop.append(1.0 / (r.integers(0, n, size=k) + 1.0) ** 1.05)
        created.append(new_created)
        created_day.append(np.full(k, d, dtype=np.int64))
        cat_parts.append(new_cats)
        changes.setdefault(d, []).extend(
            (total + j, int(t)) for j, t in enumerate(new_created.tolist())
        )
        # price changes and delistings among the products listed before the day
        was_listed = np.concatenate([listed, np.ones(total - n, dtype=bool)])
        existing = np.flatnonzero(was_listed & (active_until[:total] > d))
        n_price = min(len(existing), int(r.poisson(max(0.5, n * 0.004))))
        n_off = min(len(existing), int(r.poisson(max(0.1, n * 0.0006))))
        touched = r.choice(existing, size=n_price + n_off, replace=False) if n_price + n_off else []
        price_now = np.concatenate([price_now, new["cents"]])
        active_until = np.concatenate([active_until, np.full(k, days, dtype=np.int64)])
        for j, p in enumerate(touched):
            p = int(p)
            if j < n_price:
                factor = r.choice([0.8, 0.85, 0.9, 1.1, 1.15])
                price_now[p] = int(max(149, np.floor(price_now[p] * factor / 100) * 100 + 99))
            elif p not in first_of_cat:
                active_until[p] = d
            else:
                continue
            changes[d].append((p, start_ms + d * MS_PER_DAY + int(r.integers(0, 2 * MS_PER_HOUR))))
        prices.append(price_now.copy())

    total = len(price_now)
    price = np.empty((total, days), dtype=np.int64)
    for d, column in enumerate(prices):
        price[: len(column), d] = column
        price[len(column) :, d] = 0  # not created yet
    prod_cat = np.concatenate(cat_parts)
    cols = {key: np.concatenate([x[key] for x in draws]) for key in draws[0]}
    listed = np.concatenate([listed, np.ones(total - n, dtype=bool)])

    ids, skus, titles, descs, paths, bnames, slugs, queries = [], [], [], [], [], [], [], []
    for p in range(total):
        ci = int(prod_cat[p])
        leaf = int(cols["leaf"][p])
        top = cats[ci][0]
        nouns = leaf_nouns[leaf]
        noun = nouns[int(cols["noun_u"][p] * len(nouns))]
        adj = _ADJECTIVES[int(cols["adj"][p])]
        brand = brand_names[int(cols["brand"][p])]
        title = f"{brand} {adj} {noun}"
        leaf_name = leaf_path[leaf].split(" > ")[-1].lower()
        form = int(cols["form"][p])
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
        prod_leaf=cols["leaf"],
        prod_brand=cols["brand"],
        prod_pop=np.concatenate(pop),
        prod_price=price,
        prod_created_day=np.concatenate(created_day),
        prod_created_ms=np.concatenate(created),
        prod_listed=listed,
        prod_active_until=active_until,
        leaf_median=np.array(leaf_median, dtype=np.int64),
        leaf_path=leaf_path,
        leaf_slug=leaf_slug,
        cat_mass=cat_share,
        catalog_changes={d: c for d, c in changes.items() if c},
        brand_cat=brand_cat_arr,
    )
