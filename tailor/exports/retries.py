"""One HTTP request made until it succeeds, for the webhook and the tools' APIs.

Connection errors, timeouts and the statuses of :data:`RETRYABLE` (408, 425, 429, 5xx)
are retried with exponential backoff (``Retry-After`` honoured, capped at the policy's
``max_backoff_seconds``); any other 4xx fails at once with :class:`DeliveryError`.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

RETRYABLE = {408, 425, 429, 500, 502, 503, 504}


class DeliveryError(RuntimeError):
    """A batch could not be delivered; earlier batches may have been."""

    def __init__(self, message: str, attempts: int = 0):
        super().__init__(message)
        self.attempts = attempts


def with_retries(
    make: Callable[[], urllib.request.Request],
    policy: Any,
    *,
    label: str,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bytes, int]:
    """Make one HTTP request until it succeeds: (response body, attempts). ``policy`` has
    max_attempts, backoff_seconds, max_backoff_seconds and timeout_seconds. Connection
    errors, timeouts and RETRYABLE statuses are retried with exponential backoff
    (``Retry-After`` honoured, capped); another 4xx, or the last attempt failing, raises
    :class:`DeliveryError` (its ``attempts`` says how many were made)."""
    attempt = 0
    while True:
        attempt += 1
        retry_after: float | None = None
        try:
            with urllib.request.urlopen(make(), timeout=policy.timeout_seconds) as resp:
                return resp.read(), attempt
        except urllib.error.HTTPError as exc:
            exc.read()
            if exc.code not in RETRYABLE:
                raise DeliveryError(
                    f"{label}: HTTP {exc.code} {exc.reason} (not retried)", attempt
                ) from exc
            retry_after = _retry_after(exc.headers.get("Retry-After"))
            error: Exception = exc
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            error = exc
        if attempt >= policy.max_attempts:
            raise DeliveryError(
                f"{label}: gave up after {attempt} attempts: {error}", attempt
            ) from error
        wait = policy.backoff_seconds * (2 ** (attempt - 1))
        if retry_after is not None:
            wait = max(wait, retry_after)
        sleep(min(wait, policy.max_backoff_seconds))


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
