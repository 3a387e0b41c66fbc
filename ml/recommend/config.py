"""The options of the recommendation job (:class:`RecommendConfig`) and the interaction
weights and half-life it shares with the dbt project."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

TASK = "recommendation"

# Interaction kinds, weakest to strongest (the codes order them).
KINDS = {"view": 1, "cart": 2, "purchase": 3}

# Defaults of the dbt vars, used when dbt_project.yml cannot be read.
DBT_DEFAULTS = {
    "tailor__interaction_weight_view": 1.0,
    "tailor__interaction_weight_cart": 3.0,
    "tailor__interaction_weight_purchase": 5.0,
    "tailor__interaction_half_life_days": 30.0,
}


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class RecommendConfig:
    """Every option of the recommendation job, with its default.

    Attributes
    ----------
    k
        Recommendations per customer (``rank`` 1..k).
    max_per_category
        Diversity rule: at most this many products of one category in a customer's top k.
        Only when the catalog has too few categories to fill k products otherwise are
        more added, ranked after the others (every customer gets k products whenever
        the catalog has k active ones they have not bought: the quality gate's rule).
    diversity_column
        The ``marts.products`` column that defines a category for the rule.
    repeat_purchase_categories
        Category paths (prefixes: ``"Beauty"`` covers ``"Beauty > Skin care"``) whose
        products may be recommended again after a purchase (consumables). Every other
        bought product is excluded.
    exclude_purchased
        Exclude bought products at all (False: every category is a repeat-purchase one,
        e.g. for a wholesaler whose customers reorder the same products).
    exclude_viewed
        Also exclude products the customer only viewed or carted. None (``auto``): only
        in a store that sends nothing but views (there a viewed product is consumed);
        where customers buy, a viewed product is a good recommendation and stays.
    holdout_share, holdout_count
        The per-customer temporal split (:mod:`ml.recommend.split`): each customer with
        at least ``min_history`` relevant products holds out their latest share of them
        (or the latest ``holdout_count``, when set).
    min_history
        Relevant products a customer needs to be split (and evaluated).
    relevant_kinds
        Held-out interactions that count as a correct recommendation. None (auto): cart
        and purchase, or view in a store that sends only views.
    eval_ks
        Cut-offs the evaluation reports (the choice uses NDCG@10).
    candidate_pool
        Candidates per customer taken from a model before exclusions and diversity.
    similar_items
        Similar products written per product.
    batch_size
        Customers recommended at once when writing (bounds memory).
    min_holdout_users
        Fewer evaluable customers than this: no evaluation, popularity is served.
    max_eval_users
        Evaluate on a fixed random sample of this many split customers when there are
        more (None: all); the sample is the same for every model.
    confidence, bootstrap_resamples
        The bootstrap over customers behind every interval and test (paired for a
        difference of two models): a model replaces the served one, or popularity
        replaces it, only when the difference is significant at this level.
    max_ndcg_drop
        Relative drop of the served model's NDCG@10 against its previous run that makes
        the run fall back to popularity, when the drop is also significant.
    min_lift
        Relative NDCG@10 lift over popularity a model must significantly exceed to replace
        popularity, and significantly fall short of to be replaced by it (0: any).
    tune
        Choose the hyper-parameters on a validation split (the split applied again to the
        training part) at every run: the interaction weights and half-life, EASE's
        lambda, item-kNN's neighbours and shrinkage, RP3beta's alpha and beta, the
        hybrid's blend (:mod:`ml.recommend.tuning`). False: the defaults.
    max_tune_users
        Validation customers the tuning scores (a fixed sample), which bounds its cost.
    require_personalization_consent
        Customers without personalization consent get the global popular list, scored
        without their history or segment (their bought products are still left out).
    retention_days
        Run dates of recommendations / similar items kept behind the newest (None: all).
    models
        Candidate model names (keys of :func:`candidate_models`); popularity is always
        evaluated as the baseline.
    ease_max_items
        EASE is skipped for larger catalogs (its memory grows with items squared).
    segment_tables
        Where a customer's segment is looked up, first found wins:
        ``ml.customer_segments`` (latest run on or before D), then the RFM segment.
    weights, half_life_days
        Interaction weight per kind and recency half-life (days; 0: no decay). Unset:
        the dbt project's vars. The tuning starts from them and also tries equal weights
        and no decay.
    refit_every_days
        The refit cadence (:mod:`ml.recommend.cadence`): the evaluation, the tuning and
        the fit run on a night whose stored fit is this many days old; the nights between
        serve the stored fit. 1: every night.
    max_ndcg_drift
        Relative fall of the stored model's NDCG@10, on the customers whose held-out
        products all came after its fit, from its reference (the served model fitted
        without the fit's last day, on the customers whose held-out products all came on
        that day: :func:`ml.recommend.cadence.reference`), that forces a refit.
    max_catalog_change
        Share of the fit's recommendable products added or gone that forces a refit.
    max_customer_change
        Relative growth of the customers with interactions since the fit that forces a
        refit.
    """

    k: int = 10
    max_per_category: int = 3
    diversity_column: str = "category_path"
    repeat_purchase_categories: tuple[str, ...] = ()
    exclude_purchased: bool = True
    exclude_viewed: bool | None = None
    holdout_share: float = 0.2
    holdout_count: int | None = None
    min_history: int = 3
    # the job's options; tailor.config.RecommendOptions carries the user-set ones (a test checks they agree)
    relevant_kinds: tuple[str, ...] | None = None
    eval_ks: tuple[int, ...] = (5, 10)
    candidate_pool: int = 50
    similar_items: int = 10
    batch_size: int = 20_000
    min_holdout_users: int = 20
    max_eval_users: int | None = 50_000
    confidence: float = 0.95
    bootstrap_resamples: int = 1000
    max_ndcg_drop: float = 0.10
    min_lift: float = 0.0
    tune: bool = True
    max_tune_users: int = 5000
    require_personalization_consent: bool = True
    retention_days: int | None = 14
    models: tuple[str, ...] = ("ease", "rp3beta", "hybrid")
    ease_max_items: int = 10_000
    segment_tables: tuple[str, ...] = ("ml.customer_segments", "marts.customer_rfm")
    weights: Mapping[str, float] = field(default_factory=dict)
    half_life_days: float | None = None
    refit_every_days: int = 7
    max_ndcg_drift: float = 0.10
    max_catalog_change: float = 0.10
    max_customer_change: float = 0.25

    def with_dbt_vars(self, dbt_project: Path | None) -> RecommendConfig:
        """Fill ``weights`` and ``half_life_days`` from the dbt project's vars."""
        vars_ = read_dbt_vars(dbt_project)
        weights = {
            kind: float(vars_[f"tailor__interaction_weight_{kind}"]) for kind in KINDS
        } | dict(self.weights)
        half_life = self.half_life_days
        if half_life is None:
            half_life = float(vars_["tailor__interaction_half_life_days"])
        return replace(self, weights=weights, half_life_days=half_life)

    @classmethod
    def from_options(cls, values: Mapping[str, object]) -> RecommendConfig:
        """The defaults with the options of ``config/tailor.yml``'s ``recommend:`` section."""
        return replace(cls(), **dict(values))


def read_dbt_vars(dbt_project: Path | None) -> dict[str, float]:
    """The interaction weights and half-life the dbt project uses."""
    out = dict(DBT_DEFAULTS)
    path = Path(dbt_project) / "dbt_project.yml" if dbt_project else None
    if path and path.exists():
        import yaml

        vars_ = (yaml.safe_load(path.read_text()) or {}).get("vars", {}) or {}
        for key in out:
            if key in vars_:
                out[key] = float(vars_[key])
    return out
