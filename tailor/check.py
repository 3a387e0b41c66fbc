"""`tailor check`: a landing folder (or one file) against the contract, before any load.

The files go through the loader's own parsing and record checks (``tailor.ingest``) into
an in-memory DuckDB, so what the check says will load, and what it says will be
quarantined and why, is exactly what ``tailor load`` would do. The warehouse is never
opened. On top of the record checks it looks at what only the whole folder shows:
partitions, event names outside the Segment e-commerce spec, products the catalog does
not know, customers without a consent record, and which features the sources present
can feed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from tailor import ingest
from tailor.sources import LOAD_ORDER, ORDER_EVENTS, SEGMENT_ECOMMERCE_SPEC, SOURCES
from tailor.warehouse import ensure_raw_schema

ERROR = "error"
WARNING = "warning"
INFO = "info"

# Quarantined records listed per file before "and N more".
SHOWN_PER_FILE = 20

# What each feature needs, and what it means when a source is absent (the README's table).
FEATURES: tuple[tuple[str, str, str], ...] = (
    (
        "recommendations",
        "products, and events (views, cart adds, orders) or orders with order_items",
        "without a catalog nothing can be recommended; without any interaction everyone gets "
        "nothing personal",
    ),
    (
        "sessions and behavioural features",
        "events",
        "absent (null), not zero: marts.sessions is empty and the behavioural columns of "
        "customer_features are null",
    ),
    (
        "RFM, segments and propensity",
        "orders (backend orders, or Order Completed events)",
        "no purchase history: every customer is a non-buyer",
    ),
    (
        "personal recommendations and exports",
        "consents",
        "customers without a personalization consent get the global list; nobody is exported",
    ),
    ("profiles (names, emails, countries)", "customers", "profiles hold only ids"),
)


@dataclass(frozen=True)
class Finding:
    severity: str  # error | warning | info
    where: str  # a file and line, a file, a source or a folder
    message: str

    def __str__(self) -> str:
        return f"{self.severity.upper():7} {self.where}: {self.message}"


@dataclass
class CheckReport:
    target: Path
    loads: list[ingest.FileLoad] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    features: list[tuple[str, bool, str]] = field(default_factory=list)  # name, fed, note

    @property
    def ok(self) -> bool:
        return not any(f.severity == ERROR for f in self.findings)

    def add(self, severity: str, where: str, message: str) -> None:
        self.findings.append(Finding(severity, where, message))

    def totals(self) -> dict[str, tuple[int, int, int, int]]:
        """source -> (files, read, will load, will be quarantined)."""
        out: dict[str, list[int]] = {}
        for ld in self.loads:
            t = out.setdefault(ld.source, [0, 0, 0, 0])
            t[0] += 1
            t[1] += ld.rows_read
            t[2] += ld.rows_loaded
            t[3] += ld.rows_quarantined
        return {k: (v[0], v[1], v[2], v[3]) for k, v in out.items()}

    def render(self) -> str:
        lines = [f"tailor check {self.target}", ""]
        totals = self.totals()
        if totals:
            lines.append(
                f"{'source':18} {'files':>6} {'records':>9} {'will load':>10} {'quarantine':>11}"
            )
            for name in LOAD_ORDER:
                if name in totals:
                    f, r, ld, q = totals[name]
                    lines.append(f"{name:18} {f:>6} {r:>9,} {ld:>10,} {q:>11,}")
            lines.append("")
        for severity in (ERROR, WARNING, INFO):
            found = [f for f in self.findings if f.severity == severity]
            if found:
                lines.append(f"{severity}s ({len(found)}):")
                lines += [f"  {f.where}: {f.message}" for f in found]
                lines.append("")
        if self.features:
            lines.append("features:")
            for name, fed, note in self.features:
                lines.append(f"  [{'x' if fed else ' '}] {name}{'' if fed else ': ' + note}")
            lines.append("")
        errors = sum(f.severity == ERROR for f in self.findings)
        lines.append(
            "OK: the folder keeps to the contract"
            if self.ok
            else f"FAILED: {errors} problem(s); fix them or expect the quarantine above"
        )
        return "\n".join(lines)


def _day_of(folder_name: str) -> dt.date | None:
    """The day a ``dt=YYYY-MM-DD`` folder name names, None when it names no real day."""
    m = ingest.PARTITION_RE.match(folder_name)
    try:
        return dt.date.fromisoformat(m.group(1)) if m else None
    except ValueError:
        return None


def _partition_of(path: Path) -> tuple[Path, str, dt.date] | None:
    """(landing, source, day) of a file at <landing>/<source>/dt=YYYY-MM-DD/<file>."""
    folder, source = path.parent, path.parent.parent.name
    day = _day_of(folder.name)
    if day is None or source not in SOURCES:
        return None
    return folder.parent.parent, source, day


def _load_file(con: duckdb.DuckDBPyConnection, report: CheckReport, path: Path) -> None:
    where = _partition_of(path)
    if where is None:
        report.add(
            ERROR,
            str(path),
            "not inside <landing>/<source>/dt=YYYY-MM-DD/ (sources: " + ", ".join(SOURCES) + ")",
        )
        return
    landing, source, day = where
    reason = ingest.skip_reason(path, landing)
    if reason is not None:
        report.add(ERROR, str(path), reason)
        return
    rel = path.relative_to(landing).as_posix()
    try:
        report.loads.append(
            ingest.load_file(con, SOURCES[source], day, path, rel, "", "check", ingest._now())
        )
    except ingest.LoadError as exc:
        report.add(ERROR, rel, str(exc))


def _load_folder(con: duckdb.DuckDBPyConnection, report: CheckReport, landing: Path) -> None:
    for child in sorted(landing.iterdir()):
        if child.is_dir() and child.name not in SOURCES and not child.name.startswith("."):
            report.add(
                WARNING,
                child.name + "/",
                "not a source folder; ignored (sources: " + ", ".join(SOURCES) + ")",
            )
    for source in LOAD_ORDER:
        folder = landing / source
        if not folder.is_dir():
            continue
        for child in sorted(folder.iterdir()):
            if child.is_dir() and _day_of(child.name) is None:
                report.add(
                    ERROR,
                    f"{source}/{child.name}/",
                    "not a partition folder (dt=YYYY-MM-DD); not loaded",
                )
            elif child.is_file():
                report.add(
                    ERROR,
                    f"{source}/{child.name}",
                    "a file outside any dt=YYYY-MM-DD partition; not loaded",
                )
    days = ingest.available_days(landing)
    if not days:
        report.add(
            ERROR, str(landing), "no partition to load (expected <source>/dt=YYYY-MM-DD/<file>)"
        )
    for day in days:
        for source in LOAD_ORDER:
            try:
                loads = ingest.load_partition(con, landing, source, day)
            except ingest.LoadError as exc:
                report.add(ERROR, f"{source}/dt={day}", str(exc))
                continue
            report.loads += loads
            for ld in loads:
                if ld.note and ld.rows_read == 0:
                    # a file in a format the loader does not read was meant to load
                    unread = ld.note.startswith(("refused", "skipped: unsupported"))
                    severity = ERROR if unread else WARNING
                    report.add(severity, ld.source_file, ld.note)


def _quarantine_findings(con: duckdb.DuckDBPyConnection, report: CheckReport) -> None:
    rows = con.execute(
        """
        select source_file, line, reason_code, reason,
               row_number() over (partition by source_file order by line) as n,
               count(*) over (partition by source_file) as total
        from raw.quarantine order by source_file, line
        """
    ).fetchall()
    for source_file, line, code, reason, n, total in rows:
        if n <= SHOWN_PER_FILE:
            report.add(ERROR, f"{source_file}:{line}", f"will be quarantined ({code}): {reason}")
        elif n == SHOWN_PER_FILE + 1:
            report.add(
                ERROR,
                source_file,
                f"and {total - SHOWN_PER_FILE} more record(s) will be quarantined",
            )


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> int:
    (value,) = con.execute(sql, params or []).fetchone()
    return int(value or 0)


def _contract_findings(con: duckdb.DuckDBPyConnection, report: CheckReport) -> None:
    counts = {name: _scalar(con, f"select count(*) from {SOURCES[name].table}") for name in SOURCES}
    # event names
    spec = list(SEGMENT_ECOMMERCE_SPEC)
    for name, n in con.execute(
        """
        select event, count(*) from raw.events
        where lower(trim(type)) = 'track' and not list_contains(?, trim(event))
        group by event order by 2 desc, 1 limit 20
        """,
        [spec],
    ).fetchall():
        report.add(
            INFO,
            "events",
            f"{n:,} '{name}' event(s): not in the Segment e-commerce spec; kept, used by no feature",
        )
    order_events = _scalar(
        con,
        "select count(*) from raw.events where list_contains(?, trim(event))",
        [list(ORDER_EVENTS)],
    )
    if order_events:
        with_lines = _scalar(
            con,
            "select count(*) from raw.events where trim(event) = 'Order Completed' "
            "and json_type(properties, '$.products') = 'ARRAY'",
        )
        report.add(
            INFO,
            "events",
            f"{order_events:,} order event(s), {with_lines:,} Order Completed with products[]: orders the "
            "backend does not have are built from them",
        )
    # product references
    if counts["products"]:
        for label, sql in (
            (
                "events",
                """
                with refs as (
                    select json_extract_string(properties, '$.product_id') as product_id from raw.events
                    union all
                    select json_extract_string(unnest(json_extract(properties, '$.products[*]')), '$.product_id')
                    from raw.events where json_type(properties, '$.products') = 'ARRAY'
                )
                select count(distinct product_id) from refs
                where product_id is not null
                    and product_id not in (select trim(product_id) from raw.products)
                """,
            ),
            (
                "order_items",
                "select count(distinct trim(product_id)) from raw.order_items "
                "where trim(product_id) not in (select trim(product_id) from raw.products)",
            ),
        ):
            unknown = _scalar(con, sql)
            if unknown:
                report.add(
                    WARNING,
                    label,
                    f"{unknown:,} product id(s) not in the catalog (products): kept, flagged unknown, "
                    "never recommended",
                )
    elif counts["events"] or counts["order_items"]:
        report.add(
            WARNING, "products", "no catalog: nothing can be recommended until products are loaded"
        )
    # consent coverage
    people = """
        select trim(customer_id) as id from raw.customers
        union select trim(user_id) from raw.events where nullif(trim(user_id), '') is not null
        union select trim(customer_id) from raw.orders where nullif(trim(customer_id), '') is not null
    """
    total = _scalar(con, f"select count(*) from ({people})")
    for purpose, meaning in (
        ("personalization", "they get the global (popular) list, not personal recommendations"),
        ("email_marketing", "they are left out of every email export"),
    ):
        missing = _scalar(
            con,
            f"""
            select count(*) from ({people}) as p
            where p.id not in (select trim(subject_id) from raw.consents where purpose = ?)
            """,
            [purpose],
        )
        if total and missing:
            report.add(
                WARNING,
                "consents",
                f"{missing:,} of {total:,} customer(s) have no {purpose} consent record: {meaning}",
            )
    report.features = features_fed(counts, order_events)
    for name, fed, note in report.features:
        if not fed:
            report.add(INFO, "features", f"{name}: {note}")


def features_fed(counts: dict[str, int], order_events: int) -> list[tuple[str, bool, str]]:
    """Which features the sources present feed (see FEATURES)."""
    has_orders = counts["orders"] > 0 or order_events > 0
    fed = {
        "recommendations": counts["products"] > 0
        and (counts["events"] > 0 or (counts["orders"] > 0 and counts["order_items"] > 0)),
        "sessions and behavioural features": counts["events"] > 0,
        "RFM, segments and propensity": has_orders,
        "personal recommendations and exports": counts["consents"] > 0,
        "profiles (names, emails, countries)": counts["customers"] > 0,
    }
    return [(name, fed[name], note) for name, _, note in FEATURES]


def check(target: Path) -> CheckReport:
    """Check a landing folder, or one landing file, against the contract. Never writes to
    the warehouse: everything is loaded into a private in-memory database."""
    report = CheckReport(target)
    if not target.exists():
        report.add(ERROR, str(target), "no such file or folder")
        return report
    con = duckdb.connect(":memory:")
    try:
        ensure_raw_schema(con)
        if target.is_dir():
            _load_folder(con, report, target)
        else:
            _load_file(con, report, target)
        _quarantine_findings(con, report)
        _contract_findings(con, report)
    finally:
        con.close()
    return report
