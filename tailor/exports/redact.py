"""Removing an erased person from the local copies of exports already written.

What a tool already received is deleted there by the remove the next export sends (see
``outbox``); the copies Tailor keeps under the exports folder are redacted here: the
person's rows are dropped, the file is rewritten atomically, and its manifest gets the new
sha256 and row count plus a ``redacted_rows`` count, so the folder stays self-consistent.
``ops.export_log`` keeps the sha256 of what was originally sent.

Rows are matched on the columns whose source is an identifier (per the manifest's schema:
customer_id, email, email_sha256) and on the destination key, so a product id that happens
to equal a customer id is never mistaken for the person.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tailor import csvsafe
from tailor.exports.files import MANIFEST, manifest_bytes, sha256_bytes
from tailor.exports.outbox import OUTBOX
from tailor.files import atomic_write
from tailor.settings import Settings

if TYPE_CHECKING:
    from tailor.erased import Identity

ID_SOURCES = {"customer_id": "customer_id", "email": "email", "email_sha256": "email_sha256"}


def _norm(value: Any) -> str:
    return "" if value is None else str(value).strip().lower()


def _needles(ident: Identity) -> set[str]:
    return {v.lower() for v in ident.customer_ids | ident.emails | ident.email_sha256s}


class People:
    """The identifiers of the people one pass removes, each mapped to who it names (one
    parse of a file serves them all; what is removed is counted for each person named)."""

    def __init__(self, idents: Sequence[Identity]) -> None:
        self.count = len(idents)
        self.owners: dict[str, set[int]] = {}
        for i, ident in enumerate(idents):
            for needle in _needles(ident):
                self.owners.setdefault(needle, set()).add(i)
        self.needles = set(self.owners)
        # a plain identifier (printable ASCII, no quote or backslash) is written as itself
        # in a CSV field or a JSON string, so a file whose lower-cased text does not contain
        # it cannot hold it; any other identifier means the file is always parsed
        self._plain = all(
            n.isascii() and n.isprintable() and '"' not in n and "\\" not in n for n in self.needles
        )

    def may_be_in(self, text: str) -> bool:
        """False only when no row of ``text`` (a CSV or JSON lines file) can name anyone."""
        if not self._plain:
            return bool(self.needles)
        low = text.lower()
        return any(n in low for n in self.needles)

    def named(self, values: Iterable[Any]) -> set[int]:
        """The people one of ``values`` (identifier columns of a row) names."""
        out: set[int] = set()
        for v in values:
            out |= self.owners.get(_norm(v), set())
        return out

    def mentioned(self, text: str) -> set[int]:
        """The people named in an API requests file (``text``): one of their identifiers
        in a request's URL-decoded path or body, as :func:`_redact_api` finds them (an
        email also as Mailchimp's md5 of it)."""
        import hashlib
        import urllib.parse

        forms: dict[str, str] = {n: n for n in self.owners}
        forms |= {hashlib.md5(n.encode()).hexdigest(): n for n in self.owners if "@" in n}
        wanted, found = set(forms), set()
        for line in text.splitlines():
            if line.strip():
                req = json.loads(line)
                for value in (
                    urllib.parse.unquote(req.get("path", "")),
                    *_strings(req.get("body")),
                ):
                    found |= _in_text(value.lower(), wanted)
        return {i for f in found for i in self.owners[forms[f]]}


def _strings(value: Any) -> Iterator[str]:
    """Every text in a JSON value: its strings, keys and other scalars."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif value is not None:
        yield value if isinstance(value, str) else str(value)


def _id_columns(manifest: dict[str, Any], schema: list[dict[str, str]]) -> set[str]:
    cols = {c["name"] for c in schema if c.get("source") in ID_SOURCES}
    return cols | set(manifest.get("key", []))


def _redact_csv(
    text: str, id_cols: set[str], people: People
) -> tuple[str | None, int, Counter[int]]:
    """``text`` without the rows naming the people (None: nothing removed), the rows
    removed, and the rows removed per person."""
    removed: Counter[int] = Counter()
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        return None, 0, removed
    header, body = rows[0], rows[1:]
    idx = [i for i, h in enumerate(header) if h in id_cols]
    kept = []
    for r in body:
        who = people.named(r[i] for i in idx if i < len(r))
        if who:
            removed.update(who)
        else:
            kept.append(r)
    if len(kept) == len(body):
        return None, 0, removed
    buf = io.StringIO(newline="")
    w = csvsafe.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(header)
    w.writerows([csvsafe.reread(v) for v in r] for r in kept)
    return buf.getvalue(), len(body) - len(kept), removed


def _op_names(op: dict[str, Any], id_cols: set[str], people: People) -> set[int]:
    values = {**(op.get("key") or {}), **(op.get("data") or {})}
    return people.named(values.get(c) for c in id_cols)


def _redact_jsonl(
    text: str, id_cols: set[str], people: People, batches: bool
) -> tuple[str | None, int, Counter[int]]:
    """``text`` without the people's rows (a batch file: without their operations; None:
    nothing removed), the rows removed, and the rows removed per person."""
    from tailor.exports.formats import to_json

    out: list[str] = []
    removed = 0
    per: Counter[int] = Counter()
    for line in text.splitlines():
        if not line.strip():
            continue
        obj = json.loads(line)
        if batches:
            ops = obj.get("operations", [])
            keep = []
            for o in ops:
                who = _op_names(o, id_cols, people)
                if who:
                    per.update(who)
                else:
                    keep.append(o)
            removed += len(ops) - len(keep)
            if len(keep) != len(ops):
                obj["operations"] = keep
                line = to_json(obj)
        else:
            who = _op_names(obj, id_cols, people)
            if who:
                per.update(who)
                removed += 1
                continue
        out.append(line)
    if not removed:
        return None, 0, per
    return "".join(x + "\n" for x in out), removed, per


TOKEN_SPLIT = re.compile(r"[^a-z0-9@._+\-]+")


@functools.lru_cache(maxsize=64)
def _not_tokens(needles: frozenset[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The identifiers that are not one token, each with its written forms, lower-cased."""
    from tailor.erased import written_forms

    return tuple(
        (n, tuple(sorted({f.lower() for f in written_forms(n)})))
        for n in sorted(needles)
        if TOKEN_SPLIT.search(n)
    )


def _in_text(text: str, needles: set[str]) -> set[str]:
    """The identifiers ``text`` (lower-cased) names: a plain one as a whole token, never a
    mere substring of another id or a hash; one that is not a single token anywhere in
    any of its written forms."""
    found = needles & set(TOKEN_SPLIT.split(text))
    for needle, forms in _not_tokens(frozenset(needles)):
        if needle not in found and any(f in text for f in forms):
            found.add(needle)
    return found


def _mentions(value: Any, needles: set[str]) -> bool:
    """One of the person's identifiers is in the value's text (a JSON value, a path
    segment, a CSV line) as :func:`_in_text` finds it."""
    from tailor.exports.formats import to_json

    text = (value if isinstance(value, str) else to_json(value)).lower()
    return bool(_in_text(text, needles))


def _without(value: Any, needles: set[str]) -> tuple[Any, bool]:
    """``value`` with every list item that mentions the person dropped (recursively);
    second: a list lost all its items (the request has nobody left to act on)."""
    if isinstance(value, dict):
        out, emptied = {}, False
        for k, v in value.items():
            out[k], e = _without(v, needles)
            emptied = emptied or e
        return out, emptied
    if isinstance(value, list):
        kept = [v for v in value if not _mentions(v, needles)]
        inner = [_without(v, needles) for v in kept]
        return [v for v, _ in inner], (bool(value) and not kept) or any(e for _, e in inner)
    return value, False


def _redact_api(text: str, needles: set[str]) -> tuple[str | None, int, int]:
    """The API requests file (``apis``): the person's entries leave every request body (a
    batch keeps the others); a request left with nobody, or naming the person in its path
    or its remaining body, is dropped, with the requests using what it would return.
    Returns (the new text or None when nothing changed, requests changed or dropped,
    requests dropped)."""
    import hashlib
    import urllib.parse

    from tailor.exports.formats import to_json

    # Mailchimp names a member by the md5 of the lower-cased email
    needles = needles | {hashlib.md5(n.encode()).hexdigest() for n in needles if "@" in n}
    out: list[str] = []
    changed = dropped = 0
    gone: set[str] = set()
    for line in text.splitlines():
        if not line.strip():
            continue
        req = json.loads(line)
        refs = {req.get("ids_from")} | set(re.findall(r"\{(\w+)\}", req["path"]))
        path = urllib.parse.unquote(req["path"]).lower()
        body = req.get("body")
        if isinstance(body, str):
            lines = body.splitlines(keepends=True)
            kept = lines[:1] + [x for x in lines[1:] if not _mentions(x, needles)]
            new_body, emptied = "".join(kept), len(kept) == 1 and len(lines) > 1
        else:
            new_body, emptied = _without(body, needles)
        if (
            refs & gone
            or emptied
            or _mentions(path, needles)
            or (new_body is not None and _mentions(new_body, needles))
        ):
            if req.get("capture"):
                gone.add(req["capture"]["name"])
            changed += 1
            dropped += 1
            continue
        if new_body != body:
            req["body"] = new_body
            changed += 1
            line = to_json(req)
        out.append(line)
    if not changed:
        return None, 0, 0
    return "".join(x + "\n" for x in out), changed, dropped


def redact_folder(folder: Path, ident: Identity) -> tuple[int, int]:
    """Redact one export folder; returns (files rewritten, rows removed)."""
    return redact_folder_many(folder, People([ident]))[0]


def redact_folder_many(folder: Path, people: People) -> list[tuple[int, int]]:
    """Redact one export folder of every person of ``people``, each file read and parsed
    once; returns (files rewritten, rows removed) per person: the files that held them, the
    rows that named them (a row naming two of them counts for each)."""
    manifest = json.loads((folder / MANIFEST).read_text())
    files = 0
    per_files: Counter[int] = Counter()
    per_rows: Counter[int] = Counter()
    for entry in manifest.get("files", []):
        path = folder / entry["name"]
        if not path.exists():
            continue
        id_cols = _id_columns(manifest, entry.get("schema", []))
        text = path.read_bytes().decode("utf-8")
        dropped = None
        who: Counter[int] = Counter()
        if entry.get("role") == "api_requests":
            # identifiers in URL paths are percent-encoded, emails also as md5: always parsed
            new, n, dropped = _redact_api(text, people.needles)
            if new is not None:  # who it named (when that cannot be told: all of them)
                who.update(people.mentioned(text) or set(range(people.count)))
        elif not people.may_be_in(text):
            continue
        elif entry["name"].endswith(".csv"):
            new, n, who = _redact_csv(text, id_cols, people)
        else:
            new, n, who = _redact_jsonl(
                text, id_cols, people, batches=entry.get("role") == "batches"
            )
        if new is None:
            continue
        data = new.encode("utf-8")
        atomic_write(path, data, tag="redact-")
        if entry.get("role") != "batches":
            entry["rows"] -= n if dropped is None else dropped
        entry["bytes"] = len(data)
        entry["sha256"] = sha256_bytes(data)
        entry["redacted_rows"] = entry.get("redacted_rows", 0) + n
        files += 1
        per_files.update(set(who))
        if dropped is None:  # contact rows; API requests are not rows
            per_rows.update(who)
    if files:
        manifest["row_count"] = sum(
            f["rows"] for f in manifest["files"] if f.get("role") != "api_requests"
        )
        manifest["redacted"] = True
        atomic_write(folder / MANIFEST, manifest_bytes(manifest), tag="redact-")
    return [(per_files[i], per_rows[i]) for i in range(people.count)]


def export_folders(settings: Settings) -> list[Path]:
    """Every export folder under the exports root (the erasure outbox and hidden folders
    excepted)."""
    root = settings.exports
    if not root.is_dir():
        return []
    return [
        manifest.parent
        for manifest in sorted(root.rglob(MANIFEST))
        if OUTBOX not in manifest.parts
        and not any(p.startswith(".") for p in manifest.relative_to(root).parts[:-1])
    ]


def redact_exports(settings: Settings, ident: Identity) -> tuple[int, int]:
    """Redact every export folder of :func:`export_folders`; returns (files rewritten,
    rows removed)."""
    return redact_exports_many(settings, [ident])[0]


def redact_exports_many(settings: Settings, idents: Sequence[Identity]) -> list[tuple[int, int]]:
    """Redact every export folder of several people in one pass (each file read once, and
    parsed only when one of their identifiers can be in it); returns (files rewritten, rows
    removed) per person, in the order of ``idents``."""
    people = People(idents)
    total: list[tuple[int, int]] = [(0, 0)] * len(idents)
    if not people.needles:
        return total
    for folder in export_folders(settings):
        counts = redact_folder_many(folder, people)
        total = [(f0 + f1, r0 + r1) for (f0, r0), (f1, r1) in zip(total, counts, strict=True)]
    return total
