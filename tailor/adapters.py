"""Adapters that load real public exports into the same raw tables as the landing zone.

* Online Retail (UCI): one CSV line per order line -> ``raw.order_items``, plus the orders,
  customers and products those lines describe. Every line is loaded or quarantined, so the
  541,909 lines reconcile exactly.
* REES46 clickstream: one CSV line per event -> ``raw.events`` in Segment shape
  (view -> Product Viewed, cart -> Product Added, purchase -> Order Completed), plus the
  catalog those events describe (``raw.products``: the export has no catalog file, and a
  store that sends only events should still get recommendations).

An adapter's rows carry ``_source_file = '<adapter>/<file name>'``; loading the same file
again replaces exactly those rows, in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from tailor.ingest import (
    FileLoad,
    LoadError,
    batch_id_for,
    check_parsed,
    file_checksum,
    log_file,
    read_csv_records,
    write_candidates,
)
from tailor.ingest.load import load_transaction
from tailor.sources import SOURCES
from tailor.sqlsafe import quote_literal
from tailor.warehouse import ensure_raw_schema


@dataclass(frozen=True)
class Adapter:
    name: str
    default_file: str  # relative to the data sets folder
    tables: tuple[str, ...]
    columns: tuple[str, ...]  # the header the file must have
    build: Callable[
        [duckdb.DuckDBPyConnection, str, str, dt.datetime], list[tuple[str, int, int, int]]
    ]


def _require_header(path: Path, header: list[str], expected: tuple[str, ...]) -> None:
    missing = [c for c in expected if c not in header]
    if missing:
        raise LoadError(
            f"{path}: not this adapter's format, missing columns {missing} (found {header})"
        )


def _insert_derived(
    con: duckdb.DuckDBPyConnection, table: str, select_sql: str, params: list
) -> int:
    cols = ", ".join(c for c in _raw_cols(table))
    con.execute(f"insert into raw.{table} ({cols}) {select_sql}", params)
    (n,) = con.execute(
        f"select count(*) from raw.{table} where _batch_id = ? and _source_file = ?", params[:2]
    ).fetchone()
    return n


def _raw_cols(table: str) -> list[str]:
    from tailor.warehouse import raw_columns

    return raw_columns(table)


ORDER_TS = "try_strptime(_ordered_at, '%Y-%m-%d %H:%M:%S')"


def _online_retail(
    con: duckdb.DuckDBPyConnection, batch_id: str, label: str, loaded_at: dt.datetime
):
    # CustomerID arrives as float text ("17850.0"); the id is the integer part.
    con.execute(
        """
        create or replace temp table _parsed as
        select
            _line, _record, null::varchar as _pre_code, null::varchar as _pre_reason,
            InvoiceNo as order_id,
            (row_number() over (partition by InvoiceNo order by _line))::varchar as line_number,
            StockCode as product_id,
            Description as title,
            Quantity as quantity,
            UnitPrice as unit_price,
            null::varchar as discount,
            'GBP' as currency,
            null::json as extra,
            InvoiceDate as _ordered_at,
            nullif(regexp_replace(trim(CustomerID), '\\.0+$', ''), '') as _customer_id,
            Country as _country
        from _lines
        """
    )
    check_parsed(
        con,
        SOURCES["order_items"],
        extra_checks=[
            (
                "_ordered_at is null or trim(_ordered_at) = ''",
                "missing_required_field",
                "'missing required field: InvoiceDate'",
            ),
            (
                f"{ORDER_TS} is null",
                "invalid_timestamp",
                "'unparseable timestamp in InvoiceDate: ' || _ordered_at",
            ),
        ],
    )
    read, loaded, quarantined = write_candidates(
        con,
        SOURCES["order_items"],
        day=None,
        batch_id=batch_id,
        source_file=label,
        loaded_at=loaded_at,
        day_expr=f"{ORDER_TS}::date",
    )
    out = [("order_items", read, loaded, quarantined)]
    good = f"(select *, {ORDER_TS} as _ts, try_cast(quantity as integer) * try_cast(unit_price as decimal(18,2)) as _amount from _cand where _reason_code is null)"
    meta = "?, ?, min(_line), ?"
    params = [batch_id, label, loaded_at]
    # one insert per derived table (orders, customers, products), each its own SQL
    n = _insert_derived(
        con,
        "orders",
        f"""
        select order_id, any_value(_customer_id), strftime(min(_ts), '%Y-%m-%d %H:%M:%S'),
               case when starts_with(order_id, 'C') then 'cancelled' else 'completed' end,
               'GBP', sum(_amount), 0, 0, sum(_amount), null, 'web', any_value(_country),
               strftime(max(_ts), '%Y-%m-%d %H:%M:%S'), null, min(_ts)::date, {meta}
        from {good} group by order_id
        """,
        params,
    )
    out.append(("orders", n, n, 0))
    n = _insert_derived(
        con,
        "customers",
        f"""
        select _customer_id, null, null, null, null, null, mode(_country), null, null, null,
               strftime(min(_ts), '%Y-%m-%d %H:%M:%S'), strftime(max(_ts), '%Y-%m-%d %H:%M:%S'),
               null, min(_ts)::date, {meta}
        from {good} where _customer_id is not null group by _customer_id
        """,
        params,
    )
    out.append(("customers", n, n, 0))
    n = _insert_derived(
        con,
        "products",
        f"""
        select product_id, mode(title) filter (where title is not null), null, null, null,
               arg_max(try_cast(unit_price as decimal(18,2)), _ts)
                   filter (where try_cast(unit_price as decimal(18,2)) > 0), 'GBP', true,
               strftime(min(_ts), '%Y-%m-%d %H:%M:%S'), strftime(max(_ts), '%Y-%m-%d %H:%M:%S'),
               null, min(_ts)::date, {meta}
        from {good} group by product_id
        -- a free line (price 0) is sold at no price: a code only ever given away is no
        -- catalog product (its lines load; they count as lines of an unknown product)
        having max(try_cast(unit_price as decimal(18,2))) > 0
        """,
        params,
    )
    out.append(("products", n, n, 0))
    return out


REES46_EVENTS = {
    "view": "Product Viewed",
    "cart": "Product Added",
    "remove_from_cart": "Product Removed",
    "purchase": "Order Completed",
}


def _rees46(con: duckdb.DuckDBPyConnection, batch_id: str, label: str, loaded_at: dt.datetime):
    ts = "try_strptime(event_time, '%Y-%m-%d %H:%M:%S UTC')"
    mapping = (
        "case event_type "
        + " ".join(
            f"when {quote_literal(k)} then {quote_literal(v)}" for k, v in REES46_EVENTS.items()
        )
        + " else event_type end"
    )
    con.execute(
        f"""
        create or replace temp table _parsed as
        select
            _line, _record, null::varchar as _pre_code, null::varchar as _pre_reason,
            'rees46-' || md5(concat_ws('|', event_time, event_type, product_id, user_id, user_session)) as message_id,
            'track' as type,
            {mapping} as event,
            null::varchar as name,
            nullif(user_session, '') as anonymous_id,
            nullif(user_id, '') as user_id,
            coalesce(strftime({ts}, '%Y-%m-%dT%H:%M:%SZ'), event_time) as event_timestamp,
            null::varchar as sent_at,
            null::varchar as received_at,
            json_object(
                'product_id', product_id,
                'category_id', category_id,
                'category', nullif(category_code, ''),
                'brand', nullif(brand, ''),
                'price', coalesce(to_json(try_cast(price as double)), to_json(price)),
                'quantity', 1,
                'currency', 'USD'
            ) as properties,
            null::json as traits,
            null::json as context,
            null::json as extra,
            {ts}::date as _day,
            {ts} as _ts,
            nullif(trim(product_id), '') as _product_id,
            try_cast(price as decimal(18,2)) as _price,
            nullif(trim(brand), '') as _brand,
            nullif(trim(category_code), '') as _category_code,
            nullif(trim(category_id), '') as _category_id
        from _lines
        """
    )
    check_parsed(con, SOURCES["events"])
    read, loaded, quarantined = write_candidates(
        con,
        SOURCES["events"],
        day=None,
        batch_id=batch_id,
        source_file=label,
        loaded_at=loaded_at,
        day_expr="_day",
    )
    out = [("events", read, loaded, quarantined)]
    # The catalog, one row per product of the loaded events (a quarantined event, e.g. one
    # priced 0, describes no product): its latest price, brand and category as of its
    # latest event. The export has no title, so the title is brand, category and id.
    latest = "row(_ts, _line)"
    n = _insert_derived(
        con,
        "products",
        f"""
        select _product_id, concat_ws(' ', brand, category_name, '#' || _product_id),
               null, category_path, brand, price, 'USD', true,
               strftime(first_ts, '%Y-%m-%dT%H:%M:%SZ'), strftime(last_ts, '%Y-%m-%dT%H:%M:%SZ'),
               null, first_ts::date, ?, ?, first_line, ?
        from (
            select _product_id,
                   arg_max(_brand, {latest}) filter (where _brand is not null) as brand,
                   -- "appliances.environment.water_heater" -> "appliances > environment >
                   -- water_heater", the catalog's path; the bare category id where no code
                   arg_max(coalesce(replace(_category_code, '.', ' > '), _category_id), {latest})
                       filter (where coalesce(_category_code, _category_id) is not null)
                       as category_path,
                   replace(regexp_extract(arg_max(_category_code, {latest})
                       filter (where _category_code is not null), '[^.]*$'), '_', ' ')
                       as category_name,
                   arg_max(_price, {latest}) filter (where _price > 0) as price,
                   min(_ts) as first_ts, max(_ts) as last_ts, min(_line) as first_line
            from _cand
            where _reason_code is null and _product_id is not null
            group by _product_id
        )
        where price is not null
        """,
        [batch_id, label, loaded_at],
    )
    out.append(("products", n, n, 0))
    return out


ADAPTERS: dict[str, Adapter] = {
    "online-retail": Adapter(
        name="online-retail",
        default_file="online-retail/online_retail.csv.gz",
        tables=("order_items", "orders", "customers", "products"),
        columns=(
            "InvoiceNo",
            "StockCode",
            "Description",
            "Quantity",
            "InvoiceDate",
            "UnitPrice",
            "CustomerID",
            "Country",
        ),
        build=_online_retail,
    ),
    "rees46": Adapter(
        name="rees46",
        default_file="rees46-sample/events_2019-10-01_head.csv.gz",
        tables=("events", "products"),
        columns=(
            "event_time",
            "event_type",
            "product_id",
            "category_id",
            "category_code",
            "brand",
            "price",
            "user_id",
            "user_session",
        ),
        build=_rees46,
    ),
}


def load_adapter(con: duckdb.DuckDBPyConnection, name: str, path: Path) -> list[FileLoad]:
    """Load one export file through its adapter, replacing what that file loaded before."""
    if name not in ADAPTERS:
        raise LoadError(f"unknown adapter {name!r}; choose one of {sorted(ADAPTERS)}")
    adapter = ADAPTERS[name]
    path = Path(path)
    if not path.is_file():
        raise LoadError(f"{path}: no such file")
    ensure_raw_schema(con)
    label = f"{name}/{path.name}"
    checksum = file_checksum(path)
    batch_id = batch_id_for([name, checksum])
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with load_transaction(con):
        header = read_csv_records(con, path)
        _require_header(path, header, adapter.columns)
        for table in adapter.tables:
            con.execute(f"delete from raw.{table} where _source_file = ?", [label])
        con.execute("delete from raw.quarantine where source_file = ?", [label])
        con.execute("delete from raw.load_log where source_file = ?", [label])
        loads = []
        for table, read, loaded, quarantined in adapter.build(con, batch_id, label, started):
            load = FileLoad(
                table, None, label, checksum, path.stat().st_size, read, loaded, quarantined
            )
            log_file(con, load, batch_id, started, dt.datetime.now(dt.UTC).replace(tzinfo=None))
            loads.append(load)
    return loads
