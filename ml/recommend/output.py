"""The tables the job writes (``ml.recommendations``, ``ml.similar_items``, its
``ml.model_runs`` rows), replaced per day in one transaction."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from ml.recommend.config import TASK, RecommendConfig
from ml.recommend.data import RecData, full_matrix
from ml.recommend.selection import Evaluation
from ml.recommend.serving import REASONS, Served, recommendation_batches, similar_item_rows

RECOMMENDATIONS_DDL = """
create table if not exists ml.recommendations (
    customer_id varchar not null,
    rank integer not null,              -- 1 = best, up to the configured k
    product_id varchar not null,
    score double not null,              -- the producing model's score (compare within one model only)
    model varchar not null,             -- the model that proposed the product (the served model, or popularity as fill and cold start)
    reason varchar not null,            -- shown to people: because you viewed "X" | popular in your segment | ...
    reason_code varchar not null,       -- viewed | added_to_cart | bought (reason_product_id) | viewed_before | in_cart | bought_before | for_you | popular_in_segment | popular
    reason_product_id varchar,          -- the customer's product behind a 'because you ...' reason
    run_id varchar not null,
    run_date date not null
)
"""

SIMILAR_ITEMS_DDL = """
create table if not exists ml.similar_items (
    product_id varchar not null,
    rank integer not null,              -- 1 = most similar
    similar_product_id varchar not null,
    score double not null,              -- the model's similarity (compare within one model only)
    model varchar not null,             -- the served model, or content (TF-IDF) where it knows too few neighbours
    run_id varchar not null,
    run_date date not null
)
"""


# the tables a run writes (and reads back: the previous runs it is compared with)
TABLES = ("ml.recommendations", "ml.similar_items", "ml.model_runs")


def ensure_tables(con: Any) -> None:
    from ml.runs import ensure_model_runs

    ensure_model_runs(con)
    con.execute(RECOMMENDATIONS_DDL)
    con.execute(SIMILAR_ITEMS_DDL)


def write_run(
    con: Any,
    data: RecData,
    day: dt.date,
    evaluation: Evaluation,
    served: Served,
    config: RecommendConfig,
    *,
    started_at: dt.datetime,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Replace the day's rows of every recommendation table, in one transaction."""
    from ml.runs import record_model_run, run_id, utcnow

    ensure_tables(con)
    rid = run_id(TASK, day)
    X = served.X if served.X is not None else full_matrix(data)
    _id_tables(con, data)
    con.execute("begin transaction")
    try:
        con.execute("delete from ml.recommendations where run_date = ?", [day])
        con.execute("delete from ml.similar_items where run_date = ?", [day])
        con.execute("delete from ml.model_runs where run_id = ?", [rid])
        n_rows = 0
        rec_started = time.perf_counter()
        for batch in recommendation_batches(data, served, config, X):
            con.register("_rec_batch", batch)
            con.execute(
                f"""
                insert into ml.recommendations
                select
                    c.customer_id, b.rank, p.product_id, b.score, b.model,
                    case
                        when b.reason_code in ('bought', 'added_to_cart', 'viewed') then
                            {_reason_sql("b.reason_code", "a.title", "a.product_id")}
                        else case b.reason_code
                            {" ".join(f"when '{c}' then '{t}'" for c, t in REASONS.items() if c not in ("bought", "added_to_cart", "viewed"))}
                            else b.reason_code
                        end
                    end,
                    b.reason_code,
                    a.product_id,
                    ?, ?
                from _rec_batch as b
                join _rec_customers as c on b."user" = c.idx
                join _rec_products as p on b.item = p.idx
                left join _rec_products as a on b.reason_item = a.idx
                """,
                [rid, day],
            )
            con.unregister("_rec_batch")
            n_rows += len(batch)
            if log:
                log(f"recommendations: {n_rows:,} rows")
        rec_seconds = time.perf_counter() - rec_started
        sim = similar_item_rows(data, served, config)
        if len(sim):
            con.register("_sim_batch", sim)
            con.execute(
                """
                insert into ml.similar_items
                select p.product_id, s.rank, q.product_id, s.score, s.model, ?, ?
                from _sim_batch as s
                join _rec_products as p on s.item = p.idx
                join _rec_products as q on s.similar_item = q.idx
                """,
                [rid, day],
            )
            con.unregister("_sim_batch")
        finished = utcnow()
        data_start = data.interactions["first_at"].min() if len(data.interactions) else None
        served_name = evaluation.served
        for r in evaluation.results:
            metrics = dict(r.metrics)
            if r.name == served_name:
                metrics |= {
                    "served_fit_seconds": round(served.fit_seconds, 3),
                    "served_recommend_seconds": round(rec_seconds, 3),
                    "recommendation_rows": n_rows,
                    "similar_item_rows": len(sim),
                }
            record_model_run(
                con,
                run_id=rid,
                model=r.name,
                task=TASK,
                run_date=day,
                status=r.status,
                params=r.params
                | ({"config": _config_dict(config)} if r.name == served_name else {}),
                metrics=metrics,
                data_window=evaluation.data_window,
                data_start=None
                if data_start is None or pd.isna(data_start)
                else pd.Timestamp(data_start).floor("us").to_pydatetime(),
                data_end=data.as_of,
                message=r.message,
                started_at=started_at,
                finished_at=finished,
                replace=False,
            )
        if config.retention_days is not None:
            con.execute(
                """
                delete from ml.recommendations
                where run_date < (select max(run_date) from ml.recommendations) - ?::integer
                """,
                [config.retention_days],
            )
            con.execute(
                """
                delete from ml.similar_items
                where run_date < (select max(run_date) from ml.similar_items) - ?::integer
                """,
                [config.retention_days],
            )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return {
        "recommendation_rows": n_rows,
        "similar_item_rows": len(sim),
        "recommend_seconds": round(rec_seconds, 2),
    }


def _id_tables(con: Any, data: RecData) -> None:
    """Temp tables mapping the integer indices back to ids (and titles, for reasons)."""
    customers = pd.DataFrame(
        {"idx": np.arange(data.n_users, dtype=np.int32), "customer_id": data.customer_ids}
    )
    titles = (
        data.products["title"] if "title" in data.products else pd.Series([None] * data.n_items)
    )
    products = pd.DataFrame(
        {
            "idx": np.arange(data.n_items, dtype=np.int32),
            "product_id": data.products["product_id"].to_numpy(),
            "title": titles.to_numpy(),
        }
    )
    for name, frame in (("_rec_customers", customers), ("_rec_products", products)):
        con.register("_rec_frame", frame)
        con.execute(f"create or replace temp table {name} as select * from _rec_frame")
        con.unregister("_rec_frame")


def _reason_sql(code: str, title: str, product_id: str) -> str:
    verb = (
        f"case {code} when 'bought' then 'because you bought ' "
        f"when 'added_to_cart' then 'because you added ' else 'because you viewed ' end"
    )
    tail = f"case when {code} = 'added_to_cart' then ' to your cart' else '' end"
    return f"{verb} || '\"' || coalesce({title}, {product_id}) || '\"' || {tail}"


def _config_dict(config: RecommendConfig) -> dict[str, Any]:
    d = asdict(config)
    d["weights"] = dict(config.weights)
    return d


def record_skipped(con: Any, day: dt.date, message: str, started_at: dt.datetime) -> None:
    from ml import runs

    ensure_tables(con)
    runs.record_skipped(
        con,
        task=TASK,
        model="popularity",
        run_date=day,
        message=message,
        started_at=started_at,
        clear=("ml.recommendations", "ml.similar_items"),
    )
