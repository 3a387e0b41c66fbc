"""Delivering an export to an HTTP endpoint.

Operations go out as JSON POSTs of at most ``batch_size`` operations::

    {"destination": "...", "audience": "...", "run_date": "YYYY-MM-DD",
     "batch": 1, "batches": 3, "idempotency_key": "...",
     "operations": [{"op": "delete", "key": {...}}, {"op": "upsert", "data": {...}}]}

Each batch carries an ``Idempotency-Key`` header (also in the body) derived from the
destination, the day, the batch number and the batch's content: resending the same batch -
after a timeout, or when the night is rerun - gives the same key, so a receiver that honours
it applies each batch once; a batch with different content gets a different key.

Connection errors, timeouts, 408, 425, 429 and 5xx are retried with exponential backoff
(``Retry-After`` is honoured, capped at ``max_backoff_seconds``); any other 4xx fails at once
(``tailor.exports.retries``). ``DeliveryError`` stays importable from here.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tailor.exports.config import Webhook
from tailor.exports.formats import to_json
from tailor.exports.retries import DeliveryError, with_retries


@dataclass(frozen=True)
class Batch:
    number: int
    idempotency_key: str
    body: bytes


@dataclass
class Delivery:
    batches: int = 0
    attempts: int = 0


def make_batches(
    operations: Sequence[dict[str, Any]],
    *,
    destination: str,
    audience: str,
    run_date: str,
    batch_size: int,
) -> list[Batch]:
    chunks = [operations[i : i + batch_size] for i in range(0, len(operations), batch_size)]
    out = []
    for n, chunk in enumerate(chunks, start=1):
        content = hashlib.sha256(to_json(list(chunk)).encode()).hexdigest()
        key = hashlib.sha256(f"{destination}|{run_date}|{n}|{content}".encode()).hexdigest()[:40]
        body = {
            "destination": destination,
            "audience": audience,
            "run_date": run_date,
            "batch": n,
            "batches": len(chunks),
            "idempotency_key": key,
            "operations": list(chunk),
        }
        out.append(Batch(n, key, to_json(body).encode()))
    return out


def read_batches(data: bytes) -> list[Batch]:
    """The batches of a published ``<destination>.batches.jsonl`` file (one body a line), as
    sent: the same bodies, the same idempotency keys."""
    out = []
    for line in data.splitlines():
        if line.strip():
            body = json.loads(line)
            out.append(Batch(int(body["batch"]), str(body["idempotency_key"]), line))
    return out


def send(
    hook: Webhook,
    batches: Sequence[Batch],
    *,
    destination: str = "webhook",
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """POST the batches in order. Header values may name environment variables
    (``${TOKEN}``), so secrets stay out of the YAML; an unset one is a ``ConfigError``
    before anything is sent."""
    delivery = Delivery()
    headers = {"Content-Type": "application/json", "User-Agent": "tailor-exports/1"}
    headers.update(hook.header_values(destination))
    for batch in batches:

        def make(batch: Batch = batch) -> urllib.request.Request:
            return urllib.request.Request(
                hook.url,
                data=batch.body,
                method="POST",
                headers={**headers, "Idempotency-Key": batch.idempotency_key},
            )

        try:
            _, attempts = with_retries(
                make, hook, label=f"batch {batch.number}/{len(batches)}", sleep=sleep
            )
        except DeliveryError as exc:
            delivery.attempts += exc.attempts
            raise
        delivery.attempts += attempts
        delivery.batches += 1
    return delivery
