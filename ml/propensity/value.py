"""Expected purchases and value per customer over a horizon: ``ml.customer_value``.

For each horizon whose purchase model was trained, on the same time split:

1. BG/NBD and Gamma-Gamma (``ml.propensity.btyd``) are fitted on the purchase days before
   the validation cutoff and predict the validation window: P(buy), expected purchases,
   value per purchase (customers without a purchase have no BG/NBD prediction);
2. three ways to the purchase probability are compared on the validation cutoff by
   5-fold cross-validated log loss: the classifier alone (already calibrated), BG/NBD
   recalibrated (logistic regression on its logit), and the blend (logistic regression
   on both logits and a has-bought flag); ``propensity.value_model`` picks one or
   ``auto`` takes the lowest log loss;
3. the chosen map is refitted on the whole validation cutoff, BG/NBD and Gamma-Gamma are
   refitted on every purchase day before the score cutoff, and every customer is scored;
4. expected purchases = P(buy) x the expected count of a buyer (BG/NBD's E[X] / P(buy),
   at least 1; customers without history: their validation buyers' mean count), and
   expected value = expected purchases x the value of a purchase (Gamma-Gamma; the
   population mean without history); both are scaled by the ratio of the real to the
   predicted totals on the validation window (for purchases: the repeat purchases beyond
   the first), so that they add up to what the backtest saw.

A purchase is a purchase *day* (several orders on one day are one purchase); value is
merchandise net of discounts in the reporting currency.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from ml.propensity.btyd import BGNBD, GammaGamma, summary_from_purchase_days
from ml.propensity.config import PropensityConfig
from ml.propensity.features import _STOOD
from ml.propensity.train import TaskResult

VALUE_MODELS = ("classifier", "bgnbd", "blend")
EPS = 1e-4

CUSTOMER_VALUE_DDL = """
create table if not exists ml.customer_value (
    customer_id varchar not null,
    horizon_days integer not null,       -- the N of "in the next N days"
    purchase_probability double not null, -- P(at least one purchase in the next N days)
    expected_purchases double not null,  -- expected purchase days in the next N days
    expected_value double not null,      -- expected merchandise value, reporting currency
    p_alive double,                      -- BG/NBD probability of still being a customer
    model varchar not null,              -- classifier | bgnbd | blend
    run_id varchar not null,
    run_date date not null,
    is_primary boolean not null          -- the primary purchase horizon of the run date
)
"""


def purchase_days(
    con, start: dt.datetime | None, end: dt.datetime, config: PropensityConfig, *, labels: bool
) -> pd.DataFrame:
    """Purchase days in ``[start, end)``: customer_id, day (days since 1970), value. As
    features (``labels=False``) an order counts as it stood at ``end``; as labels, the
    orders placed and not cancelled."""
    cond = "o.status <> 'cancelled'" if labels else _STOOD.replace("$cutoff", "$end")
    return con.execute(
        f"""
        select o.customer_id,
            date_diff('day', date '1970-01-01', cast(o.ordered_at as date)) as day,
            sum(coalesce(o.merchandise_amount_reporting, o.merchandise_amount, o.total, 0))
                as value
        from {config.orders_table} as o
        where o.customer_id is not null
            and o.ordered_at < $end
            and ($start is null or o.ordered_at >= $start)
            and coalesce(o.merchandise_amount, o.total, 0) >= 0
            and {cond}
        group by all
        """,
        {"start": start, "end": end},
    ).df()


def _day(ts: dt.datetime) -> int:
    return (ts.date() - dt.date(1970, 1, 1)).days


@dataclass
class Btyd:
    """BG/NBD + Gamma-Gamma predictions at a cutoff, one row per customer with history."""

    frame: pd.DataFrame  # customer_id, bg_p, bg_expected, bg_alive, value_per_purchase
    population_value: float
    params: dict[str, Any] = field(default_factory=dict)


def btyd_at(con, cutoff: dt.datetime, horizon: int, config: PropensityConfig) -> Btyd | None:
    """Fit BG/NBD and Gamma-Gamma on the purchase days before ``cutoff`` and predict the
    next ``horizon`` days; None without repeat buyers to fit on."""
    days = purchase_days(con, None, cutoff, config, labels=False)
    if days.empty:
        return None
    s = summary_from_purchase_days(
        days["customer_id"].astype(str).to_numpy(),
        days["day"].to_numpy(dtype=float),
        days["value"].to_numpy(dtype=float),
        float(_day(cutoff)),
    )
    if (s["x"] > 0).sum() < 10:
        return None
    bg = BGNBD.fit(s["x"], s["t_x"], s["T"])
    gg = GammaGamma.fit(s["n"], s["m"])
    per = gg.expected_value(s["n"], s["m"])
    population = float(np.nanmean(per)) if np.isfinite(per).any() else float(np.mean(s["m"]))
    frame = pd.DataFrame(
        {
            "customer_id": s["customer_id"],
            "bg_p": np.clip(bg.p_buy(horizon, s["x"], s["t_x"], s["T"]), EPS, 1 - EPS),
            "bg_expected": bg.expected(horizon, s["x"], s["t_x"], s["T"]),
            "bg_alive": bg.p_alive(s["x"], s["t_x"], s["T"]),
            "value_per_purchase": np.where(np.isfinite(per), per, population),
        }
    )
    params = {"bgnbd": vars(bg), "gamma_gamma": vars(gg)}
    return Btyd(frame=frame, population_value=population, params=params)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    return np.log(p / (1 - p))


def _design(frame: pd.DataFrame, model: str) -> np.ndarray:
    has = frame["bg_p"].notna().to_numpy(dtype=float)
    bg = np.where(has > 0, _logit(frame["bg_p"].fillna(0.5)), 0.0)
    if model == "bgnbd":
        return np.column_stack([bg, has])
    return np.column_stack([_logit(frame["score"]), bg, has])


def choose_map(valid: pd.DataFrame, config: PropensityConfig) -> tuple[str, dict[str, dict]]:
    """Cross-validated log loss and AUC of each way to P(buy) on the validation cutoff
    (``valid``: customer_id, y, score, bg_p); the chosen one."""
    y = valid["y"].to_numpy(dtype=int)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=config.random_state)
    out: dict[str, dict] = {}
    for model in VALUE_MODELS:
        if model == "classifier":
            p = np.clip(valid["score"].to_numpy(dtype=float), EPS, 1 - EPS)
        else:
            X = _design(valid, model)
            p = np.zeros(len(y))
            for tr, te in folds.split(X, y):
                p[te] = (
                    LogisticRegression(max_iter=1000).fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]
                )
        out[model] = {
            "log_loss": float(log_loss(y, np.clip(p, EPS, 1 - EPS))),
            "auc": float(roc_auc_score(y, p)),
            "predicted_buyers": float(p.sum()),
            "buyers": int(y.sum()),
        }
    wanted = config.value_model
    chosen = min(out, key=lambda m: out[m]["log_loss"]) if wanted == "auto" else wanted
    return chosen, out


@dataclass
class ValueResult:
    horizon_days: int
    status: str  # chosen | skipped
    model: str | None = None
    frame: pd.DataFrame | None = None  # customer_id, purchase_probability, ...
    metrics: dict[str, Any] = field(default_factory=dict)
    message: str | None = None


def customer_value(con, purchase: TaskResult, config: PropensityConfig) -> ValueResult:
    """Expected purchases and value over ``purchase``'s horizon for every customer it
    scored (see the module docstring)."""
    h = purchase.horizon_days or config.horizon_days
    if purchase.status != "chosen" or purchase.validation is None or purchase.split is None:
        return ValueResult(h, "skipped", message="the purchase model was not trained")
    split = purchase.split
    past = btyd_at(con, split.validation, h, config)
    valid = purchase.validation.copy()
    if past is not None:
        valid = valid.merge(past.frame, on="customer_id", how="left")
    else:
        valid = valid.assign(bg_p=np.nan, bg_expected=np.nan, bg_alive=np.nan)
    model, candidates = ("classifier", {}) if past is None else choose_map(valid, config)
    if past is None and config.value_model == "bgnbd":
        return ValueResult(h, "skipped", message="too few repeat buyers to fit BG/NBD")
    now = btyd_at(con, split.score, h, config) if past is not None else None
    if now is None:
        model = "classifier"
    current = purchase.scores[["customer_id", "score"]].copy()
    current = (
        current.merge(now.frame, on="customer_id", how="left")
        if now
        else current.assign(
            bg_p=np.nan, bg_expected=np.nan, bg_alive=np.nan, value_per_purchase=np.nan
        )
    )

    def probability(frame: pd.DataFrame, fit_on: pd.DataFrame) -> np.ndarray:
        if model == "classifier":
            return frame["score"].to_numpy(dtype=float)
        lr = LogisticRegression(max_iter=1000).fit(
            _design(fit_on, model), fit_on["y"].to_numpy(dtype=int)
        )
        return lr.predict_proba(_design(frame, model))[:, 1]

    # the backtest: what the validation window really held
    truth = purchase_days(
        con, split.validation, split.validation + dt.timedelta(days=h), config, labels=True
    )
    real = truth.groupby("customer_id").agg(count=("day", "size"), value=("value", "sum"))
    valid = valid.merge(real, left_on="customer_id", right_index=True, how="left").fillna(
        {"count": 0, "value": 0.0}
    )
    p_valid = probability(valid, valid)
    new_buyers = valid.loc[valid["bg_p"].isna() & (valid["count"] > 0), "count"]
    new_count = float(new_buyers.mean()) if len(new_buyers) else 1.0
    pop_value = (
        now.population_value
        if now
        else float(valid.loc[valid["count"] > 0, "value"].sum() / max(valid["count"].sum(), 1))
    )

    def expectations(frame: pd.DataFrame, p: np.ndarray, population: float):
        per_buyer = np.where(
            frame["bg_p"].notna(),
            np.maximum(frame["bg_expected"].fillna(0) / frame["bg_p"].fillna(1), 1.0),
            new_count,
        )
        count = p * per_buyer
        value = count * frame.get(
            "value_per_purchase", pd.Series(np.nan, index=frame.index)
        ).fillna(population).to_numpy(dtype=float)
        return count, value

    past_value = past.population_value if past else pop_value
    count_v, value_v = expectations(valid, p_valid, past_value)
    # repeat purchases beyond the first are scaled to the backtest's (a buyer's expected
    # count never drops below their probability of buying at all)
    extra_v = float((count_v - p_valid).sum())
    real_extra = float(valid["count"].sum() - p_valid.sum())
    count_scale = max(0.0, real_extra / extra_v) if extra_v > 0 else 1.0
    value_scale = float(valid["value"].sum() / value_v.sum()) if value_v.sum() > 0 else 1.0
    p_now = probability(current, valid)
    count_now, value_now = expectations(current, p_now, pop_value)
    frame = pd.DataFrame(
        {
            "customer_id": current["customer_id"].astype(str),
            "purchase_probability": np.clip(p_now, 0.0, 1.0),
            "expected_purchases": p_now + (count_now - p_now) * count_scale,
            "expected_value": value_now * value_scale,
            "p_alive": current["bg_alive"],
        }
    )
    metrics = {
        "candidates": candidates,
        "validation": {
            "buyers": int((valid["count"] > 0).sum()),
            "predicted_buyers": float(p_valid.sum()),
            "purchases": float(valid["count"].sum()),
            "predicted_purchases_before_scaling": float(count_v.sum()),
            "predicted_purchases": float(p_valid.sum() + extra_v * count_scale),
            "count_scale": count_scale,
            "value_scale": value_scale,
        },
        "btyd": now.params if now else None,
    }
    return ValueResult(h, "chosen", model=model, frame=frame, metrics=metrics)


def ensure_table(con) -> None:
    con.execute("create schema if not exists ml")
    con.execute(CUSTOMER_VALUE_DDL)


def write_value(con, day: dt.date, results: list[ValueResult], run_id_of) -> None:
    """Replace the day's rows of every computed horizon (a skipped horizon keeps its rows)
    and flag the primary purchase horizon; inside the caller's transaction."""
    ensure_table(con)
    for res in results:
        if res.status != "chosen":
            continue
        con.execute(
            "delete from ml.customer_value where horizon_days = ? and run_date = ?",
            [res.horizon_days, day],
        )
        rows = res.frame.assign(
            horizon_days=res.horizon_days,
            model=res.model,
            run_id=run_id_of(res.horizon_days),
            run_date=day,
        )
        con.register("_value", rows)
        con.execute(
            "insert into ml.customer_value select customer_id, horizon_days, "
            "purchase_probability, expected_purchases, expected_value, p_alive, model, run_id, "
            "run_date, false from _value"
        )
        con.unregister("_value")
    con.execute(
        """
        update ml.customer_value as v set is_primary = exists (
            select 1 from ml.propensity_scores as s
            where s.run_date = v.run_date and s.model = 'purchase' and s.is_primary
                and s.horizon_days = v.horizon_days
        )
        where v.run_date = ?
        """,
        [day],
    )
