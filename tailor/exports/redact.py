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
import io
import json
import re
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


def _id_columns(manifest: dict[str, Any], schema: list[dict[str, str]]) -> set[str]:
    cols = {c["name"] for c in schema if c.get("source") in ID_SOURCES}
    return cols | set(manifest.get("key", []))


def _redact_csv(data: bytes, id_cols: set[str], needles: set[str]) -> tuple[bytes, int]:
    text = data.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        return data, 0
    header, body = rows[0], rows[1:]
    idx = [i for i, h in enumerate(header) if h in id_cols]
    kept = [r for r in body if not any(i < len(r) and _norm(r[i]) in needles for i in idx)]
    if len(kept) == len(body):
        return data, 0
    buf = io.StringIO(newline="")
    w = csvsafe.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(header)
    w.writerows([csvsafe.reread(v) for v in r] for r in kept)
    return buf.getvalue().encode("utf-8"), len(body) - len(kept)


def _op_matches(op: dict[str, Any], id_cols: set[str], needles: set[str]) -> bool:
    values = {**(op.get("key") or {}), **(op.get("data") or {})}
    return any(_norm(values.get(c)) in needles for c in id_cols)


def _redact_jsonl(
    data: bytes, id_cols: set[str], needles: set[str], batches: bool
) -> tuple[bytes, int]:
    from tailor.exports.formats import to_json

    out: list[str] = []
    removed = 0
    for line in data.decode("utf-8").splitlines():
        if not line.strip():
            continue
        obj = json.loads(line)
        if batches:
            ops = obj.get("operations", [])
            keep = [o for o in ops if not _op_matches(o, id_cols, needles)]
            removed += len(ops) - len(keep)
            if len(keep) != len(ops):
                obj["operations"] = keep
                line = to_json(obj)
        elif _op_matches(obj, id_cols, needles):
            removed += 1
            continue
        out.append(line)
    if not removed:
        return data, 0
    return "".join(x + "\n" for x in out).encode("utf-8"), removed


TOKEN_SPLIT = re.compile(r"[^a-z0-9@._+\-]+")


def _mentions(value: Any, needles: set[str]) -> bool:
    """One of the person's identifiers is a whole token of the value's text (a JSON value,
    a path segment, a CSV field): never a mere substring of another id or a hash."""
    from tailor.exports.formats import to_json

    text = (value if isinstance(value, str) else to_json(value)).lower()
    return not needles.isdisjoint(TOKEN_SPLIT.split(text))


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


def _redact_api(data: bytes, needles: set[str]) -> tuple[bytes, int, int]:
    """The API requests file (``apis``): the person's entries leave every request body (a
    batch keeps the others); a request left with nobody, or naming the person in its path
    or its remaining body, is dropped, with the requests using what it would return.
    Returns (bytes, requests changed or dropped, requests dropped)."""
    import hashlib
    import urllib.parse

    from tailor.exports.formats import to_json

    # Mailchimp names a member by the md5 of the lower-cased email
    needles = needles | {hashlib.md5(n.encode()).hexdigest() for n in needles if "@" in n}
    out: list[str] = []
    changed = dropped = 0
    gone: set[str] = set()
    for line in data.decode("utf-8").splitlines():
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
        return data, 0, 0
    return "".join(x + "\n" for x in out).encode("utf-8"), changed, dropped


def redact_folder(folder: Path, ident: Identity) -> tuple[int, int]:
    """Redact one export folder; returns (files rewritten, rows removed)."""
    manifest = json.loads((folder / MANIFEST).read_text())
    needles = _needles(ident)
    files = rows = 0
    for entry in manifest.get("files", []):
        path = folder / entry["name"]
        if not path.exists():
            continue
        id_cols = _id_columns(manifest, entry.get("schema", []))
        data = path.read_bytes()
        dropped = None
        if entry["name"].endswith(".csv"):
            new, n = _redact_csv(data, id_cols, needles)
        elif entry.get("role") == "api_requests":
            new, n, dropped = _redact_api(data, needles)
        else:
            new, n = _redact_jsonl(data, id_cols, needles, batches=entry.get("role") == "batches")
        if n:
            atomic_write(path, new, tag="redact-")
            if entry.get("role") != "batches":
                entry["rows"] -= n if dropped is None else dropped
            entry["bytes"] = len(new)
            entry["sha256"] = sha256_bytes(new)
            entry["redacted_rows"] = entry.get("redacted_rows", 0) + n
            files += 1
            rows += n if dropped is None else 0  # contact rows; API requests are not rows
    if files:
        manifest["row_count"] = sum(
            f["rows"] for f in manifest["files"] if f.get("role") != "api_requests"
        )
        manifest["redacted"] = True
        atomic_write(folder / MANIFEST, manifest_bytes(manifest), tag="redact-")
    return files, rows


def redact_exports(settings: Settings, ident: Identity) -> tuple[int, int]:
    """Redact every export folder under the exports root (the erasure outbox excepted)."""
    root = settings.exports
    if not root.is_dir():
        return 0, 0
    files = rows = 0
    for manifest in sorted(root.rglob(MANIFEST)):
        if OUTBOX in manifest.parts or any(
            p.startswith(".") for p in manifest.relative_to(root).parts[:-1]
        ):
            continue
        f, r = redact_folder(manifest.parent, ident)
        files += f
        rows += r
    return files, rows
