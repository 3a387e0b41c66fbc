"""What the job reads: the warehouse as of a day (:func:`load_data`) as integer-indexed
interactions (:class:`RecData`), and the weighted matrices derived from them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ml.recommend.config import KINDS, RecommendConfig
from ml.recommenders import product_text


@dataclass
class RecData:
    """What the job knows, with customers and products as integer indices.

    ``interactions`` has one row per (user, item) with ``score`` decayed to ``as_of``,
    ``purchases`` (count), ``kind`` (strongest interaction code) and ``first_at``;
    ``events`` one row per interaction event up to ``as_of`` (``user``, ``item``, ``kind``,
    ``at`` and ``t``, the instant in float days), what the evaluation splits per customer
    and the models are fitted on.
    """

    customer_ids: np.ndarray
    products: pd.DataFrame
    interactions: pd.DataFrame
    events: pd.DataFrame
    as_of: dt.datetime
    groups: np.ndarray
    group_names: list[str]
    servable: np.ndarray
    consent: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.customer_ids)

    @property
    def n_items(self) -> int:
        return len(self.products)

    @property
    def as_of_days(self) -> float:
        return float(days(np.array([self.as_of]))[0])

    def kinds_present(self) -> set[str]:
        """The interaction kinds the store sends (view, cart, purchase)."""
        codes = set(np.unique(self.events["kind"]).tolist()) if len(self.events) else set()
        codes |= (
            set(np.unique(self.interactions["kind"]).tolist()) if len(self.interactions) else set()
        )
        return {kind for kind, code in KINDS.items() if code in codes}

    @property
    def allowed(self) -> np.ndarray:
        return self.products["is_recommendable"].to_numpy(dtype=bool)


def sparse_matrix(
    rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    m = sp.csr_matrix((np.asarray(vals, dtype=np.float32), (rows, cols)), shape=shape)
    m.sum_duplicates()
    return m


@dataclass(frozen=True)
class Features:
    """How events become the interaction matrix the models read: a weight per kind and a
    recency half-life in days (None: no decay)."""

    weights: Mapping[str, float]
    half_life_days: float | None

    def describe(self) -> dict[str, Any]:
        return {"weights": dict(self.weights), "half_life_days": self.half_life_days}


def days(at: pd.Series | np.ndarray) -> np.ndarray:
    """Timestamps as float days since the epoch."""
    values = np.asarray(pd.to_datetime(at), dtype="datetime64[us]").astype(np.int64)
    return values / 86_400e6


def interaction_matrix(
    events: pd.DataFrame,
    shape: tuple[int, int],
    features: Features,
    reference: np.ndarray | float,
) -> sp.csr_matrix:
    """``x_ui = sum over the events of (u, i) of weight(kind) * 0.5^(age / half_life)``, the
    age counted from ``reference`` (float days: one per user, or one for all)."""
    if events.empty:
        return sp.csr_matrix(shape, dtype=np.float32)
    users = events["user"].to_numpy()
    by_code = np.zeros(max(KINDS.values()) + 1)
    for kind, code in KINDS.items():
        by_code[code] = float(features.weights.get(kind, 1.0))
    w = by_code[events["kind"].to_numpy()]
    if features.half_life_days:
        ref = reference[users] if isinstance(reference, np.ndarray) else reference
        age = np.maximum(ref - events["t"].to_numpy(), 0.0)
        w = w * decay(age, features.half_life_days)
    return sparse_matrix(users, events["item"].to_numpy(), w, shape)


def full_matrix(data: RecData, features: Features | None = None) -> sp.csr_matrix:
    """All interactions, weighted by ``features`` and decayed to each customer's latest
    interaction (as the mart decays them), or the mart's scores decayed to ``as_of``."""
    if features is not None:
        reference = last_instants(data.events, data.n_users, data.as_of_days)
        return interaction_matrix(data.events, (data.n_users, data.n_items), features, reference)
    it = data.interactions
    return sparse_matrix(
        it["user"].to_numpy(),
        it["item"].to_numpy(),
        it["score"].to_numpy(),
        (data.n_users, data.n_items),
    )


def kind_matrix(data: RecData) -> sp.csr_matrix:
    """The strongest interaction kind (1 view, 2 cart, 3 purchase) per user and item."""
    it = data.interactions
    return sparse_matrix(
        it["user"].to_numpy(),
        it["item"].to_numpy(),
        it["kind"].to_numpy(),
        (data.n_users, data.n_items),
    )


def decay(ages_days: np.ndarray, half_life: float) -> np.ndarray:
    return np.power(0.5, np.asarray(ages_days, dtype=np.float64) / half_life)


def purchase_matrix(data: RecData, events: pd.DataFrame | None = None) -> sp.csr_matrix:
    """Products each customer bought: in the mart, or in ``events`` when given (the
    training part of a split)."""
    if events is not None:
        bought = events[events["kind"] == KINDS["purchase"]]
        counts = sparse_matrix(
            bought["user"].to_numpy(),
            bought["item"].to_numpy(),
            np.ones(len(bought)),
            (data.n_users, data.n_items),
        )
    else:
        it = data.interactions
        bought = it[it["purchases"] > 0]
        counts = sparse_matrix(
            bought["user"].to_numpy(),
            bought["item"].to_numpy(),
            bought["purchases"].to_numpy(),
            (data.n_users, data.n_items),
        )
    counts.data[:] = 1.0
    return counts


def table_exists(con: Any, table: str) -> bool:
    schema, name = table.split(".")
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )


def table_columns(con: Any, table: str) -> set[str]:
    schema, name = table.split(".")
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchall()
    return {r[0].lower() for r in rows}


# the tables load_data reads
READS = (
    "marts.user_item_interactions",
    "marts.user_item_events",
    "marts.products",
    "marts.customers",
)
# what INTERACTION_EVENTS_SQL reads, where marts.user_item_events is missing
EVENTS_FALLBACK_READS = (
    "intermediate.int_events_stitched",
    "intermediate.int_order_items_classified",
    "staging.stg_shop__orders",
)

# marts.user_item_events' selection again, for a warehouse built before that model existed
INTERACTION_EVENTS_SQL = """
-- The interaction events of marts.user_item_interactions, one row per event
-- (the mart's event_signals and order_signals).
select
    events.customer_id,
    events.product_id,
    case
        when events.event_name = 'Product Viewed' then 'view'
        when events.event_name = 'Product Added' then 'cart'
        else 'purchase'
    end as interaction_type,
    events.event_at as interacted_at
from intermediate.int_events_stitched as events
left join staging.stg_shop__orders as orders
    on events.order_id = orders.order_id
where events.customer_id is not null
    and events.product_id is not null
    and (
        events.event_name in ('Product Viewed', 'Product Added')
        or (events.event_name = 'Order Completed' and orders.order_id is null)
    )
union all
select
    orders.customer_id,
    items.product_id,
    'purchase' as interaction_type,
    orders.ordered_at as interacted_at
from intermediate.int_order_items_classified as items
inner join staging.stg_shop__orders as orders
    on items.order_id = orders.order_id
where items.is_product
    and orders.customer_id is not null
    and orders.status = 'completed'
    and items.quantity > 0
"""


def interaction_events_sql(con: Any) -> str:
    """SQL for the interaction events: ``marts.user_item_events`` when the dbt project has
    it, else the same selection from the intermediate models."""
    if table_exists(con, "marts.user_item_events"):
        return "select customer_id, product_id, interaction_type, interacted_at from marts.user_item_events"
    return INTERACTION_EVENTS_SQL


def load_data(
    con: Any, day: dt.date, config: RecommendConfig, *, events_sql: str | None = None
) -> RecData:
    """Read the warehouse as of the end of ``day``.

    Customer and product ids are mapped to integer indices inside DuckDB, so that only
    integer arrays cross into Python for the interactions.
    """
    config = config if config.half_life_days is not None else config.with_dbt_vars(None)
    as_of = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
    h = float(config.half_life_days) or 1e9  # 0: no decay
    has_customers = table_exists(con, "marts.customers")
    cust_cols = table_columns(con, "marts.customers") if has_customers else set()
    consent_expr = (
        "coalesce(c.has_personalization_consent, false)"
        if "has_personalization_consent" in cust_cols
        else "true"
    )
    con.execute("drop table if exists _rec_customers")
    con.execute(
        f"""
        create temp table _rec_customers as
        with known as (
            {"select customer_id, " + consent_expr + " as consent from marts.customers as c" if has_customers else "select null::varchar as customer_id, true as consent where false"}
        ),
        seen as (
            select distinct customer_id from marts.user_item_interactions
        ),
        all_ids as (
            select customer_id from known union select customer_id from seen
        )
        select
            (row_number() over (order by all_ids.customer_id) - 1)::integer as idx,
            all_ids.customer_id,
            known.customer_id is not null as servable,
            coalesce(known.consent, false) as consent
        from all_ids
        left join known on all_ids.customer_id = known.customer_id
        """
    )
    prod_cols = table_columns(con, "marts.products")

    def col(name: str, cast: str = "varchar") -> str:
        return f"p.{name}" if name in prod_cols else f"null::{cast} as {name}"

    is_product = "coalesce(p.is_product, true)" if "is_product" in prod_cols else "true"
    is_active = "coalesce(p.is_active, true)" if "is_active" in prod_cols else "true"
    con.execute("drop table if exists _rec_products")
    con.execute(
        f"""
        create temp table _rec_products as
        with catalog as (
            select
                p.product_id, {col("title")}, {col("description")}, {col("category_path")},
                {col("category_level_1")}, {col("brand")},
                {is_active} as is_active, {is_product} as is_product
            from marts.products as p
        ),
        unknown as (
            select distinct i.product_id
            from marts.user_item_interactions as i
            anti join catalog on i.product_id = catalog.product_id
        ),
        all_products as (
            select *, true as is_known from catalog
            union all
            select product_id, null, null, null, null, null, false, false, false from unknown
        )
        select
            (row_number() over (order by product_id) - 1)::integer as idx,
            *,
            is_known and is_active and is_product as is_recommendable
        from all_products
        """
    )
    customers = con.execute(
        "select customer_id, servable, consent from _rec_customers order by idx"
    ).df()
    products = con.execute("select * exclude (idx) from _rec_products order by idx").df()
    interactions = con.execute(
        f"""
        -- every row of the mart as built for the day, also a pair whose timestamps run
        -- past the end of the day (clock skew, timezones): the quality gate excludes
        -- purchases by the same rows
        with anchored as (
            select *, max(last_interaction_at) over (partition by customer_id) as customer_last
            from marts.user_item_interactions
        )
        select
            c.idx as user,
            p.idx as item,
            -- the mart decays to the customer's latest interaction; decay on to as_of
            interaction_score * power(
                0.5, greatest(date_diff('second', customer_last, ?::timestamp), 0) / 86400.0 / {h}
            ) as score,
            purchase_count as purchases,
            case when purchase_count > 0 then 3 when cart_count > 0 then 2 else 1 end::tinyint as kind,
            first_interaction_at as first_at
        from anchored
        join _rec_customers as c on anchored.customer_id = c.customer_id
        join _rec_products as p on anchored.product_id = p.product_id
        """,
        [as_of],
    ).df()
    sql = events_sql or interaction_events_sql(con)
    events = con.execute(
        f"""
        with e as ({sql})
        select
            c.idx as user,
            p.idx as item,
            case e.interaction_type when 'view' then 1 when 'cart' then 2 else 3 end::tinyint as kind,
            e.interacted_at as at
        from e
        join _rec_customers as c on e.customer_id = c.customer_id
        join _rec_products as p on e.product_id = p.product_id
        where e.interacted_at < ?
        order by 1, 4, 2
        """,
        [as_of],
    ).df()
    events["t"] = days(events["at"])
    groups, names = _segments(con, customers, day, config)
    return RecData(
        customer_ids=customers["customer_id"].to_numpy(dtype=object),
        products=products,
        interactions=interactions,
        events=events,
        as_of=as_of,
        groups=groups,
        group_names=names,
        servable=customers["servable"].to_numpy(dtype=bool),
        consent=customers["consent"].to_numpy(dtype=bool),
    )


def _segments(
    con: Any, customers: pd.DataFrame, day: dt.date, config: RecommendConfig
) -> tuple[np.ndarray, list[str]]:
    """A segment code per customer (-1 unknown) from the first segment table found."""
    groups = np.full(len(customers), -1, dtype=np.int32)
    for table in config.segment_tables:
        if not table_exists(con, table):
            continue
        cols = table_columns(con, table)
        if "segment_name" in cols and "run_date" in cols:
            seg = con.execute(
                f"""
                select customer_id, segment_name as segment from {table}
                where run_date = (select max(run_date) from {table} where run_date <= ?)
                """,
                [day],
            ).df()
        elif "rfm_segment" in cols:
            seg = con.execute(f"select customer_id, rfm_segment as segment from {table}").df()
        else:
            continue
        if seg.empty:
            continue
        codes, names = pd.factorize(seg["segment"])
        lookup = pd.Series(codes, index=seg["customer_id"])
        lookup = lookup[~lookup.index.duplicated()]
        groups = lookup.reindex(customers["customer_id"]).fillna(-1).to_numpy(dtype=np.int32)
        return groups, [str(n) for n in names]
    return groups, []


def product_texts(products: pd.DataFrame) -> list[str]:
    """The text of each product the content model reads."""
    cols = [
        products.get(c, pd.Series([None] * len(products)))
        for c in ("title", "description", "category_path", "brand")
    ]
    return [product_text(t, d, c, b) for t, d, c, b in zip(*cols, strict=True)]


def last_instants(events: pd.DataFrame, n_users: int, default: np.ndarray | float) -> np.ndarray:
    """Each customer's latest event instant (float days), ``default`` for those without
    events: what a customer's history is decayed to, so that recency weighs within a
    history and a customer last seen months ago still teaches the item-item models."""
    out = np.broadcast_to(np.asarray(default, dtype=np.float64), (n_users,)).copy()
    if len(events):
        last = events.groupby("user", sort=False)["t"].max()
        out[last.index.to_numpy()] = last.to_numpy()
    return out
