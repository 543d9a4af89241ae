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

Destinations (server-side request forgery): the connection is made only to an address
that :func:`survey.storage.webhooks.refused_address` accepts. The host name is
resolved here, every address it resolves to is checked, and the socket connects to
the checked address itself, so a name that resolves to a public address when checked
and to an internal one a moment later (DNS rebinding) gains nothing. A delivery whose
host resolves only to refused addresses fails at once, without retries, and the
attempt log says why.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import socket
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


class RefusedDestination(OSError):
    """Every address the webhook's host resolves to is refused by the policy."""


def _guarded_connection(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):
    """``socket.create_connection`` that connects only to addresses the destination
    policy accepts (the first of them that answers)."""
    host, port = address
    error: OSError | None = None
    refused: list[str] = []
    for family, kind, proto, _, sockaddr in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        why = webhooks.refused_address(sockaddr[0])
        if why:
            refused.append(why)
            continue
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as e:
            sock.close()
            error = e
    if error is not None:
        raise error
    raise RefusedDestination(f"{host} resolves to no allowed address: " + "; ".join(refused))


class _Guarded:
    """An ``http.client`` connection whose socket comes from :func:`_guarded_connection`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _guarded_connection


class _GuardedHTTPConnection(_Guarded, http.client.HTTPConnection):
    pass


class _GuardedHTTPSConnection(_Guarded, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_GuardedHTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_GuardedHTTPSConnection, req, context=self._context)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a 3xx is an answer like any other non-2xx: not followed


class WebhookHandler:
    """``deliver(db, job)`` for the outbox worker."""

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), _HTTPHandler, _HTTPSHandler, _NoRedirect
        )

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
        status, error, refused = None, None, None
        started = time.monotonic()
        try:
            with self.opener.open(req, timeout=TIMEOUT_S) as r:
                status = r.status
                r.read(4096)
        except urllib.error.HTTPError as e:
            status = e.code
            e.close()
        except urllib.error.URLError as e:
            if isinstance(e.reason, RefusedDestination):
                refused = f"refused destination: {e.reason}"
            error = f"{type(e).__name__}: {e}"
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
            error=refused or error,
            duration_ms=ms,
        )
        if refused:
            raise worker.PermanentFailure(refused)
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
