"""Publishing the read-only analyst snapshot.

DuckDB allows one writer or many readers per file, never both. So analysts never open the
warehouse the pipeline writes: after a good run the warehouse's tables are copied into a
new file, which is moved into place with an atomic rename. A reader that has the old
snapshot open keeps reading its old file until it reconnects.

Least privilege. Analysts need segments, scores and behaviour, not contact data, so the
snapshot carries no direct identifier (:data:`COLUMN_RULES`, applied to every table):
emails and phones become a stable keyed pseudonym (HMAC-SHA256; the same address gives
the same pseudonym in every table and every night, so counts and joins still work), names
and street addresses are null, IP addresses and contact keys are removed from JSON
columns (``raw.events.context.ip``, ``traits.email``), and the record text of quarantined
rows is cleaned the same way (or dropped for sources whose lines hold names). Customer ids
stay: they are pseudonymous business keys. The key is ``TAILOR_PRIVACY_KEY`` or, when unset,
the random key kept in ``private.subject_key`` of the restricted warehouse (created on
first use); the ``private`` schema is never copied. ``TAILOR_SNAPSHOT_PII=full`` publishes
every column as it is, for teams allowed to see contact data. Exports and erasure read the
restricted warehouse, never the snapshot.

Readable by the tools analysts have. The file is written in DuckDB's storage format
:data:`STORAGE_VERSION`, which DuckDB 1.4.0 and every later release (CLI, Python, JDBC
for DBeaver, ODBC) open; the project ships the DuckDB CLI (``make sql``). Tables are
copied with their comments; views are recreated from their SQL and kept when they read
only snapshot objects.

Crash safety: the new file is written beside the snapshot as
``.<name>.<pid>.tmp``, checkpointed, closed, fsynced and renamed over the old one; the
partial file of a killed publish is removed by the next one.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import click
import duckdb

from tailor.erased import PrivacyKeyError, subject_key
from tailor.settings import Settings, get_settings
from tailor.sqlsafe import quote_ident, quote_literal
from tailor.warehouse import connect

log = logging.getLogger(__name__)

STORAGE_VERSION = "v1.4.0"
READERS = "DuckDB 1.4.0 and later"

PII_ENV = "TAILOR_SNAPSHOT_PII"  # "full": publish contact data as it is
# The restricted schema (the privacy key, legacy hashes): never copied.
NEVER_COPIED = ("private",)


class PublishError(click.ClickException):
    """The snapshot could not be written. A click error, so that every command that
    publishes (``run``, ``export``, ``erase``, ``publish``) says why without a traceback."""


@dataclass(frozen=True)
class ColumnRule:
    """What the least-privilege snapshot does with a column of this name, in any table."""

    column: str
    action: str  # pseudonym | null | scrub_json | scrub_record
    rule: str  # what analysts see (the README renders :func:`rules_markdown`)


JSON_KEYS = (
    "email",
    "phone",
    "ip",
    "first_name",
    "last_name",
    "firstName",
    "lastName",
    "address",
    "street",
)
TRAITS_KEYS = (*JSON_KEYS, "name", "username", "birthday")

# the rules as data, one ColumnRule per column
COLUMN_RULES: tuple[ColumnRule, ...] = (
    ColumnRule(
        "email",
        "pseudonym",
        "`email:` + 32 hex digits, a keyed pseudonym of the trimmed, lower-cased address",
    ),
    ColumnRule(
        "email_sha256",
        "pseudonym",
        "`email_sha256:` + 32 hex digits (a plain sha256 of an address can be reversed by guessing)",
    ),
    ColumnRule("phone", "pseudonym", "`phone:` + 32 hex digits, of the number without separators"),
    ColumnRule("first_name", "null", "null"),
    ColumnRule("last_name", "null", "null"),
    ColumnRule("street", "null", "null"),
    ColumnRule("address", "null", "null"),
    ColumnRule("ip", "null", "null (`ip_truncated`, the /24 network, stays)"),
    ColumnRule("ip_address", "null", "null"),
    ColumnRule(
        "traits",
        "scrub_json",
        "JSON whose keys "
        + ", ".join(f"`{k}`" for k in TRAITS_KEYS)
        + " hold null; emails in any other value replaced by `[email]`",
    ),
    ColumnRule(
        "(any other JSON column)",
        "scrub_json",
        "e.g. `raw.events.context`, `extra`: JSON whose keys "
        + ", ".join(f"`{k}`" for k in JSON_KEYS)
        + " hold null at any depth (`context.ip` is null); emails in any other value"
        " replaced by `[email]`",
    ),
    ColumnRule(
        "record",
        "scrub_record",
        "`raw.quarantine.record`: null for the sources whose lines hold names "
        "(customers, erasure_requests); elsewhere the text with `traits` and the JSON keys "
        "above nulled, emails and IPv4 addresses replaced",
    ),
)

_RULES = {r.column: r for r in COLUMN_RULES}
RECORD_DROPPED_SOURCES = ("customers", "erasure_requests")

_EMAIL_RE = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
# not after a '/' (user agents: "Chrome/136.0.0.0")
_IPV4_RE = r"(^|[^/0-9.])[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\b"
_TRAITS_OBJECT_RE = r'"traits"\s*:\s*\{[^}]*\}?'
# a JSON string (possibly cut off by a truncated record) or a scalar
_JSON_VALUE_RE = r'("(?:[^"\\]|\\.)*"?|[^,{}\[\]\s"]+)'


def full_pii() -> bool:
    return os.environ.get(PII_ENV, "").strip().lower() == "full"


def rules_markdown() -> str:
    """:data:`COLUMN_RULES` as a markdown table (the README's copy)."""
    lines = ["| column (any table) | in the snapshot |", "| --- | --- |"]
    lines += [f"| `{r.column}` | {r.rule} |" for r in COLUMN_RULES]
    return "\n".join(lines)


# --------------------------------------------------------------------------- pseudonyms


def _normalize(kind: str, value: str) -> str:
    if kind == "email":
        return value.strip().lower()
    if kind == "phone":
        return re.sub(r"[^0-9+]", "", value)
    return value.strip()


def pseudonym(key: bytes, kind: str, value: str | None) -> str | None:
    """``<kind>:<32 hex digits>``, HMAC-SHA256 of the normalized value (null stays null)."""
    if value is None:
        return None
    norm = _normalize(kind, value)
    if not norm:
        return None
    digest = hmac.new(key, f"{kind}|{norm}".encode(), hashlib.sha256).hexdigest()
    return f"{kind}:{digest[:32]}"


# --------------------------------------------------------------------------- columns


def _scrub_json_sql(expr: str, keys: tuple[str, ...]) -> str:
    key_re = '(?i)("(?:' + "|".join(re.escape(k) for k in keys) + ')"\\s*:\\s*)' + _JSON_VALUE_RE
    text = f"regexp_replace({expr}::varchar, {quote_literal(key_re)}, '\\1null', 'g')"
    return f"regexp_replace({text}, {quote_literal(_EMAIL_RE)}, '[email]', 'g')"


def column_sql(name: str, data_type: str, table: str) -> str:
    """The select expression that publishes column ``name`` of ``table`` (quoted)."""
    col = quote_ident(name)
    rule = _RULES.get(name)
    typ = data_type.upper()
    json = typ == "JSON"
    if rule is None and json:
        rule = _RULES["(any other JSON column)"]
    if rule is None:
        return col
    if rule.action in ("scrub_json", "scrub_record") and not (json or typ.startswith("VARCHAR")):
        return col
    if rule.action == "pseudonym":
        return f"tailor_pseudonym({quote_literal(name)}, {col}::varchar) as {col}"
    if rule.action == "null":
        return f"cast(null as {data_type}) as {col}"
    if rule.action == "scrub_json":
        keys = TRAITS_KEYS if name == "traits" else JSON_KEYS
        cleaned = _scrub_json_sql(col, keys)
        return f"{cleaned}::{'json' if json else 'varchar'} as {col}"
    if table == "raw.quarantine":
        dropped = ", ".join(quote_literal(s) for s in RECORD_DROPPED_SOURCES)
        cleaned = (
            f"regexp_replace({col}, {quote_literal(_TRAITS_OBJECT_RE)}, '\"traits\":null', 'g')"
        )
        cleaned = _scrub_json_sql(cleaned, JSON_KEYS)
        cleaned = f"regexp_replace({cleaned}, {quote_literal(_IPV4_RE)}, '\\1[ip]', 'g')"
        return f"case when source in ({dropped}) then null else {cleaned} end as {col}"
    return col


# --------------------------------------------------------------------------- files


def _remove_stale(snapshot: Path) -> None:
    """Remove the partial copies of publishes that were killed (their pid is gone)."""
    for path in snapshot.parent.glob(f".{snapshot.name}.*.tmp*"):
        m = re.fullmatch(rf"\.{re.escape(snapshot.name)}\.(\d+)\.tmp(\.wal)?", path.name)
        if not m:
            continue
        pid = int(m.group(1))
        alive = pid != os.getpid()
        if alive:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                alive = False
            except PermissionError:
                pass
        if not alive or pid == os.getpid():
            path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_tables(
    con: duckdb.DuckDBPyConnection, tmp: Path, least_privilege: bool
) -> list[tuple[str, str, str]]:
    """Copy every schema and table (but ``private``) of ``con`` into a new file ``tmp`` in
    the snapshot's storage version; return the views (schema, name, sql) to recreate."""
    db = con.execute("select current_database()").fetchall()[0][0]
    never = ", ".join(quote_literal(s) for s in NEVER_COPIED)

    def catalog(function: str, columns: str, temporary: bool = True) -> list[tuple]:
        return con.execute(
            f"select {columns} from {function}() where database_name = ? and not internal"
            f" and schema_name not in ({never}){' and not temporary' if temporary else ''}"
            " order by all",
            [db],
        ).fetchall()

    schemas = catalog("duckdb_schemas", "schema_name", temporary=False)
    tables = catalog("duckdb_tables", "schema_name, table_name, comment")
    views = catalog("duckdb_views", "schema_name, view_name, sql, comment")
    columns: dict[tuple[str, str], list[tuple[str, str, str | None]]] = {}
    for schema, table, col, typ, comment in con.execute(
        "select schema_name, table_name, column_name, data_type, comment from duckdb_columns()"
        " where database_name = ? order by schema_name, table_name, column_index",
        [db],
    ).fetchall():
        columns.setdefault((schema, table), []).append((col, typ, comment))

    con.execute(
        f"attach {quote_literal(str(tmp))} as snap (storage_version {quote_literal(STORAGE_VERSION)})"
    )
    comments = []
    try:
        for (schema,) in schemas:
            con.execute(f"create schema if not exists snap.{quote_ident(schema)}")
        for schema, table, comment in tables:
            name = f"{quote_ident(schema)}.{quote_ident(table)}"
            cols = columns[(schema, table)]
            exprs = (
                ", ".join(column_sql(c, t, f"{schema}.{table}") for c, t, _ in cols)
                if least_privilege
                else "*"
            )
            con.execute(f"create table snap.{name} as select {exprs} from {quote_ident(db)}.{name}")
            if comment:
                comments.append(f"comment on table snap.{name} is {quote_literal(comment)}")
            comments += [
                f"comment on column snap.{name}.{quote_ident(c)} is {quote_literal(col_comment)}"
                for c, _, col_comment in cols
                if col_comment
            ]
        _in_one_transaction(con, comments)
    finally:
        con.execute("detach snap")
    return (
        [(s, v, sql) for s, v, sql, _ in views]
        + [
            (s, v, f"comment on view {quote_ident(s)}.{quote_ident(v)} is {quote_literal(c)}")
            for s, v, _, c in views
            if c
        ]
        + [
            (
                s,
                v,
                f"comment on column {quote_ident(s)}.{quote_ident(v)}.{quote_ident(col)}"
                f" is {quote_literal(c)}",
            )
            for s, v, _, _ in views
            for col, _, c in columns.get((s, v), [])
            if c
        ]
    )


def _in_one_transaction(con: duckdb.DuckDBPyConnection, statements: list[str]) -> None:
    """Run ``statements`` (a description per table and column: a thousand on tiny data) as
    one script in one transaction: each on its own commits, ~1.5 s a publish."""
    if not statements:
        return
    con.execute("begin transaction")
    try:
        con.execute(";\n".join(statements))
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def _create_views(tmp: Path, views: list[tuple[str, str, str]], settings: Settings) -> list[str]:
    """Recreate the views in the new file alone, so a view binds only to snapshot objects;
    views that depend on other views are retried until no more can be made. Returns the
    views left out."""
    con = connect(tmp, settings=settings)
    try:
        pending = list(views)
        while pending:
            failed = []
            for schema, view, sql in pending:
                try:
                    con.execute(sql)
                except duckdb.Error:
                    failed.append((schema, view, sql))
            if len(failed) == len(pending):
                break
            pending = failed
        con.execute("checkpoint")
    finally:
        con.close()
    return sorted({f"{s}.{v}" for s, v, _ in pending})


def _sync_run_log(con: duckdb.DuckDBPyConnection, s: Settings) -> None:
    """Bring the run log file (``<data>/runs/run_log.jsonl``) into ``ops.run_log`` (created
    empty when there is no event yet), so analysts can query it in the snapshot."""
    from tailor import descriptions
    from tailor.runlog import load_run_log, run_log_path

    try:
        load_run_log(con, run_log_path(s))
    except OSError as exc:  # the events stay in the file; the next publish loads them
        log.warning("could not load the run log into ops.run_log: %s", exc)
    # created here, after the commit wrote the other tables' descriptions
    descriptions.apply(con, s.dbt_project)


def publish_snapshot(settings: Settings | None = None) -> Path:
    """Publish the analyst snapshot from the committed warehouse (see the module doc)."""
    s = settings or get_settings()
    if not s.warehouse.exists():
        raise PublishError(f"no warehouse at {s.warehouse}: run `tailor run` first")
    least_privilege = not full_pii()
    committed = (
        "The warehouse is committed (a run that publishes has finished its day) and this"
        " does not change it; fix this and run `tailor publish`."
    )
    folder = s.snapshot.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _remove_stale(s.snapshot)
        tmp = s.snapshot.with_name(f".{s.snapshot.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        probe = open(tmp, "wb")  # noqa: SIM115 - an unwritable folder fails here, clearly
        probe.close()
        tmp.unlink()
    except OSError as exc:
        blocked = next((p for p in (folder, *folder.parents) if p.exists()), folder)
        reason = (
            f"{blocked} is a file, not a folder"
            if not blocked.is_dir()
            else (exc.strerror or str(exc))
        )
        raise PublishError(
            f"cannot write the analyst snapshot in {folder}: {reason}. {committed}"
        ) from exc
    try:
        con = connect(s.warehouse, settings=s)
        try:
            _sync_run_log(con, s)
            con.execute("checkpoint")
            if least_privilege:
                try:
                    key = subject_key(con)
                except PrivacyKeyError as exc:
                    raise PublishError(f"cannot publish the analyst snapshot: {exc}") from exc
                con.create_function(
                    "tailor_pseudonym",
                    lambda kind, value: pseudonym(key, kind, value),
                    ["VARCHAR", "VARCHAR"],
                    "VARCHAR",
                )
            views = _copy_tables(con, tmp, least_privilege)
        finally:
            con.close()
        _create_views(tmp, views, s)
        _fsync(tmp)
        os.replace(tmp, s.snapshot)
        _fsync(s.snapshot.parent)
    except (OSError, duckdb.IOException) as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
            tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)
        raise PublishError(
            f"could not write the analyst snapshot {s.snapshot}: {exc}. {committed}"
        ) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
            tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)
        raise
    return s.snapshot
