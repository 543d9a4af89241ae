"""Sends webhook events from the outbox (kind ``webhook``): the worker's handler.

Each delivery is a ``POST`` of the event's JSON body with the headers
``Content-Type: application/json``, ``Trustmeter-Event`` (the event type),
``Idempotency-Key`` (the same for every retry and redelivery of one event to one
webhook) and ``Trustmeter-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<raw body>" keyed with the webhook's secret>``. Receivers should recompute the
signature over the raw body, compare it in constant time and reject timestamps more
than 5 minutes old (:func:`verify_signature` does exactly that).

A 2xx reply is success. Anything else (another status, a redirect, a refused
connection, no reply within :data:`TIMEOUT_S`) is retried with the outbox's
exponential back-off until the event is :data:`RETRY_FOR_S` (24 hours) old, then the
delivery is marked failed. Every attempt is logged (:func:`survey.storage.webhooks.
record_attempt`) for the campaign page. Proxies from the environment are not used.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

from sqlite_utils import Database

from survey import worker
from survey.storage import outbox, webhooks

TIMEOUT_S = 10.0
RETRY_FOR_S = webhooks.RETRY_HOURS * 3600
SIGNATURE_TOLERANCE_S = 300


def body_bytes(body: dict) -> bytes:
    """The exact bytes sent (and signed) for an event body."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode(
        "utf-8"
    )


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Trustmeter-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(
        secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    *,
    now: float | None = None,
    tolerance_s: int = SIGNATURE_TOLERANCE_S,
) -> bool:
    """What a receiver does: the header parses, the timestamp is at most ``tolerance_s``
    old, and the HMAC matches (compared in constant time)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t = int(parts["t"])
        given = parts["v1"]
    except (ValueError, KeyError):
        return False
    now = time.time() if now is None else now
    if abs(now - t) > tolerance_s:
        return False
    expected = sign(secret, t, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a 3xx is an answer like any other non-2xx: not followed


class WebhookHandler:
    """``deliver(db, job)`` for the outbox worker."""

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)

    def deliver(self, db: Database, job: outbox.Job) -> str:
        p = job.payload
        hook = webhooks.secret_of(db, int(p["webhook_id"]))
        if hook is None:
            raise worker.PermanentFailure("the webhook no longer exists")
        url, secret = hook
        body = body_bytes(p["body"])
        t = int(time.time())
        req = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "trustmeter-webhooks/1",
                "Trustmeter-Event": p["event"],
                "Idempotency-Key": job.idempotency_key,
                "Trustmeter-Signature": sign(secret, t, body),
            },
        )
        status, error = None, None
        started = time.monotonic()
        try:
            with self.opener.open(req, timeout=TIMEOUT_S) as r:
                status = r.status
                r.read(4096)
        except urllib.error.HTTPError as e:
            status = e.code
            e.close()
        except (OSError, ValueError) as e:  # refused, reset, timeout, bad URL
            error = f"{type(e).__name__}: {e}"
        ms = int((time.monotonic() - started) * 1000)
        webhooks.record_attempt(
            db,
            webhook_id=int(p["webhook_id"]),
            event=p["event"],
            idempotency_key=job.idempotency_key,
            attempt=job.attempts,
            status=status,
            error=error,
            duration_ms=ms,
        )
        if status is not None and 200 <= status < 300:
            return f"HTTP {status}"
        reason = f"HTTP {status}" if status is not None else error or "no reply"
        created = p.get("body", {}).get("created_at")
        age = (
            (datetime.now(UTC) - datetime.fromisoformat(created)).total_seconds()
            if created
            else 0.0
        )
        if age + outbox.retry_delay(job.attempts) > RETRY_FOR_S:
            raise worker.PermanentFailure(
                f"{reason}; gave up after {job.attempts} attempts in {webhooks.RETRY_HOURS} hours"
            )
        raise worker.TemporaryFailure(reason)


worker.register(webhooks.KIND, WebhookHandler)
