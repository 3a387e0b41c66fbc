"""ML outputs: segments, propensity scores, recommendations and the audiences built on them,
for the run date (``run_date = D`` / ``as_of_date = D``), before anything is exported.

=======================================  ========================================  ==========
check                                    how                                       severity
=======================================  ========================================  ==========
every eligible customer has a segment    customers of marts.customer_features      critical
                                         missing from the day's segments
one segment per customer, named          customer_id unique; segment id and name   critical
propensity scores in [0, 1]              score not null, 0 <= score <= 1;          critical
                                         one row per (customer, model, horizon)
score deciles in 1..10                                                             warning
every eligible customer scored           per model, the population the model       warning
                                         scores (``ml.propensity``: purchase every
                                         customer known at the cutoff, churn only
                                         the past buyers); and the run date has
                                         scores unless the job skipped every model
                                         (too little history: recorded in
                                         ml.model_runs and the run report)
K recommendations per eligible           every customer of marts.customers has     critical
customer                                 min(K, products they can still be
                                         offered) products (K:
                                         ``RecommendConfig.k``; offered: active
                                         catalog products the customer has not
                                         bought outside repeat-purchase
                                         categories), ranks 1..K, no product twice
no already-bought product                when repeats are excluded: no product     critical
                                         the customer bought
                                         (marts.user_item_interactions) unless it
                                         is in a repeat-purchase category; only
                                         for customers whose history may be used
                                         (personalization consent), as the
                                         recommender does
recommended products are in the          exist in marts.products and are active    warning
catalog
nobody without marketing consent in an   members an email destination would        critical
email audience                           receive (its audience, not in the
                                         control group, passing the exporter's
                                         consent rule) all have email marketing
                                         consent in marts.customers
audience members keyed                   customer_id, audience_id not null;        critical
                                         audience_member_id unique, not null
                                         (not repeated as dbt data tests)
=======================================  ========================================  ==========

The ML tables are written by the ``ml`` package; a table that does not exist yet is
skipped with a warning. The recommendation settings (K, purchase exclusion, repeat-purchase
categories, consent) are the ones the day's recommendation run recorded with its served
model in ``ml.model_runs``, so the gate checks the configuration the job ran with
(``ml.recommend.RecommendConfig``'s defaults before any run; :data:`DEFAULT_RECOMMENDATIONS`
without the ml package).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import Any

import duckdb
import great_expectations.expectations as gxe

# the suites' shared vocabulary, imported by name in each suite module
from expectations.suites.base import (
    CRITICAL,
    WARNING,
    SuiteContext,
    SuitePlan,
    TableSuite,
    between,
    eligible_missing_query,
    in_set,
    no_rows,
    not_null,
    timestamp_literal,
    unique,
)

log = logging.getLogger(__name__)

# Who must have ML outputs: the segmentation job segments every row of the feature table;
# the recommendation job serves every known customer.
SEGMENT_ELIGIBLE_SQL = "select customer_id from marts.customer_features"
RECOMMENDATION_ELIGIBLE_SQL = "select customer_id from marts.customers"

DECILES = tuple(range(1, 11))
PROPENSITY_TASKS = ("churn", "purchase")  # ml.propensity.TASKS, as ml.model_runs names them

# Export formats that send messages by email; a destination in one of these formats, or one
# that requires the email_marketing consent purpose, makes its audience an email audience.
EMAIL_FORMATS = ("mailchimp_csv", "klaviyo_csv", "braze_csv")
EMAIL_PURPOSE = "email_marketing"


@dataclass(frozen=True)
class RecommendationRules:
    k: int = 10
    exclude_repeats: bool = True
    repeat_purchase_categories: tuple[str, ...] = ()
    require_personalization_consent: bool = True
    exclude_viewed: bool = False  # the run also left out what a customer viewed or carted


DEFAULT_RECOMMENDATIONS = RecommendationRules()


def recommendation_rules(ctx: SuiteContext | None = None) -> RecommendationRules:
    """The rules the recommendation run of the day was made with: the configuration the job
    records with its served model in ml.model_runs (``tailor recommend --k 5`` is checked
    for 5), else the recommender's defaults (else the suite's own, without the ml package)."""
    try:
        from ml.recommend import TASK, RecommendConfig
    except ImportError:
        return DEFAULT_RECOMMENDATIONS
    config: dict[str, Any] = asdict(RecommendConfig())
    if ctx is not None and ctx.exists("ml.model_runs"):
        rows = ctx.con.execute(
            """
            select json_extract(params, '$.config')::varchar from ml.model_runs
            where task = ? and run_date = ? and json_extract(params, '$.config') is not null
            order by finished_at desc limit 1
            """,
            [TASK, ctx.run_date],
        ).fetchall()
        if rows and rows[0][0]:
            config |= json.loads(rows[0][0])
    return RecommendationRules(
        k=int(config["k"]),
        exclude_repeats=bool(config.get("exclude_purchased", True)),
        repeat_purchase_categories=tuple(config.get("repeat_purchase_categories") or ()),
        require_personalization_consent=bool(config.get("require_personalization_consent")),
        exclude_viewed=bool(config.get("exclude_viewed")),
    )


def run_partition(table: str, ctx: SuiteContext) -> str:
    return f"select * from {table} where run_date = {ctx.day}"


def skipped_run(ctx: SuiteContext, task: str) -> str | None:
    """The message of the run of ``task`` on the run date when the ML job skipped it on
    purpose (e.g. too few customers to segment), else None."""
    if not ctx.exists("ml.model_runs"):
        return None
    rows = ctx.con.execute(
        "select message from ml.model_runs where task = ? and run_date = ? and status = ?",
        [task, ctx.run_date, "skipped"],
    ).fetchall()
    return (rows[0][0] or "skipped") if rows else None


def _any_chosen(ctx: SuiteContext, tasks: tuple[str, ...]) -> bool:
    """Whether a run of any of ``tasks`` chose a model on the run date."""
    if not ctx.exists("ml.model_runs"):
        return False
    marks = ", ".join("?" for _ in tasks)
    rows = ctx.con.execute(
        f"select count(*) from ml.model_runs where task in ({marks}) and run_date = ? "
        "and status = 'chosen'",
        [*tasks, ctx.run_date],
    ).fetchall()
    return bool(rows[0][0])


def customer_segments(ctx: SuiteContext) -> SuitePlan:
    # A run the job skipped on purpose (fewer customers than it needs) leaves customers
    # without a segment: recorded as a warning, not a reason to stop the night.
    skipped = skipped_run(ctx, "segmentation")
    return SuitePlan(
        query=run_partition("ml.customer_segments", ctx),
        expectations=[
            not_null("customer_id"),
            unique("customer_id", description="one segment per customer"),
            not_null("segment_id"),
            not_null("segment_name"),
            between("distance", min_value=0, severity=WARNING),
            no_rows(
                eligible_missing_query(SEGMENT_ELIGIBLE_SQL),
                "every eligible customer (marts.customer_features) has a segment"
                + (f" (segmentation skipped: {skipped})" if skipped else ""),
                severity=WARNING if skipped else CRITICAL,
            ),
        ],
    )


def scored_populations(ctx: SuiteContext) -> dict[str, str]:
    """Per propensity model, a query of the customers it promises a score on the run date,
    as the job defines them (``ml.propensity``): every customer known at the score cutoff
    for ``purchase``, the past buyers among them for ``churn`` (only a buyer can churn).
    Empty without the ml package, or when the marts lack what the model reads (then every
    customer of marts.customer_features is expected for every model)."""
    try:
        from ml.propensity import cutoff_of, feature_sql
    except ImportError:
        return {}
    known = feature_sql().replace("$cutoff", timestamp_literal(cutoff_of(ctx.run_date)))
    try:
        ctx.con.execute(f"select * from ({known}) as known limit 0")
    except duckdb.Error as exc:
        log.warning("propensity populations not available, using %s: %s", SEGMENT_ELIGIBLE_SQL, exc)
        return {}
    return {
        "purchase": f"select customer_id from ({known}) as known",
        "churn": f"select customer_id from ({known}) as known where orders_total > 0",
    }


def _eligible_per_model(ctx: SuiteContext, model: str) -> str:
    """(customer_id, model) pairs that must be scored, for the models of the batch."""
    populations = scored_populations(ctx)
    if not populations:
        return (
            f"select eligible.customer_id, models.{model} from ({SEGMENT_ELIGIBLE_SQL}) as eligible"
            f" cross join (select distinct {model} from {{batch}}) as models"
        )
    union = " union all ".join(
        f"select customer_id, '{name}' as {model} from ({sql}) as p{i}"
        for i, (name, sql) in enumerate(sorted(populations.items()))
    )
    return (
        f"select eligible.customer_id, eligible.{model} from ({union}) as eligible"
        f" where eligible.{model} in (select distinct {model} from {{batch}})"
    )


def propensity_scores(ctx: SuiteContext) -> SuitePlan:
    model = ctx.first_column("ml.propensity_scores", ("model", "target", "model_name"))
    score = (
        ctx.first_column("ml.propensity_scores", ("score", "probability", "propensity")) or "score"
    )
    # one score per customer, model and horizon (horizons are scored side by side)
    horizon = "horizon_days" if "horizon_days" in ctx.columns("ml.propensity_scores") else None
    keys = ", ".join(k for k in ("customer_id", model, horizon) if k)
    per = f"({keys})" if model else "customer_id"
    skipped = [skipped_run(ctx, task) for task in PROPENSITY_TASKS]
    # a horizon too long for the history is skipped while another is scored: only when no
    # task and horizon was scored may the day have no scores
    all_skipped = all(skipped) and not _any_chosen(ctx, PROPENSITY_TASKS)
    checks = [
        gxe.ExpectTableRowCountToBeBetween(
            min_value=0 if all_skipped else 1,
            severity=WARNING,
            description=(
                f"no propensity scores: the job skipped every model ({skipped[0]})"
                if all_skipped
                else "the run date has propensity scores"
            ),
        ),
        not_null("customer_id"),
        not_null(score),
        between(score, 0, 1, description=f"`{score}` is a probability in [0, 1]"),
    ]
    if model:
        checks += [
            not_null(model),
            no_rows(
                f"select {keys}, count(*) as scores from {{batch}} "
                f"group by {keys} having count(*) > 1 order by customer_id",
                f"one score per {per}",
            ),
            no_rows(
                f"""
                select eligible.customer_id, eligible.{model}
                from ({_eligible_per_model(ctx, model)}) as eligible
                left join {{batch}} as scored
                    on scored.customer_id = eligible.customer_id and scored.{model} = eligible.{model}
                where scored.customer_id is null
                order by 2, 1
                """,
                "every customer a model scores (purchase: every known customer; churn: the"
                " past buyers) has a score from it",
                severity=WARNING,
            ),
        ]
    else:
        checks.append(unique("customer_id", description="one score per customer"))
    if "decile" in ctx.columns("ml.propensity_scores"):
        checks.append(in_set("decile", DECILES, severity=WARNING))
    return SuitePlan(query=run_partition("ml.propensity_scores", ctx), expectations=checks)


def recommendations(ctx: SuiteContext) -> SuitePlan:
    rules = recommendation_rules(ctx)
    rank = (
        ctx.first_column("ml.recommendations", ("rank", "position", "recommendation_rank"))
        or "rank"
    )
    checks = [
        not_null("customer_id"),
        not_null("product_id"),
        not_null(rank),
        between(rank, 1, rules.k, description=f"`{rank}` is 1..{rules.k} (k = {rules.k})"),
        no_rows(
            f'select customer_id, "{rank}", count(*) as products from {{batch}} '
            f'group by customer_id, "{rank}" having count(*) > 1 order by customer_id',
            "one product per (customer, rank)",
        ),
        no_rows(
            "select customer_id, product_id, count(*) as times from {batch} "
            "group by customer_id, product_id having count(*) > 1 order by customer_id",
            "no product recommended twice to one customer",
        ),
        no_rows(
            recommendation_count_query(ctx, rules),
            f"every eligible customer (marts.customers) has min({rules.k}, products they can "
            "still be offered) recommendations",
        ),
        no_rows(
            """
            select r.customer_id, r.product_id
            from {batch} as r
            left join marts.products as p on p.product_id = r.product_id
            where p.product_id is null or not coalesce(p.is_active, true)
            order by r.customer_id, r.product_id
            """,
            "every recommended product is in the catalog and active",
            severity=WARNING,
        ),
    ]
    if rules.exclude_repeats:
        checks.append(no_rows(bought_query(ctx, rules), bought_description(rules)))
    if rules.exclude_viewed and ctx.exists("marts.user_item_interactions"):
        checks.append(
            no_rows(
                viewed_query(ctx, rules),
                "no recommended product was already viewed by the customer (exclude_viewed)",
            )
        )
    return SuitePlan(query=run_partition("ml.recommendations", ctx), expectations=checks)


def offerable_sql(ctx: SuiteContext) -> str:
    """The products any customer may be recommended: in the catalog, active, merchandise."""
    cols = ctx.columns("marts.products")
    where = ["coalesce(is_active, true)" if "is_active" in cols else "true"]
    if "is_product" in cols:
        where.append("coalesce(is_product, true)")
    category = "category_path" if "category_path" in cols else "null::varchar as category_path"
    return f"select product_id, {category} from marts.products where {' and '.join(where)}"


def repeat_category_sql(path: str, rules: RecommendationRules) -> list[str]:
    """Conditions that a product (its lower-cased category ``path``) is not in a
    repeat-purchase category."""
    conditions = []
    for prefix in rules.repeat_purchase_categories:
        p = prefix.strip().lower().replace("'", "''")
        conditions.append(f"not ({path} = '{p}' or starts_with({path}, '{p} >'))")
    return conditions


def recommendation_count_query(ctx: SuiteContext, rules: RecommendationRules) -> str:
    """Customers whose number of recommendations is not min(K, what they can still be
    offered): the offerable products (:func:`offerable_sql`) less, when repeats are
    excluded, those they bought outside the repeat-purchase categories (whether or not
    their history may be used: the global list a customer without personalization consent
    gets leaves out what they bought too, as the recommender does). A small catalog, or a
    customer who bought most of it, gets fewer than K; nobody gets fewer than that."""
    if not ctx.exists("marts.products"):
        offerable_count, bought = (
            f"{rules.k}",
            "select null::varchar as customer_id, 0 as n where false",
        )
    else:
        offerable_count = "(select count(*) from offerable)"
        bought = "select null::varchar as customer_id, 0 as n where false"
        consumed = []
        if rules.exclude_repeats:
            consumed.append(
                " and ".join(
                    ["i.purchase_count > 0"]
                    + repeat_category_sql("lower(trim(coalesce(o.category_path, '')))", rules)
                )
            )
        if rules.exclude_viewed:
            consumed.append(personal_sql(ctx, rules))
        if consumed and ctx.exists("marts.user_item_interactions"):
            bought = (
                "select i.customer_id, count(distinct i.product_id) as n "
                "from marts.user_item_interactions as i "
                "join offerable as o on o.product_id = i.product_id "
                f"where ({') or ('.join(consumed)}) group by i.customer_id"
            )
    offerable = f"offerable as ({offerable_sql(ctx)}), " if ctx.exists("marts.products") else ""
    return f"""
        with {offerable}bought as ({bought}),
        expected as (
            select eligible.customer_id,
                greatest(0, least({rules.k}, {offerable_count} - coalesce(bought.n, 0))) as expected
            from ({RECOMMENDATION_ELIGIBLE_SQL}) as eligible
            left join bought on bought.customer_id = eligible.customer_id
        )
        select expected.customer_id, count(r.product_id) as recommendations, expected.expected
        from expected
        left join {{batch}} as r on r.customer_id = expected.customer_id
        group by expected.customer_id, expected.expected
        having count(r.product_id) <> expected.expected
        order by expected.customer_id
        """


def personal_sql(ctx: SuiteContext, rules: RecommendationRules) -> str:
    """Condition that the history of customer ``i.customer_id`` may be used (the viewed
    products it leaves out are the personal lists' only)."""
    if rules.require_personalization_consent and "has_personalization_consent" in ctx.columns(
        "marts.customers"
    ):
        return (
            "exists (select 1 from marts.customers as c where c.customer_id = i.customer_id "
            "and coalesce(c.has_personalization_consent, false))"
        )
    return "true"


def viewed_query(ctx: SuiteContext, rules: RecommendationRules) -> str:
    """Recommended products the customer already viewed or carted, when the run excludes
    them (a views-only store by default)."""
    return (
        "select r.customer_id, r.product_id from {batch} as r "
        "join marts.user_item_interactions as i "
        "on i.customer_id = r.customer_id and i.product_id = r.product_id "
        f"where {personal_sql(ctx, rules)} order by r.customer_id, r.product_id"
    )


def bought_query(ctx: SuiteContext, rules: RecommendationRules) -> str:
    where = ["i.purchase_count > 0"]
    joins = [
        "join marts.user_item_interactions as i on i.customer_id = r.customer_id and i.product_id = r.product_id"
    ]
    if rules.repeat_purchase_categories:
        joins.append("left join marts.products as p on p.product_id = r.product_id")
        where += repeat_category_sql("lower(trim(coalesce(p.category_path, '')))", rules)
    if rules.require_personalization_consent and "has_personalization_consent" in ctx.columns(
        "marts.customers"
    ):
        joins.append("join marts.customers as c on c.customer_id = r.customer_id")
        where.append("coalesce(c.has_personalization_consent, false)")
    return (
        "select r.customer_id, r.product_id, i.purchase_count from {batch} as r "
        + " ".join(joins)
        + " where "
        + " and ".join(where)
        + " order by r.customer_id, r.product_id"
    )


def bought_description(rules: RecommendationRules) -> str:
    text = "no recommended product was already bought by the customer"
    if rules.repeat_purchase_categories:
        text += f" (repeat-purchase categories {', '.join(rules.repeat_purchase_categories)} aside)"
    if rules.require_personalization_consent:
        text += "; checked for customers whose history may be used (personalization consent)"
    return text


def email_destinations(ctx: SuiteContext) -> list[tuple[str, str, str]]:
    """(destination, audience, consent purpose) of every destination that sends email."""
    try:
        from tailor.exports.config import destinations_path, load_config

        config = load_config(destinations_path(ctx.settings))
    except Exception as exc:  # no file, or a file the exporter will refuse anyway
        log.warning("no destinations configuration for the email-consent check: %s", exc)
        return []
    return [
        (d.name, d.audience, d.consent)
        for d in config.destinations
        if d.format in EMAIL_FORMATS or d.consent == EMAIL_PURPOSE
    ]


def audiences(ctx: SuiteContext) -> SuitePlan:
    checks = [
        not_null("customer_id"),
        not_null("audience_id"),
    ]
    member_key = ctx.first_column("marts.audiences", ("audience_member_id",))
    if member_key:
        checks += [not_null(member_key), unique(member_key)]
    if "as_of_date" in ctx.columns("marts.audiences"):
        checks.append(
            in_set(
                "as_of_date",
                [ctx.run_date.isoformat()],
                description=f"the audiences are as of the run date ({ctx.run_date})",
            )
        )
    checks.append(email_consent(ctx))
    return SuitePlan(query="select * from marts.audiences", expectations=checks)


def email_consent(ctx: SuiteContext):
    """Members an email destination would receive all have email marketing consent.

    Consent is applied when exporting (per destination purpose), so the audiences hold
    people without it. What must never happen is that one of them passes the exporter's
    rule for an email destination: the selection is the exporter's own consent SQL for the
    destination's purpose, checked against the profile's current email consent, an
    independent computation of the same fact (dbt's consent resolution).
    """
    from tailor import consent

    dests = email_destinations(ctx)
    control = (
        "and not coalesce(a.is_control, false)"
        if "is_control" in ctx.columns("marts.audiences")
        else ""
    )
    parts = []
    for name, audience, purpose in dests:
        consent_sql = (
            consent.consented_customers_sql(purpose, ctx.run_date)
            .replace("{", "{{")
            .replace("}", "}}")
        )
        parts.append(
            f"""
            select '{name}' as destination, a.audience_id, a.customer_id
            from {{batch}} as a
            join ({consent_sql}) as passes on passes.customer_id = a.customer_id
            left join marts.customers as c on c.customer_id = a.customer_id
            where a.audience_id = '{audience.replace("'", "''")}' {control}
                and not coalesce(c.has_email_marketing_consent, false)
            """
        )
    if not parts:
        # Nothing is configured to go out by email: the check holds trivially, but it still
        # runs (and shows in the report) so that a missing configuration is visible.
        parts.append(
            "select null as destination, a.audience_id, a.customer_id from {batch} as a "
            "join marts.customers as c on c.customer_id = a.customer_id where false"
        )
    described = ", ".join(sorted({a for _, a, _ in dests})) or "none configured"
    return no_rows(
        " union all ".join(parts) + " order by destination, customer_id",
        f"no customer without email marketing consent would be exported to an email audience ({described})",
        severity=CRITICAL,
    )


SUITES: list[TableSuite] = [
    TableSuite("ml.customer_segments", customer_segments, if_missing="skip"),
    TableSuite("ml.propensity_scores", propensity_scores, if_missing="skip"),
    TableSuite("ml.recommendations", recommendations, if_missing="skip"),
    TableSuite("marts.audiences", audiences, if_missing="skip"),
]
