"""Erasure in the landing zone: a record is removed from the delivered files (CSV, NDJSON,
gzipped or not, Parquet) only when one of its identifier fields names the person (a byte
search finds the candidate lines, the parsed record decides). Files are rewritten
atomically. The rows of applied erasure requests go once the run is committed
(:func:`purge_applied_requests`)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ahocorasick_rs
import duckdb
from isal import igzip

from tailor.consent import has_table
from tailor.erased import Identity, has_column, normalize_sql
from tailor.files import atomic_write
from tailor.privacy.matching import (
    SOURCE_IDENTITIES,
    broken_record_matches,
    fields_match,
    in_list,
    key_kind,
    needles_of,
    record_matches,
    value_matches,
)
from tailor.settings import Settings
from tailor.sqlsafe import quote_ident, quote_literal
from tailor.warehouse import connect

# ISA-L's gzip: decompresses a 330 MB landing partition in about half the time of zlib and
# compresses it at level 2 in 0.6 s instead of 2.4 s (zlib level 1) or 5.5 s (level 6), to
# about the size the generator's level 1 gives; any gzip reader reads the result.
GZIP_LEVEL = 2


def read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        data = igzip.decompress(data)
    return data


def write_atomic(path: Path, data: bytes) -> None:
    if path.name.lower().endswith(".gz"):
        # mtime=0: the same records always give the same bytes (and the same checksum)
        data = igzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)
    atomic_write(path, data, tag="erase-")


class _Finder:
    """Where several people's identifiers occur in lower-cased bytes, all of them found in
    Rust (ahocorasick-rs; it releases the GIL, so the landing threads really run side by
    side). Few identifiers: one SIMD substring search (memmem) each. Many (a night with
    several requests): one automaton for all of them, one pass whatever their number.
    Measured on a 276 MB events partition: 8 people's 165 identifiers take 7.2 s one by
    one and 1.9 s in one automaton; 8-25 identifiers 0.3-1.0 s one by one and 0.6-2.6 s
    in one automaton (ids share prefixes that occur everywhere), hence the threshold. One
    by one beats ``bytes.find``, which holds the GIL, by 3x (40 identifiers, 289 MB: 5.7 s
    -> 1.8 s).

    Only a prefilter: a line found here is dropped only if its parsed identifier fields
    name the person (:func:`record_matches`)."""

    MANY = 40  # identifiers from which one automaton beats a search per identifier

    def __init__(self, idents: list[Identity]):
        self.people = len(idents)
        owners: dict[bytes, list[int]] = {}
        for k, ident in enumerate(idents):
            for needle in needles_of(ident):
                if needle and k not in owners.setdefault(needle.encode(), []):
                    owners[needle.encode()].append(k)
        self._owners = list(owners.values())
        patterns = list(owners)
        if len(patterns) >= self.MANY:
            self._automaton = ahocorasick_rs.BytesAhoCorasick(patterns)
            self._searchers = []
        else:
            self._automaton = None
            self._searchers = [ahocorasick_rs.BytesAhoCorasick([p]) for p in patterns]

    def positions(self, low: bytes) -> list[list[int]]:
        """Per person, where one of their identifiers starts (overlapping occurrences
        included: one person's identifier must not hide another's)."""
        out: list[list[int]] = [[] for _ in range(self.people)]
        if self._automaton is not None:
            found = self._automaton.find_matches_as_indexes(low, overlapping=True)
        else:
            found = [
                (i, start, end)
                for i, s in enumerate(self._searchers)
                for _, start, end in s.find_matches_as_indexes(low)
            ]
        for i, start, _ in found:
            for k in self._owners[i]:
                out[k].append(start)
        return out


def _mentions(text: str, needles: list[str]) -> bool:
    low = text.lower()
    return any(n in low for n in needles)


def _ndjson_drops(
    data: bytes,
    folded: dict[str, set[str]],
    starts: Iterable[int],
    skip: set[tuple[int, int]] | None = None,
) -> set[tuple[int, int]]:
    """The (start, end) byte spans of the lines naming the person in an identifier field,
    among the lines holding one of their identifiers at ``starts`` (found by a byte search
    of the whole file) and not in ``skip``: only those lines are parsed."""
    spans: set[tuple[int, int]] = set()
    for i in starts:
        start = data.rfind(b"\n", 0, i) + 1
        end = data.find(b"\n", i)
        spans.add((start, len(data) if end == -1 else end + 1))
    return {
        (a, b)
        for a, b in spans - (skip or set())
        if record_matches(data[a:b].decode("utf-8", errors="surrogateescape"), folded)
    }


def _without(data: bytes, spans: Iterable[tuple[int, int]]) -> bytes:
    """``data`` without the given (disjoint) byte spans; every other byte as it was."""
    view, pieces, pos = memoryview(data), [], 0  # slices of a view copy nothing
    for a, b in sorted(spans):
        pieces.append(view[pos:a])
        pos = b
    pieces.append(view[pos:])
    return b"".join(pieces)


def _csv_records(text: str) -> tuple[list[str], list[str], Iterator[tuple[list[str] | None, str]]]:
    """A CSV file as (header, the header's lines, records): each record is (its fields, its
    text as in the file); after broken quoting, one last (None, the rest of the file)."""
    lines = text.splitlines(keepends=True)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return [], lines, iter(())
    head = lines[: reader.line_num]

    def records() -> Iterator[tuple[list[str] | None, str]]:
        start = reader.line_num
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error:
                yield None, "".join(lines[start:])
                return
            yield row, "".join(lines[start : reader.line_num])
            start = reader.line_num

    return header, head, records()


def _purge_csv(text: str, ident: Identity) -> tuple[str, int]:
    """A CSV file without the records whose identifier columns (by header) name the
    person; a record with more or fewer fields than the header, or a line after broken
    quoting, goes only when one of its fields is, whole, one of their identifiers."""
    header, kept, records = _csv_records(text)
    kinds = [key_kind(h) for h in header]
    needles = needles_of(ident)
    folded = ident.folded()
    removed = 0
    for row, raw in records:
        if row is None:
            for line in raw.splitlines(keepends=True):
                if _mentions(line, needles) and broken_record_matches(line, folded):
                    removed += 1
                else:
                    kept.append(line)
            break
        matched = False
        if _mentions(raw, needles):
            if len(row) == len(header):
                matched = any(
                    k and value_matches(k, v, folded) for k, v in zip(kinds, row, strict=True)
                )
            else:
                matched = fields_match(row, folded)
        if matched:
            removed += 1
        else:
            kept.append(raw)
    return "".join(kept), removed


def _purge_parquet(con: duckdb.DuckDBPyConnection, path: Path, source: str, ident: Identity) -> int:
    src = quote_literal(str(path))
    cols = [d[0] for d in con.execute(f"select * from read_parquet({src}) limit 0").description]
    folded = ident.folded()
    conds = []
    for c in cols:
        kind = key_kind(c)
        values = folded.get(kind or "", set())
        if kind and values:
            conds.append(
                f"{normalize_sql(kind, f'{quote_ident(c)}::varchar')} in {in_list(values)}"
            )
    if not conds:
        return 0
    cond = " or ".join(f"coalesce({c}, false)" for c in conds)
    (n,) = con.execute(f"select count(*) from read_parquet({src}) where {cond}").fetchone()
    if n:
        tmp = path.with_name(f".{path.name}.erase-{os.getpid()}.tmp")
        con.execute(
            f"copy (select * from read_parquet({src}) where not ({cond})) "
            f"to {quote_literal(str(tmp))} (format parquet)"
        )
        os.replace(tmp, path)
    return n


def landing_files(
    landing: Path, sources: Iterable[str] | None = None
) -> Iterator[tuple[str, Path]]:
    """Every file of every ``dt=`` folder of the sources that hold people, hidden (dot)
    files included: whatever the loader could read, erasure must be able to purge."""
    for source in sources or SOURCE_IDENTITIES:
        folder = landing / source
        if not folder.is_dir():
            continue
        for part in sorted(folder.iterdir()):
            if not (part.name.startswith("dt=") and part.is_dir()):
                continue
            for path in sorted(part.iterdir()):
                if path.is_file():
                    yield source, path


def _purge_text_file(path: Path, idents: list[Identity], finder: _Finder) -> list[int]:
    """Remove each person's records from one landing file, read, searched and written once
    for all of them; returns the records removed per person (a record naming two people
    counts for the first)."""
    data = read_bytes(path)
    found = finder.positions(data.lower())
    counts = [0] * len(idents)
    if not any(found):
        return counts
    if path.name.lower().endswith((".csv", ".csv.gz")):
        text = data.decode("utf-8", errors="surrogateescape")
        for k, ident in enumerate(idents):
            if found[k]:  # removing records adds no identifier: a miss stays a miss
                text, counts[k] = _purge_csv(text, ident)
        new = text.encode("utf-8", errors="surrogateescape")
    else:
        dropped: set[tuple[int, int]] = set()
        for k, ident in enumerate(idents):
            mine = _ndjson_drops(data, ident.folded(), found[k], dropped)
            counts[k] = len(mine)
            dropped |= mine
        new = _without(data, dropped)
    if any(counts):
        write_atomic(path, new)
    return counts


TEXT_SUFFIXES = (".csv", ".csv.gz", ".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz", ".json.gz")


def purge_landing(
    landing: Path, ident: Identity, con: duckdb.DuckDBPyConnection | None = None
) -> tuple[int, int]:
    """Remove the person's records from every landing file; returns (files rewritten,
    records removed)."""
    return purge_landing_many(landing, [ident], con)[0]


def purge_landing_many(
    landing: Path,
    idents: list[Identity],
    con: duckdb.DuckDBPyConnection | None = None,
    *,
    skip_sources: Iterable[str] = (),
) -> list[tuple[int, int]]:
    """Remove several people's records from every landing file (of the sources not in
    ``skip_sources``) in one pass: each file is read, searched and (if anyone was in it)
    rewritten once, whatever the number of people. Returns (files rewritten, records
    removed) per person. Files are rewritten under a temporary name and renamed; text files
    are handled in parallel threads (decompression and compression release the GIL)."""
    index = [k for k, ident in enumerate(idents) if needles_of(ident)]
    people = [idents[k] for k in index]
    out = [(0, 0)] * len(idents)
    if not people or not landing.is_dir():
        return out
    skip = set(skip_sources)
    found = [(src, p) for src, p in landing_files(landing) if src not in skip]
    texts = [p for _, p in found if p.name.lower().endswith(TEXT_SUFFIXES)]
    parquets = [(src, p) for src, p in found if p.name.lower().endswith(".parquet")]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        finder = _Finder(people)
        per_file = list(pool.map(lambda p: _purge_text_file(p, people, finder), texts))
    own = con is None
    con = con or duckdb.connect()
    try:
        for src, p in parquets:
            per_file.append([_purge_parquet(con, p, src, ident) for ident in people])
    finally:
        if own:
            con.close()
    for j, k in enumerate(index):
        counts = [row[j] for row in per_file]
        out[k] = (sum(1 for n in counts if n), sum(counts))
    return out


REQUESTS_SOURCE = "erasure_requests"


def _drop_csv_rows(text: str, column: str, values: set[str]) -> tuple[str, int]:
    """``text`` (a CSV file) without the rows whose ``column`` (trimmed) is in ``values``;
    every other byte as it was. A file without that column, or the rest of a file after
    broken quoting, is kept."""
    header, kept, records = _csv_records(text)
    names = [h.strip().lower() for h in header]
    if column not in names:
        return text, 0
    at = names.index(column)
    removed = 0
    for row, raw in records:
        if row is not None and at < len(row) and row[at].strip() in values:
            removed += 1
        else:
            kept.append(raw)
    return "".join(kept), removed


def purge_applied_requests(con: duckdb.DuckDBPyConnection, landing: Path) -> int:
    """Remove from the ``erasure_requests`` landing files the rows of the requests ``con``'s
    warehouse has applied (their audit row says so); returns the rows removed. Requests
    held for review, unknown or invalid keep their row: it is what a reviewer reads.

    A night's erase stage leaves its own requests' rows in the landing zone: the stage
    works on the run's copy of the warehouse, and if a later stage fails the copy is thrown
    away, so the rerun must find the requests again to apply them (removing them with the
    person's other records would lose them for good). They go once the run is committed
    (:func:`purge_committed_requests`), and each erase stage first removes those of a run
    that died between its commit and that step."""
    if not has_table(con, "ops", "erasure_audit"):
        return 0
    status = "status" if has_column(con, "ops", "erasure_audit", "status") else "null"
    applied = {
        r[0]
        for r in con.execute(
            "select distinct trim(request_id) from ops.erasure_audit where request_id is not null"
            f" and coalesce({status}, 'applied') = 'applied'"
        ).fetchall()
    }
    if not applied:
        return 0
    removed = 0
    for _, path in landing_files(landing, [REQUESTS_SOURCE]):
        if not path.name.lower().endswith((".csv", ".csv.gz")):
            continue
        text = read_bytes(path).decode("utf-8", errors="surrogateescape")
        new, n = _drop_csv_rows(text, "request_id", applied)
        if n:
            write_atomic(path, new.encode("utf-8", errors="surrogateescape"))
            removed += n
    return removed


def purge_committed_requests(settings: Settings) -> int:
    """:func:`purge_applied_requests` on the committed warehouse (run right after a commit)."""
    if not settings.warehouse.exists():
        return 0
    con = connect(settings.warehouse, read_only=True, settings=settings)
    try:
        return purge_applied_requests(con, settings.landing)
    finally:
        con.close()
