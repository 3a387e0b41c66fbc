"""Marts layer: the dbt marts as of the run date, before the ML jobs and exports read them.

dbt's own data tests guard each model as it is built; this gate checks, across models,
what the next stages rely on. Each rule is checked once: what this gate checks on a whole
mart (the keys, the scores, the sets, the ranges and the profiles below) is not repeated as
a dbt data test on the same table (the models' YAML says so), since a night pays for every
check it runs twice. dbt keeps the rules this gate does not check (e.g. the gender and age
band sets, an order's status and customer, a session's duration), and the rules this
gate only warns about.

==================================  ===========================================  ==========
check                               tables                                       severity
==================================  ===========================================  ==========
unique, non-null keys               every mart (compound key for                 critical
                                    user_item_interactions)
built for this run date             ``as_of_date = D`` on the as-of marts        critical
R, F and M scores in 1..5           customer_rfm (also fm_score, and the code)   critical
monetary >= 0                       customer_rfm: more than 1% negative is a     critical /
                                    broken computation; a few customers whose    warning
                                    credit notes exceed their purchases (real
                                    Online Retail data has some) are a warning
recency >= 0, frequency >= 1        customer_rfm                                 critical
every RFM customer has a profile    customer_rfm -> customers                    critical
valid consent values                customers: one true/false per purpose,       critical
                                    never null
lifecycle stage in the known set    customer_lifecycle                           critical
no missing features                 customer_features: every column not null     critical
interaction scores >= 0             user_item_interactions                       critical
prices >= 0                         products                                     critical
==================================  ===========================================  ==========

A mart that does not exist is a critical failure ("table missing").
"""

from __future__ import annotations

import great_expectations.expectations as gxe

# the suite vocabulary, imported by name in every suite module
from expectations.suites.base import (
    CRITICAL,
    WARNING,
    SuiteContext,
    SuitePlan,
    TableSuite,
    between,
    in_set,
    key,
    no_rows,
    not_null,
    strict_and_mostly,
)
from tailor.sources import CONSENT_PURPOSES

# the segment names of seeds/rfm_segment_map.csv, listed so the suite checks against a fixed set
RFM_SEGMENTS = (
    "Champions",
    "Loyal",
    "Potential Loyalist",
    "New",
    "Promising",
    "Need Attention",
    "About to Sleep",
    "At Risk",
    "Can't Lose Them",
    "Hibernating",
    "Lost",
)
LIFECYCLE_STAGES = ("new", "active", "engaged", "at_risk", "lapsed", "churned")
SCORES = (1, 2, 3, 4, 5)
MONETARY_MOSTLY = 0.99


def consent_columns() -> list[str]:
    return [f"has_{purpose}_consent" for purpose in CONSENT_PURPOSES]


def as_of(ctx: SuiteContext, table: str) -> list[gxe.Expectation]:
    """The mart was built for this run date (only where the mart has ``as_of_date``)."""
    if "as_of_date" not in ctx.columns(table):
        return []
    return [
        not_null("as_of_date"),
        in_set(
            "as_of_date",
            [ctx.run_date.isoformat()],
            description=f"the mart is as of the run date ({ctx.run_date}): it was rebuilt for this run",
        ),
    ]


def has_profile(description: str, severity: str = CRITICAL, where: str = "") -> gxe.Expectation:
    """Every ``customer_id`` of the batch exists in ``marts.customers``."""
    cond = f" and {where}" if where else ""
    return no_rows(
        "select b.customer_id from {batch} as b "
        "left join marts.customers as profile on profile.customer_id = b.customer_id "
        f"where profile.customer_id is null{cond} order by b.customer_id",
        description,
        severity=severity,
    )


def whole(table: str) -> str:
    return f"select * from {table}"


def customers(ctx: SuiteContext) -> SuitePlan:
    consent = []
    for column in consent_columns():
        consent += [
            not_null(column),
            in_set(
                column,
                [True, False],
                description=f"`{column}` is true or false (the current consent for the purpose)",
            ),
        ]
    return SuitePlan(
        query=whole("marts.customers"),
        expectations=[*key("customer_id"), *as_of(ctx, "marts.customers"), *consent],
    )


def customer_rfm(ctx: SuiteContext) -> SuitePlan:
    scores = []
    for column in ("r_score", "f_score", "m_score", "fm_score"):
        scores += [
            not_null(column),
            in_set(column, SCORES, description=f"`{column}` is a quintile score 1..5"),
        ]
    return SuitePlan(
        query=whole("marts.customer_rfm"),
        expectations=[
            *key("customer_id"),
            *as_of(ctx, "marts.customer_rfm"),
            *scores,
            gxe.ExpectColumnValuesToMatchRegex(
                column="rfm_code",
                regex=r"^[1-5][1-5][1-5]$",
                severity=CRITICAL,
                description="`rfm_code` is the three scores, e.g. '545'",
            ),
            not_null("rfm_segment"),
            in_set("rfm_segment", RFM_SEGMENTS),
            not_null("recency_days"),
            between("recency_days", min_value=0),
            not_null("frequency"),
            between(
                "frequency",
                min_value=1,
                description="`frequency` >= 1 (a customer in RFM bought at least once)",
            ),
            not_null("monetary"),
            *strict_and_mostly(
                between,
                "monetary",
                min_value=0,
                mostly=MONETARY_MOSTLY,
                description="`monetary` (net revenue) is 0 or more",
            ),
            has_profile("every customer in the RFM table exists in the profiles (marts.customers)"),
        ],
    )


def customer_lifecycle(ctx: SuiteContext) -> SuitePlan:
    return SuitePlan(
        query=whole("marts.customer_lifecycle"),
        expectations=[
            *key("customer_id"),
            *as_of(ctx, "marts.customer_lifecycle"),
            not_null("lifecycle_stage"),
            in_set("lifecycle_stage", LIFECYCLE_STAGES),
            has_profile("every customer with a lifecycle stage exists in the profiles"),
        ],
    )


# The columns of marts.customer_features that only events feed (its model lists the same):
# null for everyone in a store without a clickstream (orders only), where they are absent,
# not zero.
BEHAVIOURAL_FEATURES = (
    "sessions",
    "page_views",
    "page_views_per_session",
    "average_session_seconds",
    "product_views",
    "cart_adds",
    "cart_removes",
    "searches",
    "cart_abandonment_count",
    "session_conversion_rate",
    "view_to_cart_rate",
    "mobile_share",
    "evening_share",
    "active_days",
)


def has_clickstream(ctx: SuiteContext) -> bool:
    """The store has sent events on or before the run date."""
    if not ctx.exists("raw.events"):
        return False
    return bool(
        ctx.con.execute(
            "select exists (select 1 from raw.events where _dt <= ?)", [ctx.run_date]
        ).fetchone()[0]
    )


def customer_features(ctx: SuiteContext) -> SuitePlan:
    features = [c for c in ctx.columns("marts.customer_features") if c not in ("customer_id",)]
    clickstream = has_clickstream(ctx)
    absent = [] if clickstream else [c for c in features if c in BEHAVIOURAL_FEATURES]
    return SuitePlan(
        query=whole("marts.customer_features"),
        expectations=[
            *key("customer_id"),
            *as_of(ctx, "marts.customer_features"),
            *[not_null(c) for c in features if c != "as_of_date" and c not in absent],
            *[
                no_rows(
                    f"select customer_id from {{batch}} where {c} is not null",
                    f"`{c}` is absent (null) in a store without events",
                )
                for c in absent
            ],
            has_profile("every customer in the feature table exists in the profiles"),
        ],
    )


def orders(ctx: SuiteContext) -> SuitePlan:
    return SuitePlan(
        query=whole("marts.orders"),
        expectations=[
            *key("order_id"),
            in_set("status", ("completed", "cancelled", "returned", "pending"), severity=WARNING),
            has_profile(
                "every order's customer exists in the profiles (guest orders aside)",
                severity=WARNING,
                where="b.customer_id is not null",
            ),
        ],
    )


def sessions(ctx: SuiteContext) -> SuitePlan:
    return SuitePlan(
        query=whole("marts.sessions"),
        expectations=[
            *key("session_id"),
            not_null("started_at"),
            between("duration_seconds", min_value=0, severity=WARNING),
        ],
    )


def user_item_interactions(ctx: SuiteContext) -> SuitePlan:
    return SuitePlan(
        query=whole("marts.user_item_interactions"),
        expectations=[
            not_null("customer_id"),
            not_null("product_id"),
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=["customer_id", "product_id"],
                severity=CRITICAL,
                description="one row per (customer_id, product_id)",
            ),
            not_null("interaction_score"),
            between("interaction_score", min_value=0),
        ],
    )


def products(ctx: SuiteContext) -> SuitePlan:
    return SuitePlan(
        query=whole("marts.products"),
        expectations=[*key("product_id"), between("price", min_value=0)],
    )


SUITES: list[TableSuite] = [
    TableSuite("marts.customers", customers, description="customer profiles"),
    TableSuite("marts.customer_rfm", customer_rfm),
    TableSuite("marts.customer_lifecycle", customer_lifecycle),
    TableSuite("marts.customer_features", customer_features),
    TableSuite("marts.orders", orders),
    TableSuite("marts.sessions", sessions),
    TableSuite("marts.user_item_interactions", user_item_interactions),
    TableSuite("marts.products", products),
]
