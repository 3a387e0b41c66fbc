"""The API side of a CRM export: what no CSV import can do, as the tool's own requests.

A CSV import adds and updates contacts; none of Mailchimp, Klaviyo, Braze, HubSpot or the
Salesforce import wizard removes anyone from a list, unsubscribes them or deletes them. So
every CRM export also writes ``<destination>.api.jsonl``: one request a line, in order::

    {"seq": 1, "method": "POST", "path": "/3.0/batches", "content_type": "application/json",
     "headers": {...no secret...}, "body": {...}, "idempotency_key": "...",
     "capture": null | {"name": "...", "from": "id" | "results[].id" | "data[].id"},
     "ids_from": null | "<name>"}

built from the same delta as the CSV files, one :class:`Change` per contact:

``upsert``       an add or an update (the row as exported);
``remove``       left the audience (or changed key): out of the list / tag / segment;
``unsubscribe``  withdrew the destination's consent; for ``email_marketing`` destinations
                 the tool's email subscription is set to unsubscribed, otherwise a remove;
``erase``        erased (the erasure outbox): deleted from the tool with its privacy API.

A request may ``capture`` ids from its response (a Bulk API job id, HubSpot contact ids,
Klaviyo profile ids) that a later request puts in its path (``{name}``) or body
(``ids_from``): list memberships in HubSpot and Klaviyo take record ids, not emails.

When the destination has ``api: {base_url: ..., token_env: VAR}`` the published export is
sent (:func:`send`) after the warehouse commit, in order, with an ``Idempotency-Key``
header per request, retries with backoff on connection errors, 408/425/429/5xx
(``Retry-After`` honoured), and a progress file that records each acknowledged request
and what it captured: a delivery that stopped half way resumes at the request that
failed, so nothing is lost and nothing already acknowledged is sent again. The
credential is read from the environment variable at send time, never written to a file,
a log or ``ops.export_log``.

Request shapes follow each tool's reference (named per builder below).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tailor.exports.formats import text, to_json

OPS = ("upsert", "remove", "unsubscribe", "erase")
API_FILE = "{name}.api.jsonl"


class ApiConfigError(ValueError):
    """The destination's API settings are incomplete (names the key, never a value)."""


@dataclass(frozen=True)
class Change:
    op: str  # upsert | remove | unsubscribe | erase
    key: dict[str, Any]  # the destination's key columns
    data: dict[str, Any] | None = None  # the exported row (upserts)


@dataclass(frozen=True)
class Api:
    """A destination's API settings (``api:`` in destinations.yml). Secrets are named, never
    given: ``token_env`` is the environment variable holding the key or token."""

    base_url: str | None = None  # e.g. https://us21.api.mailchimp.com; none: files only
    token_env: str | None = None
    list_id: str | None = None  # Mailchimp audience, Klaviyo list, HubSpot list (ILS id)
    tag: str | None = None  # Mailchimp tag; Braze array attribute value (default: name)
    sobject: str = "Contact"  # Salesforce object
    external_id_field: str = "Tailor_Customer_Id__c"  # Salesforce upsert key
    member_field: str | None = None  # Salesforce checkbox marking audience membership
    api_version: str = "v62.0"  # Salesforce REST version
    revision: str = "2024-10-15"  # Klaviyo revision header
    # Mailchimp status of a new member: subscribed for email-marketing consent, else
    # transactional (in the audience, never sent marketing email); set from the consent
    status_if_new: str = "subscribed"
    batch_size: int = 0  # 0: the tool's documented maximum
    max_attempts: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    timeout_seconds: float = 30.0

    def token(self, destination: str) -> str:
        if not self.token_env:
            raise ApiConfigError(
                f"destination {destination!r}: api needs token_env (a variable name)"
            )
        value = os.environ.get(self.token_env)
        if not value:
            raise ApiConfigError(
                f"destination {destination!r}: api token variable ${self.token_env} is not set"
                " in the environment; set it, or remove api.base_url to write files only"
            )
        return value


API_KEYS = {f for f in Api.__dataclass_fields__}
SECRET_HINTS = ("key", "token", "secret", "password")


def parse_api(raw: Any, where: str) -> Api:
    if not isinstance(raw, Mapping):
        raise ApiConfigError(f"{where}: api must be a mapping")
    unknown = set(raw) - API_KEYS
    if unknown:
        secretish = sorted(k for k in unknown if any(h in str(k).lower() for h in SECRET_HINTS))
        hint = (
            f"; {secretish} look like credentials: never put one in the file, name the"
            " environment variable holding it in token_env"
            if secretish
            else ""
        )
        raise ApiConfigError(f"{where}: api has unknown keys {sorted(unknown)}{hint}")
    values: dict[str, Any] = {}
    for k, v in raw.items():
        default = Api.__dataclass_fields__[k].default
        try:
            values[k] = (
                type(default)(v)
                if isinstance(default, int | float)
                else (None if v is None else str(v))
            )
        except (TypeError, ValueError):
            raise ApiConfigError(f"{where}: api.{k} must be a number") from None
    api = Api(**values)
    if api.base_url and not api.base_url.startswith(("http://", "https://")):
        raise ApiConfigError(f"{where}: api.base_url must be http(s)")
    if api.base_url and urllib.parse.urlsplit(api.base_url).password is not None:
        raise ApiConfigError(
            f"{where}: api.base_url holds a password; put the credential in the variable"
            " named by token_env"
        )
    if api.base_url and not api.token_env:
        raise ApiConfigError(
            f"{where}: api.base_url needs api.token_env (the variable holding the token)"
        )
    if api.token_env and not re.fullmatch(r"[A-Z_][A-Z0-9_]*", api.token_env):
        raise ApiConfigError(f"{where}: api.token_env must be an environment variable name")
    return api


# --------------------------------------------------------------------------- requests


@dataclass
class Request:
    method: str
    path: str
    body: Any = None  # a JSON value, or text (content_type text/csv)
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)  # never a secret
    capture: dict[str, str] | None = None
    ids_from: str | None = None
    ids_shape: str | None = None  # how captured ids become the body: list | klaviyo
    seq: int = 0
    idempotency_key: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "method": self.method,
            "path": self.path,
            "content_type": self.content_type,
            "headers": self.headers,
            "body": self.body,
            "idempotency_key": self.idempotency_key,
            "capture": self.capture,
            "ids_from": self.ids_from,
            "ids_shape": self.ids_shape,
        }


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _value(v: Any) -> Any:
    """A row value as the tools' JSON takes it: exact decimals as numbers, dates as text."""
    import datetime as dt
    import decimal

    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, dt.date | dt.datetime):
        return v.isoformat()
    return v


def _email(change: Change, column: str) -> str:
    return text(change.key.get(column) or (change.data or {}).get(column)).strip().lower()


# Mailchimp Marketing API: "Batch operations" (POST /3.0/batches), "List members"
# (PUT/PATCH /lists/{list_id}/members/{subscriber_hash}, subscriber_hash = md5 of the
# lower-cased email), "Member tags" (POST .../members/{hash}/tags, status active|inactive),
# "Delete-permanent" (POST .../members/{hash}/actions/delete-permanent).
MAILCHIMP_STANDARD = {
    "Email Address": None,
    "First Name": "FNAME",
    "Last Name": "LNAME",
    "Phone Number": "PHONE",
    "Address": "ADDRESS",
    "Birthday": "BIRTHDAY",
}


def mailchimp_merge_tag(column: str) -> str | None:
    """The merge tag a Mailchimp column maps to: the standard ones (FNAME, LNAME, PHONE),
    else the column's letters and digits, upper-case, at most 10 (Mailchimp's limit)."""
    if column in MAILCHIMP_STANDARD:
        return MAILCHIMP_STANDARD[column]
    if column == "Tags":
        return None
    return re.sub(r"[^A-Z0-9]", "", column.upper())[:10] or None


def _mailchimp(changes: Sequence[Change], api: Api, dest: str, email_col: str) -> list[Request]:
    list_id = api.list_id or "{list_id}"
    tag = api.tag or dest
    ops: list[dict[str, Any]] = []
    for c in changes:
        email = _email(c, email_col)
        member = f"/lists/{list_id}/members/{hashlib.md5(email.encode()).hexdigest()}"
        tags = member + "/tags"
        if c.op == "upsert":
            merge = {
                mailchimp_merge_tag(k): _value(v)
                for k, v in (c.data or {}).items()
                if mailchimp_merge_tag(k) and v is not None
            }
            body = {
                "email_address": email,
                "status_if_new": api.status_if_new,
                "merge_fields": merge,
            }
            ops.append({"method": "PUT", "path": member, "body": to_json(body)})
            ops.append(
                {
                    "method": "POST",
                    "path": tags,
                    "body": to_json({"tags": [{"name": tag, "status": "active"}]}),
                }
            )
        elif c.op in ("remove", "unsubscribe"):
            if c.op == "unsubscribe":
                ops.append(
                    {"method": "PATCH", "path": member, "body": to_json({"status": "unsubscribed"})}
                )
            ops.append(
                {
                    "method": "POST",
                    "path": tags,
                    "body": to_json({"tags": [{"name": tag, "status": "inactive"}]}),
                }
            )
        else:
            ops.append({"method": "POST", "path": member + "/actions/delete-permanent"})
    out = []
    for n, chunk in enumerate(_chunks(ops, api.batch_size or 500), start=1):
        body = [{**op, "operation_id": f"{dest}-{n}-{i}"} for i, op in enumerate(chunk, start=1)]
        out.append(Request("POST", "/3.0/batches", {"operations": body}))
    return out


# Klaviyo API (header "revision"): "Bulk Import Profiles" (POST /api/profile-bulk-import-jobs,
# relationships.lists adds them to the list), "Get Profiles" (GET /api/profiles,
# filter=any(email,[...])), "Remove Profiles from List" (DELETE
# /api/lists/{id}/relationships/profiles), "Bulk Unsubscribe Profiles" (POST
# /api/profile-subscription-bulk-delete-jobs), "Request Profile Deletion" (POST
# /api/data-privacy-deletion-jobs, one identifier per job).
KLAVIYO_STANDARD = {
    "Email": "email",
    "First Name": "first_name",
    "Last Name": "last_name",
    "Phone Number": "phone_number",
    "Organization": "organization",
    "Title": "title",
    "External ID": "external_id",
}


def _klaviyo(changes: Sequence[Change], api: Api, dest: str, email_col: str) -> list[Request]:
    list_id = api.list_id or "{list_id}"
    headers = {"revision": api.revision, "accept": "application/vnd.api+json"}
    ctype = "application/vnd.api+json"
    out: list[Request] = []
    upserts = [c for c in changes if c.op == "upsert"]
    for chunk in _chunks(upserts, api.batch_size or 10000):
        profiles = []
        for c in chunk:
            attrs: dict[str, Any] = {}
            props: dict[str, Any] = {}
            for k, v in (c.data or {}).items():
                if v is None:
                    continue
                if k in KLAVIYO_STANDARD:
                    attrs[KLAVIYO_STANDARD[k]] = _value(v)
                else:
                    props[k] = _value(v)
            attrs["email"] = _email(c, email_col)
            profiles.append({"type": "profile", "attributes": {**attrs, "properties": props}})
        body = {
            "data": {
                "type": "profile-bulk-import-job",
                "attributes": {"profiles": {"data": profiles}},
                "relationships": {"lists": {"data": [{"type": "list", "id": list_id}]}},
            }
        }
        out.append(Request("POST", "/api/profile-bulk-import-jobs", body, ctype, headers))
    unsub = [c for c in changes if c.op == "unsubscribe"]
    for chunk in _chunks(unsub, api.batch_size or 100):
        profiles = [
            {"type": "profile", "attributes": {"email": _email(c, email_col)}} for c in chunk
        ]
        body = {
            "data": {
                "type": "profile-subscription-bulk-delete-job",
                "attributes": {"profiles": {"data": profiles}},
                "relationships": {"list": {"data": {"type": "list", "id": list_id}}},
            }
        }
        out.append(
            Request("POST", "/api/profile-subscription-bulk-delete-jobs", body, ctype, headers)
        )
    gone = [c for c in changes if c.op in ("remove", "unsubscribe")]
    for n, chunk in enumerate(_chunks(gone, min(api.batch_size or 100, 100)), start=1):
        emails = ",".join(json.dumps(_email(c, email_col)) for c in chunk)
        query = urllib.parse.urlencode(
            {"filter": f"any(email,[{emails}])", "page[size]": "100", "fields[profile]": "email"}
        )
        name = f"profiles_{n}"
        out.append(
            Request(
                "GET",
                f"/api/profiles?{query}",
                None,
                ctype,
                headers,
                capture={"name": name, "from": "data[].id"},
            )
        )
        out.append(
            Request(
                "DELETE",
                f"/api/lists/{list_id}/relationships/profiles",
                None,
                ctype,
                headers,
                ids_from=name,
                ids_shape="klaviyo",
            )
        )
    for c in changes:
        if c.op == "erase":
            body = {
                "data": {
                    "type": "data-privacy-deletion-job",
                    "attributes": {
                        "profile": {
                            "data": {
                                "type": "profile",
                                "attributes": {"email": _email(c, email_col)},
                            }
                        }
                    },
                }
            }
            out.append(Request("POST", "/api/data-privacy-deletion-jobs", body, ctype, headers))
    return out


# Braze REST API: "Track users" (POST /users/track, at most 75 attributes objects a request;
# email_subscribe opted_in | unsubscribed | subscribed; a custom array attribute takes
# {"add": [...], "remove": [...]}), "Delete users" (POST /users/delete, at most 50
# external_ids a request).
BRAZE_ARRAY = "tailor_audiences"


def _braze(changes: Sequence[Change], api: Api, dest: str, id_col: str) -> list[Request]:
    tag = api.tag or dest
    attributes = []
    for c in changes:
        if c.op == "erase":
            continue
        attrs: dict[str, Any] = {"external_id": text(c.key[id_col])}
        if c.op == "upsert":
            for k, v in (c.data or {}).items():
                if k != id_col and v is not None:
                    attrs[k] = _value(v)
            attrs[BRAZE_ARRAY] = {"add": [tag]}
        else:
            if c.op == "unsubscribe":
                attrs["email_subscribe"] = "unsubscribed"
            attrs[BRAZE_ARRAY] = {"remove": [tag]}
        attributes.append(attrs)
    out = [
        Request("POST", "/users/track", {"attributes": list(chunk)})
        for chunk in _chunks(attributes, min(api.batch_size or 75, 75))
    ]
    erased = [text(c.key[id_col]) for c in changes if c.op == "erase"]
    out += [
        Request("POST", "/users/delete", {"external_ids": list(chunk)})
        for chunk in _chunks(erased, 50)
    ]
    return out


# HubSpot: "Contacts - batch upsert" (POST /crm/v3/objects/contacts/batch/upsert,
# idProperty email, at most 100 inputs), "Contacts - batch read" (POST
# /crm/v3/objects/contacts/batch/read), "Lists - memberships" (PUT
# /crm/v3/lists/{listId}/memberships/add | /remove, a JSON array of record ids), "GDPR delete"
# (POST /crm/v3/objects/contacts/gdpr-delete, {"objectId": email, "idProperty": "email"}).
HUBSPOT_STANDARD = {
    "Email": "email",
    "First Name": "firstname",
    "Last Name": "lastname",
    "Phone Number": "phone",
    "Company Name": "company",
    "City": "city",
    "Country/Region": "country",
}


def hubspot_property(column: str) -> str:
    """The internal name of the HubSpot contact property a column fills."""
    return HUBSPOT_STANDARD.get(column) or re.sub(r"[^a-z0-9]+", "_", column.lower()).strip("_")


def _hubspot(changes: Sequence[Change], api: Api, dest: str, email_col: str) -> list[Request]:
    list_id = api.list_id or "{list_id}"
    size = min(api.batch_size or 100, 100)
    out: list[Request] = []
    upserts = [c for c in changes if c.op == "upsert"]
    for n, chunk in enumerate(_chunks(upserts, size), start=1):
        inputs = [
            {
                "idProperty": "email",
                "id": _email(c, email_col),
                "properties": {
                    hubspot_property(k): text(v)
                    for k, v in (c.data or {}).items()
                    if v is not None and hubspot_property(k) != "email"
                },
            }
            for c in chunk
        ]
        name = f"upserted_{n}"
        out.append(
            Request(
                "POST",
                "/crm/v3/objects/contacts/batch/upsert",
                {"inputs": inputs},
                capture={"name": name, "from": "results[].id"},
            )
        )
        out.append(
            Request(
                "PUT", f"/crm/v3/lists/{list_id}/memberships/add", ids_from=name, ids_shape="list"
            )
        )
    gone = [c for c in changes if c.op in ("remove", "unsubscribe")]
    for n, chunk in enumerate(_chunks(gone, size), start=1):
        name = f"leaving_{n}"
        body = {
            "idProperty": "email",
            "properties": ["email"],
            "inputs": [{"id": _email(c, email_col)} for c in chunk],
        }
        out.append(
            Request(
                "POST",
                "/crm/v3/objects/contacts/batch/read",
                body,
                capture={"name": name, "from": "results[].id"},
            )
        )
        out.append(
            Request(
                "PUT",
                f"/crm/v3/lists/{list_id}/memberships/remove",
                ids_from=name,
                ids_shape="list",
            )
        )
    for c in changes:
        if c.op == "erase":
            out.append(
                Request(
                    "POST",
                    "/crm/v3/objects/contacts/gdpr-delete",
                    {"objectId": _email(c, email_col), "idProperty": "email"},
                )
            )
    return out


# Salesforce Bulk API 2.0: "Create a job" (POST /services/data/vXX.X/jobs/ingest, object,
# externalIdFieldName, operation upsert, contentType CSV, lineEnding CRLF), "Upload job
# data" (PUT .../jobs/ingest/{jobId}/batches, text/csv), "Close or abort a job" (PATCH
# .../jobs/ingest/{jobId}, state UploadComplete). Bulk delete / hardDelete take record
# Ids, which Tailor does not hold, so an erasure uses the REST "sObject Rows by External
# ID" resource: DELETE .../sobjects/{object}/{externalIdField}/{value}.
def salesforce_member_field(dest: str) -> str:
    words = [w for w in dest.split("_") if w and w != "salesforce"]
    return "Tailor_" + "".join(w.title() for w in words) + "__c"


def _salesforce(changes: Sequence[Change], api: Api, dest: str, id_col: str) -> list[Request]:
    from tailor.exports.formats import csv_bytes

    base = f"/services/data/{api.api_version}"
    member = api.member_field or salesforce_member_field(dest)
    rows: list[dict[str, Any]] = []
    for c in changes:
        if c.op == "upsert":
            rows.append({**(c.data or {}), member: True})
        elif c.op in ("remove", "unsubscribe"):
            rows.append({id_col: c.key[id_col], member: False})
    out: list[Request] = []
    if rows:
        header = [api.external_id_field] + sorted(
            {k for r in rows for k in r} - {api.external_id_field, id_col}
        )
        for n, chunk in enumerate(_chunks(rows, api.batch_size or 10000), start=1):
            data, _ = csv_bytes(
                header,
                (
                    [r.get(id_col if h == api.external_id_field else h, r.get(h)) for h in header]
                    for r in chunk
                ),
            )
            job = f"job_{n}"
            out.append(
                Request(
                    "POST",
                    f"{base}/jobs/ingest",
                    {
                        "object": api.sobject,
                        "externalIdFieldName": api.external_id_field,
                        "contentType": "CSV",
                        "operation": "upsert",
                        "lineEnding": "CRLF",
                    },
                    capture={"name": job, "from": "id"},
                )
            )
            out.append(
                Request(
                    "PUT", f"{base}/jobs/ingest/{{{job}}}/batches", data.decode("utf-8"), "text/csv"
                )
            )
            out.append(
                Request("PATCH", f"{base}/jobs/ingest/{{{job}}}", {"state": "UploadComplete"})
            )
    for c in changes:
        if c.op == "erase":
            value = urllib.parse.quote(text(c.key[id_col]), safe="")
            out.append(
                Request("DELETE", f"{base}/sobjects/{api.sobject}/{api.external_id_field}/{value}")
            )
    return out


BUILDERS: dict[str, Callable[[Sequence[Change], Api, str, str], list[Request]]] = {
    "mailchimp_csv": _mailchimp,
    "klaviyo_csv": _klaviyo,
    "braze_csv": _braze,
    "hubspot_csv": _hubspot,
    "salesforce_csv": _salesforce,
}


def requests_for(
    fmt: str,
    changes: Sequence[Change],
    api: Api,
    *,
    destination: str,
    run_date: str,
    key: Sequence[str],
) -> list[Request]:
    """The tool's requests for the changes, numbered, each with its idempotency key
    (destination, day, position and content: a rerun of the day gives the same keys)."""
    out = BUILDERS[fmt](changes, api, destination, key[0])
    for seq, req in enumerate(out, start=1):
        req.seq = seq
        content = hashlib.sha256(to_json([req.method, req.path, req.body]).encode()).hexdigest()
        req.idempotency_key = hashlib.sha256(
            f"{destination}|{run_date}|{seq}|{content}".encode()
        ).hexdigest()[:40]
    return out


def requests_bytes(requests: Sequence[Request]) -> bytes:
    return "".join(to_json(r.as_dict()) + "\n" for r in requests).encode("utf-8")


def read_requests(data: bytes) -> list[Request]:
    out = []
    for line in data.splitlines():
        if line.strip():
            d = json.loads(line)
            out.append(
                Request(
                    d["method"],
                    d["path"],
                    d["body"],
                    d["content_type"],
                    d["headers"],
                    d["capture"],
                    d["ids_from"],
                    d.get("ids_shape"),
                    d["seq"],
                    d["idempotency_key"],
                )
            )
    return out


# --------------------------------------------------------------------------- sending


class ApiDeliveryError(RuntimeError):
    """A request could not be delivered; the ones before it were (see the progress file)."""


@dataclass
class ApiDelivery:
    requests: int = 0  # acknowledged in this call
    attempts: int = 0
    skipped: int = 0  # acknowledged by an earlier call (resumed)


def _auth(fmt: str, token: str) -> dict[str, str]:
    if fmt == "mailchimp_csv":  # "Authentication": HTTP Basic, any user name, the API key
        return {"Authorization": "Basic " + base64.b64encode(f"tailor:{token}".encode()).decode()}
    if fmt == "klaviyo_csv":  # private API key
        return {"Authorization": f"Klaviyo-API-Key {token}"}
    return {"Authorization": f"Bearer {token}"}  # Braze REST key, HubSpot / Salesforce token


def _pick(doc: Any, pointer: str) -> Any:
    """``id`` -> doc["id"]; ``results[].id`` -> [r["id"] for r in doc["results"]]."""
    if "[]." in pointer:
        head, tail = pointer.split("[].", 1)
        return [str(item[tail]) for item in (doc or {}).get(head) or [] if tail in item]
    return str(doc[pointer])


def _load_progress(path: Path) -> tuple[set[str], dict[str, Any]]:
    done: set[str] = set()
    captured: dict[str, Any] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                d = json.loads(line)
                done.add(d["idempotency_key"])
                captured.update(d.get("captured") or {})
    return done, captured


def _record(path: Path, req: Request, captured: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(
            json.dumps(
                {"seq": req.seq, "idempotency_key": req.idempotency_key, "captured": captured}
            )
            + "\n"
        )
        f.flush()
        os.fsync(f.fileno())


def send(
    fmt: str,
    api: Api,
    requests: Sequence[Request],
    *,
    destination: str,
    progress: Path,
    sleep: Callable[[float], None] = time.sleep,
) -> ApiDelivery:
    """Send the requests in order, resuming after those ``progress`` records as acknowledged
    (module docstring). Raises :class:`ApiDeliveryError` on a request that cannot be
    delivered; its message never holds the token."""
    from tailor.exports.retries import DeliveryError, with_retries

    if not api.base_url:
        raise ApiConfigError(f"destination {destination!r}: api.base_url is not set")
    headers = {"User-Agent": "tailor-exports/1", **_auth(fmt, api.token(destination))}
    done, captured = _load_progress(progress)
    delivery = ApiDelivery()
    for req in requests:
        if req.idempotency_key in done:
            delivery.skipped += 1
            continue
        body = req.body
        if req.ids_from is not None:
            ids = captured.get(req.ids_from) or []
            if not ids:  # nobody to add or remove (none of them is in the tool)
                _record(progress, req, {})
                continue
            body = (
                ids
                if req.ids_shape == "list"
                else {"data": [{"type": "profile", "id": i} for i in ids]}
            )
        path = re.sub(
            r"\{(\w+)\}",
            lambda m: urllib.parse.quote(str(captured.get(m.group(1), m.group(0))), safe=""),
            req.path,
        )
        if body is None:
            data = None
        elif isinstance(body, str):
            data = body.encode("utf-8")
        else:
            data = to_json(body).encode("utf-8")

        def make(path=path, data=data, req=req) -> urllib.request.Request:
            h = {**headers, **req.headers, "Idempotency-Key": req.idempotency_key}
            if data is not None:
                h["Content-Type"] = req.content_type
            return urllib.request.Request(
                api.base_url.rstrip("/") + path, data=data, method=req.method, headers=h
            )

        try:
            label = f"request {req.seq}/{len(requests)} ({req.method} {req.path.split('?')[0]})"
            response, attempts = with_retries(make, api, label=label, sleep=sleep)
        except DeliveryError as exc:
            delivery.attempts += exc.attempts
            raise ApiDeliveryError(str(exc)) from None
        delivery.attempts += attempts
        new: dict[str, Any] = {}
        if req.capture:
            try:
                doc = json.loads(response or b"null")
                new[req.capture["name"]] = _pick(doc, req.capture["from"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ApiDeliveryError(
                    f"request {req.seq}: the response lacks {req.capture['from']!r}"
                ) from exc
            captured.update(new)
        _record(progress, req, new)
        delivery.requests += 1
    return delivery
