"""The segmentation tables: their definitions, reading the features, writing a run."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from ml.runs import record_model_run, to_json, utcnow

if TYPE_CHECKING:
    from ml.segmentation.config import SegmentationConfig, SegmentationResult

TASK = "segmentation"

# the tables a run writes (and reads back: the previous runs)
TABLES = (
    "ml.customer_segments",
    "ml.segment_profiles",
    "ml.segment_transitions",
    "ml.segment_names",
    "ml.model_runs",
)


# --------------------------------------------------------------------------- tables

CUSTOMER_SEGMENTS_DDL = """
create table if not exists ml.customer_segments (
    customer_id varchar not null,
    segment_id integer not null,     -- stable across runs (see ml.segment_profiles)
    segment_name varchar not null,
    distance double not null,        -- distance to the segment centroid, standardized units
    run_id varchar not null,
    run_date date not null
)
"""

SEGMENT_PROFILES_DDL = """
create table if not exists ml.segment_profiles (
    segment_id integer not null,
    segment_name varchar not null,
    size bigint not null,            -- customers in the segment
    share double not null,           -- of all segmented customers
    centroid json not null,          -- {feature: value} in original units (orders, money, days, shares)
    top_categories json,             -- [{"category": ..., "share": ...}] by favourite category
    description varchar not null,
    is_new boolean not null,         -- the segment did not match any segment of the previous run
    previous_run_id varchar,         -- the run it was matched against
    run_id varchar not null,
    run_date date not null
)
"""

SEGMENT_TRANSITIONS_DDL = """
create table if not exists ml.segment_transitions (
    from_segment_id integer,         -- null: the customer was not segmented in the previous run
    to_segment_id integer,           -- null: the customer is no longer segmented
    customers bigint not null,
    previous_run_id varchar,
    run_id varchar not null,
    run_date date not null
)
"""


SEGMENT_NAMES_DDL = """
create table if not exists ml.segment_names (
    segment_id integer not null,
    segment_name varchar not null,   -- the name given on named_on
    previous_name varchar,           -- null: a new segment
    reason varchar not null,         -- 'new segment' or why the old name no longer fits
    named_on date not null,          -- the run date the name was given
    run_id varchar not null
)
"""


def ensure_tables(con) -> None:
    from ml.runs import ensure_model_runs

    ensure_model_runs(con)
    con.execute(CUSTOMER_SEGMENTS_DDL)
    con.execute(SEGMENT_PROFILES_DDL)
    con.execute(SEGMENT_TRANSITIONS_DDL)
    con.execute(SEGMENT_NAMES_DDL)


def load_features(con, config: SegmentationConfig, day: dt.date) -> pd.DataFrame:
    """The feature table, one row per customer (erased customers are not in it)."""
    # in a fixed order: the seeded K-Means and the sample that chooses k depend on it,
    # and a table built in parallel has none
    return con.execute(f"select * from {config.feature_table} order by customer_id").df()


def top_categories(con, assignments: pd.DataFrame, n: int = 3) -> dict[int, list[dict[str, Any]]]:
    """The most common favourite categories per segment (from marts.customers)."""
    has = con.execute(
        "select count(*) from information_schema.columns where table_schema = 'marts' "
        "and table_name = 'customers' and column_name = 'favourite_category'"
    ).fetchall()[0][0]
    if not has or assignments.empty:
        return {}
    con.register("_seg_assign", assignments[["customer_id", "segment_id"]])
    try:
        rows = con.execute(
            """
            with counted as (
                select a.segment_id, c.favourite_category as category, count(*) as n
                from _seg_assign as a
                join marts.customers as c on c.customer_id = a.customer_id
                where c.favourite_category is not null
                group by all
            ),
            ranked as (
                select *, n / sum(n) over (partition by segment_id) as share,
                    row_number() over (partition by segment_id order by n desc, category) as rk
                from counted
            )
            select segment_id, category, share from ranked where rk <= ? order by segment_id, rk
            """,
            [n],
        ).fetchall()
    finally:
        con.unregister("_seg_assign")
    out: dict[int, list[dict[str, Any]]] = {}
    for seg, cat, share in rows:
        out.setdefault(int(seg), []).append({"category": cat, "share": round(float(share), 4)})
    return out


def write_result(
    con,
    result: SegmentationResult,
    *,
    started_at: dt.datetime,
    config: SegmentationConfig,
    top_cats: Mapping[int, list[dict[str, Any]]] | None = None,
) -> None:
    """Replace the run's rows in every segmentation table, in one transaction."""
    ensure_tables(con)
    rid, day = result.run_id, result.run_date
    prof = result.profiles.copy()
    prof["top_categories"] = [to_json((top_cats or {}).get(int(s), [])) for s in prof["segment_id"]]
    prof["previous_run_id"] = result.moves.get("previous_run_id")
    prof["run_id"] = rid
    prof["run_date"] = day
    seg = result.assignments.copy()
    seg["run_id"] = rid
    seg["run_date"] = day
    trans = result.transitions.copy()
    trans["previous_run_id"] = result.moves.get("previous_run_id")
    trans["run_id"] = rid
    trans["run_date"] = day
    model = result.model
    sel = model.selection_.to_dict(orient="records")
    data_window = {"as_of": day, "customers": len(seg), "features": list(model.feature_names_in_)}
    con.execute("begin transaction")
    try:
        for table in ("customer_segments", "segment_profiles", "segment_transitions"):
            con.execute(f"delete from ml.{table} where run_date = ?", [day])
        con.execute("delete from ml.segment_names where named_on = ?", [day])
        if len(result.naming):
            con.register("_names", result.naming.assign(named_on=day, run_id=rid))
            con.execute(
                "insert into ml.segment_names select segment_id, segment_name, previous_name, "
                "reason, named_on, run_id from _names"
            )
        con.execute("delete from ml.model_runs where run_id = ?", [rid])
        if config.retention_days is not None:
            con.execute(
                "delete from ml.customer_segments where run_date < ?",
                [day - dt.timedelta(days=config.retention_days)],
            )
        con.register("_seg", seg)
        con.execute(
            "insert into ml.customer_segments select customer_id, segment_id, segment_name, "
            "distance, run_id, run_date from _seg"
        )
        con.register("_prof", prof)
        con.execute(
            "insert into ml.segment_profiles select segment_id, segment_name, size, share, "
            "centroid::json, top_categories::json, description, is_new, previous_run_id, "
            "run_id, run_date from _prof"
        )
        if len(trans):
            con.register("_trans", trans)
            con.execute(
                "insert into ml.segment_transitions select from_segment_id, to_segment_id, "
                "customers, previous_run_id, run_id, run_date from _trans"
            )
        finished = utcnow()
        alt = {a["model"]: a for a in result.alternatives}
        km_metrics = dict(alt.get("kmeans", {}).get("metrics", {}))
        km_metrics |= {
            "k": model.k_,
            "k_reason": model.k_reason_,
            "k_selected_on": result.selected_on,
            "k_selected_inertia_per_customer": result.selected_inertia,
            "warm_started": model.warm_started_,
            "k_selection": sel,
            "inertia": float(model.kmeans_.inertia_),
            "segment_sizes": dict(
                zip(prof["segment_id"].astype(str), prof["size"].astype(int), strict=True)
            ),
            "moves": result.moves,
            "derived_names": dict(
                zip(prof["segment_id"].astype(str), prof["derived_name"], strict=True)
            ),
        }
        params = {
            "k_range": list(config.k_range),
            "n_init": config.n_init,
            "init": "k-means++",
            "silhouette_sample": config.silhouette_sample,
            "tolerance": config.tolerance,
            "max_match_distance": config.max_match_distance,
            "memory_days": config.memory_days,
            "stickiness": config.stickiness,
            "random_state": config.random_state,
            "log_columns": model.preprocessor_.log_columns_,
            "fill_values": model.preprocessor_.fill_values_,
        }
        common = {
            "run_id": rid,
            "task": TASK,
            "run_date": day,
            "data_window": data_window,
            "data_end": day + dt.timedelta(days=1),
            "started_at": started_at,
            "finished_at": finished,
        }
        record_model_run(
            con,
            model="kmeans",
            status="chosen",
            params=params,
            metrics=km_metrics,
            replace=False,
            **common,
        )
        for name in ("gmm", "dbscan"):
            if name in alt:
                record_model_run(
                    con,
                    model=name,
                    status="candidate",
                    params=alt[name]["params"],
                    metrics=alt[name]["metrics"],
                    replace=False,
                    **common,
                )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        for view in ("_seg", "_prof", "_trans", "_names"):
            with contextlib.suppress(Exception):  # not registered
                con.unregister(view)


def record_skipped(con, day: dt.date, message: str, started_at: dt.datetime) -> None:
    from ml import runs

    ensure_tables(con)
    runs.record_skipped(
        con,
        task=TASK,
        model="kmeans",
        run_date=day,
        message=message,
        started_at=started_at,
        clear=("ml.customer_segments", "ml.segment_profiles", "ml.segment_transitions"),
    )
