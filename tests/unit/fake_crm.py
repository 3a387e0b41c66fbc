"""A local stand-in for each CRM's API (threading http.server on 127.0.0.1).

It checks each request against the shape the tool documents (method, path, auth header,
body fields), fails on demand (429 with Retry-After, 500), applies each idempotency key
once, and keeps the tool's view of the audience so a test can compare it with Tailor's.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "tok-" + "s3cr3t-planted-7f1c"


class FakeCrm:
    def __init__(self, tool: str):
        self.tool = tool
        self.requests: list[dict] = []  # every request received (after the checks)
        self.applied: list[str] = []  # idempotency keys applied, in order
        self.problems: list[str] = []  # shape violations
        self.fail: dict[int, int] = {}  # request number (1-based) -> status to answer
        self.members: dict[str, dict] = {}  # contact key -> {"in": bool, ...}
        self.deleted: set[str] = set()
        self._ids: dict[str, str] = {}  # record id -> contact key
        self._jobs: dict[str, list[str]] = {}
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                with fake.lock:
                    fake.requests.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "headers": dict(self.headers),
                            "raw": raw,
                        }
                    )
                    number = len(fake.requests)
                    if number in fake.fail:
                        status = fake.fail[number]
                        self.send_response(status)
                        if status == 429:
                            self.send_header("Retry-After", "0")
                        self.end_headers()
                        return
                    key = self.headers.get("Idempotency-Key")
                    if key in fake.applied:
                        fake.problems.append(f"idempotency key sent twice after success: {key}")
                    fake.applied.append(key)
                    fake._auth(self.headers)
                    status, doc = fake.apply(self.command, self.path, self.headers, raw)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps(doc).encode())

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------ checks

    def _auth(self, headers):
        auth = headers.get("Authorization") or ""
        if self.tool == "mailchimp":
            ok = auth.startswith("Basic ") and base64.b64decode(auth[6:]).decode().endswith(
                ":" + TOKEN
            )
        elif self.tool == "klaviyo":
            ok = auth == f"Klaviyo-API-Key {TOKEN}" and bool(headers.get("revision"))
        else:
            ok = auth == f"Bearer {TOKEN}"
        if not ok:
            self.problems.append(f"bad auth for {self.tool}")

    def need(self, cond, what):
        if not cond:
            self.problems.append(what)

    def in_audience(self) -> set[str]:
        return {k for k, m in self.members.items() if m.get("in") and k not in self.deleted}

    # ------------------------------------------------------------------ tools

    def apply(self, method, path, headers, raw):
        return getattr(self, "_" + self.tool)(method, path, headers, raw)

    def _mailchimp(self, method, path, headers, raw):
        self.need((method, path) == ("POST", "/3.0/batches"), f"mailchimp: {method} {path}")
        body = json.loads(raw)
        for op in body["operations"]:
            self.need({"method", "path", "operation_id"} <= set(op), f"mailchimp op fields {op}")
            m = re.fullmatch(
                r"/lists/(\w+)/members/([0-9a-f]{32})(/tags|/actions/delete-permanent)?", op["path"]
            )
            self.need(m is not None, f"mailchimp path {op['path']}")
            h, tail = m.group(2), m.group(3)
            member = self.members.setdefault(h, {"in": False, "status": None, "tags": set()})
            b = json.loads(op["body"]) if "body" in op else {}
            if op["method"] == "PUT" and tail is None:
                self.need(
                    {"email_address", "status_if_new", "merge_fields"} <= set(b),
                    "mailchimp member body",
                )
                member["status"] = member["status"] or b["status_if_new"]
                member["merge_fields"] = b["merge_fields"]
            elif op["method"] == "PATCH" and tail is None:
                member["status"] = b["status"]
            elif tail == "/tags":
                for t in b["tags"]:
                    self.need(t["status"] in ("active", "inactive"), "mailchimp tag status")
                    (member["tags"].add if t["status"] == "active" else member["tags"].discard)(
                        t["name"]
                    )
            elif tail == "/actions/delete-permanent":
                self.need(op["method"] == "POST", "mailchimp delete-permanent is a POST")
                self.deleted.add(h)
            member["in"] = bool(member["tags"]) and member["status"] == "subscribed"
        return 200, {"id": "batch-1", "status": "pending"}

    def _braze(self, method, path, headers, raw):
        body = json.loads(raw)
        if path == "/users/track":
            self.need(len(body["attributes"]) <= 75, "braze: more than 75 attributes")
            for a in body["attributes"]:
                self.need("external_id" in a, "braze: external_id")
                for k, v in a.items():
                    self.need(
                        not (isinstance(v, list) and v and isinstance(v[0], dict)),
                        f"braze: array of objects in {k}",
                    )
                u = self.members.setdefault(a["external_id"], {"in": False, "aud": set()})
                arr = a.get("tailor_audiences", {})
                u["aud"] |= set(arr.get("add", []))
                u["aud"] -= set(arr.get("remove", []))
                if "email_subscribe" in a:
                    self.need(
                        a["email_subscribe"] in ("opted_in", "unsubscribed", "subscribed"),
                        "braze subscribe",
                    )
                    u["sub"] = a["email_subscribe"]
                u["in"] = bool(u["aud"]) and u.get("sub") != "unsubscribed"
            return 201, {"message": "success"}
        self.need(path == "/users/delete" and len(body["external_ids"]) <= 50, f"braze: {path}")
        self.deleted |= set(body["external_ids"])
        return 201, {"deleted": len(body["external_ids"]), "message": "success"}

    def _hubspot(self, method, path, headers, raw):
        body = json.loads(raw) if raw else None
        if path == "/crm/v3/objects/contacts/batch/upsert":
            self.need(method == "POST" and len(body["inputs"]) <= 100, "hubspot upsert")
            out = []
            for i in body["inputs"]:
                self.need(i["idProperty"] == "email" and "properties" in i, "hubspot input")
                self.members.setdefault(i["id"], {"in": False})["props"] = i["properties"]
                self._ids["H" + i["id"]] = i["id"]
                out.append({"id": "H" + i["id"]})
            return 200, {"status": "COMPLETE", "results": out}
        if path == "/crm/v3/objects/contacts/batch/read":
            found = [{"id": "H" + i["id"]} for i in body["inputs"] if i["id"] in self.members]
            return 200, {"status": "COMPLETE", "results": found}
        m = re.fullmatch(r"/crm/v3/lists/(\w+)/memberships/(add|remove)", path)
        if m:
            self.need(method == "PUT" and isinstance(body, list), "hubspot memberships: PUT of ids")
            for rid in body:
                self.members[self._ids[rid]]["in"] = m.group(2) == "add"
            return 200, {"recordIdsAdded": body} if m.group(2) == "add" else {
                "recordIdsRemoved": body
            }
        self.need(
            path == "/crm/v3/objects/contacts/gdpr-delete" and body["idProperty"] == "email",
            f"hubspot {path}",
        )
        self.deleted.add(body["objectId"])
        return 204, {}

    def _klaviyo(self, method, path, headers, raw):
        body = json.loads(raw) if raw else None
        url = urllib.parse.urlsplit(path)
        if url.path == "/api/profile-bulk-import-jobs":
            self.need(body["data"]["type"] == "profile-bulk-import-job", "klaviyo import type")
            lists = body["data"]["relationships"]["lists"]["data"]
            for p in body["data"]["attributes"]["profiles"]["data"]:
                e = p["attributes"]["email"]
                self.members.setdefault(e, {})["in"] = bool(lists)
                self._ids["K" + e] = e
            return 202, {"data": {"type": "profile-bulk-import-job", "id": "job"}}
        if url.path == "/api/profiles":
            f = urllib.parse.parse_qs(url.query)["filter"][0]
            emails = json.loads(f[len("any(email,") : -1])
            return 200, {
                "data": [{"type": "profile", "id": "K" + e} for e in emails if e in self.members]
            }
        if url.path.endswith("/relationships/profiles"):
            self.need(method == "DELETE", "klaviyo list removal is a DELETE")
            for p in body["data"]:
                self.need(p["type"] == "profile", "klaviyo relationship type")
                self.members[self._ids[p["id"]]]["in"] = False
            return 204, {}
        if url.path == "/api/profile-subscription-bulk-delete-jobs":
            self.need(
                body["data"]["type"] == "profile-subscription-bulk-delete-job", "klaviyo unsub type"
            )
            return 202, {}
        self.need(url.path == "/api/data-privacy-deletion-jobs", f"klaviyo {path}")
        self.deleted.add(body["data"]["attributes"]["profile"]["data"]["attributes"]["email"])
        return 202, {}

    def _salesforce(self, method, path, headers, raw):
        m = re.fullmatch(
            r"/services/data/v\d+\.\d/(jobs/ingest(?:/(\w+)(/batches)?)?|sobjects/(\w+)/(\w+)/(.+))",
            path,
        )
        self.need(m is not None, f"salesforce {path}")
        if path.endswith("/jobs/ingest"):
            body = json.loads(raw)
            self.need(
                body["operation"] == "upsert"
                and body["contentType"] == "CSV"
                and body["externalIdFieldName"].endswith("__c"),
                "salesforce job",
            )
            job = f"750J{len(self._jobs)}"
            self._jobs[job] = [body["externalIdFieldName"]]
            return 200, {"id": job, "state": "Open"}
        if m.group(3):
            self.need(
                method == "PUT" and headers.get("Content-Type") == "text/csv", "salesforce upload"
            )
            ext = self._jobs[m.group(2)][0]
            for row in csv.DictReader(io.StringIO(raw.decode())):
                member = [
                    k
                    for k in row
                    if k.startswith("Tailor_") and k != ext and row[k] in ("true", "false")
                ]
                rec = self.members.setdefault(row[ext], {"in": False})
                rec["in"] = any(row[k] == "true" for k in member)
            return 201, {}
        if m.group(2):
            self.need(
                method == "PATCH" and json.loads(raw) == {"state": "UploadComplete"},
                "salesforce close",
            )
            return 200, {"state": "UploadComplete"}
        self.need(method == "DELETE", "salesforce erase by external id")
        self.deleted.add(urllib.parse.unquote(m.group(6)))
        return 204, {}
