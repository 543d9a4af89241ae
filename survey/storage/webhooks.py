"""Webhook subscriptions, their events and the log of delivery attempts (issue 10).

A campaign's webhooks (table ``webhooks``) each have a URL, the events they want
(:data:`EVENTS`) and a signing secret, shown once when the webhook is added. Events
are written to the shared durable outbox (:mod:`survey.storage.outbox`, kind
``webhook``) in the transaction that causes them: ``response.completed`` in
:func:`survey.storage.store.complete_response`, ``campaign.closed`` in
:func:`survey.storage.store.close_campaign`. The worker (:mod:`survey.worker`) sends
them with :mod:`survey.webhook_sender` and records every attempt here
(:func:`record_attempt`), which the campaign page shows.

An event's body never holds an invitation token, a response id, an IP address or an
e-mail address: ``response.completed`` carries the campaign, the period, the declared
parameters, the language, the dimension scores and Trust Index of that response (as
the exports compute them) and its trust-breach answers.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import secrets
import urllib.parse
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from survey.storage.db import write_transaction

EVENTS = ("response.completed", "campaign.closed")
KIND = "webhook"
MAX_URL_LENGTH = 2000
MAX_WEBHOOKS_PER_CAMPAIGN = 20
#: Retries with exponential backoff during 24 hours, then the delivery is failed.
RETRY_HOURS = 24
MAX_ATTEMPTS = 1000  # the 24 hours end the retries (survey.webhook_sender), not a count
_COLS = ("id", "campaign_id", "url", "events", "created_at", "created_by", "removed_at")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _row(row, slug: str | None = None) -> dict:
    w = dict(zip(_COLS, row, strict=True))
    w["events"] = json.loads(w["events"])
    if slug is not None:
        w["campaign"] = slug
    return w


#: Environment variables of the destination policy (:func:`refused_address`).
LOCAL_ENV = "TRUSTMETER_WEBHOOK_LOCAL"
ALLOWLIST_ENV = "TRUSTMETER_WEBHOOK_ALLOWLIST"


def _policy() -> tuple[bool, list]:
    """``(local networks allowed, allowlisted networks)`` from the environment, read at
    each use (the web app and the worker are separate processes)."""
    local = os.environ.get(LOCAL_ENV, "allow").strip().lower() or "allow"
    if local not in ("allow", "deny"):
        raise ValueError(f"{LOCAL_ENV} must be 'allow' or 'deny', not {local!r}")
    networks = []
    for part in os.environ.get(ALLOWLIST_ENV, "").split(","):
        if part.strip():
            try:
                networks.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError:
                raise ValueError(
                    f"{ALLOWLIST_ENV}: {part.strip()!r} is not an IP address or network "
                    "(e.g. 10.1.2.0/24 or 127.0.0.1)"
                ) from None
    return local == "allow", networks


def _kind(ip) -> tuple[str, bool] | None:
    """``(what the address is, whether it is on a local network)`` for an address that
    is not public; ``None`` for a public one."""
    if ip.is_unspecified:
        return "an unspecified address", False
    if ip.is_loopback:
        return "a loopback address", True
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services answer)", False
    if ip.is_multicast:
        return "a multicast address", False
    if ip.is_reserved:  # also 255.255.255.255 (in 240.0.0.0/4)
        return "a reserved address", False
    if ip.is_private or not ip.is_global:
        return "a private or other non-public address", True
    return None


def refused_address(address: str) -> str | None:
    """Why a webhook must not be sent to the IP ``address``, or ``None`` when it may.

    Unspecified, link-local (169.254.0.0/16 holds cloud metadata services), multicast
    and reserved addresses are always refused. Loopback and private networks (also
    carrier-grade NAT and IPv6 unique-local) are allowed unless
    ``TRUSTMETER_WEBHOOK_LOCAL=deny``: receivers on an intranet are common, and a
    hosted installation whose researchers must not reach its internal network denies
    them. Addresses or networks in ``TRUSTMETER_WEBHOOK_ALLOWLIST`` (comma-separated)
    are always allowed. An IPv4-mapped IPv6 address is judged as its IPv4 address."""
    ip = _ip(address)
    local_allowed, allowlist = _policy()
    if any(ip.version == n.version and ip in n for n in allowlist):
        return None
    found = _kind(ip)
    if found is None:
        return None
    kind, local = found
    if local and local_allowed:
        return None
    why = f"{LOCAL_ENV}=deny" if local else "webhooks are never sent there"
    return f"{ip} is {kind} ({why}; {ALLOWLIST_ENV} can allow it)"


def _ip(address: str):
    """The IP address in ``address`` (an IPv6 zone dropped, an IPv4-mapped IPv6 address
    as its IPv4 address); ``ValueError`` when it is not one."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return ip.ipv4_mapped if ip.version == 6 and ip.ipv4_mapped is not None else ip


def check_url(url: Any) -> str:
    """A webhook URL: absolute http(s) with a host, no credentials, at most 2000 chars,
    and not an IP address that :func:`refused_address` refuses (a host name is checked
    when the worker connects, against every address it resolves to)."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("the webhook URL must be text, e.g. https://example.com/hooks")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"the webhook URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise ValueError(f"the webhook URL {url!r} is not a valid URL: {e}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"the webhook URL {url!r} must start with https:// or http:// and name a host"
        )
    if parts.username or parts.password:
        raise ValueError("the webhook URL must not contain a user name or password")
    if port == 0:
        raise ValueError(f"the webhook URL {url!r} has port 0")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise ValueError("the webhook URL must not contain spaces or control characters")
    try:
        ip = str(_ip(parts.hostname))
    except ValueError:  # a host name: checked when the worker connects
        ip = None
    if ip is not None and (why := refused_address(ip)):
        raise ValueError(f"the webhook URL {url!r} points at a refused address: {why}")
    return url


def url_origin(url: str) -> str:
    """``scheme://host[:port]`` of a webhook URL, for the audit log: paths and queries of
    webhook URLs often carry the receiver's own secret (e.g. chat webhooks)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def check_events(events: Iterable[str] | None) -> list[str]:
    evs = list(dict.fromkeys(events or ("response.completed",)))
    bad = [e for e in evs if e not in EVENTS]
    if bad or not evs:
        raise ValueError(
            f"unknown event(s) {', '.join(map(repr, bad))}; events are {', '.join(EVENTS)}"
        )
    return evs


def _campaign(db: Database, slug: str) -> dict:
    from survey.storage import store

    c = store.get_campaign(db, slug)
    if c is None:
        raise LookupError(f"unknown campaign {slug!r}")
    return c


def add_webhook(
    db: Database,
    slug: str,
    url: str,
    events: Iterable[str] | None = None,
    *,
    created_by: str | None = None,
) -> tuple[str, dict]:
    """Subscribe ``url`` to ``events`` (default ``response.completed``) of campaign
    ``slug``; return ``(secret, webhook)``. The secret signs every delivery; it is shown
    only now (it is kept, since the worker needs it to sign)."""
    url = check_url(url)
    evs = check_events(events)
    c = _campaign(db, slug)
    secret = "whsec_" + secrets.token_urlsafe(32)
    with write_transaction(db):
        n = db.execute(
            "SELECT COUNT(*) FROM webhooks WHERE campaign_id = ? AND removed_at IS NULL", [c["id"]]
        ).fetchone()[0]
        if n >= MAX_WEBHOOKS_PER_CAMPAIGN:
            raise ValueError(
                f"campaign {slug!r} already has {n} webhooks (at most {MAX_WEBHOOKS_PER_CAMPAIGN})"
            )
        cur = db.execute(
            "INSERT INTO webhooks (campaign_id, url, events, secret, created_at, "
            "created_by) VALUES (?, ?, ?, ?, ?, ?)",
            [c["id"], url, json.dumps(evs), secret, _now(), created_by],
        )
        row = db.execute(
            f"SELECT {', '.join(_COLS)} FROM webhooks WHERE id = ?", [cur.lastrowid]
        ).fetchone()
    return secret, _row(row, slug)


def list_webhooks(db: Database, slug: str) -> list[dict]:
    """The campaign's active webhooks, oldest first (without their secrets)."""
    c = _campaign(db, slug)
    rows = db.execute(
        f"SELECT {', '.join(_COLS)} FROM webhooks WHERE campaign_id = ? AND "
        "removed_at IS NULL ORDER BY id",
        [c["id"]],
    ).fetchall()
    return [_row(r, slug) for r in rows]


def remove_webhook(db: Database, slug: str, webhook_id: int) -> dict:
    """Remove a webhook: no new events for it (deliveries already queued still go)."""
    c = _campaign(db, slug)
    with write_transaction(db):
        row = db.execute(
            f"SELECT {', '.join(_COLS)} FROM webhooks WHERE id = ? AND "
            "campaign_id = ? AND removed_at IS NULL",
            [webhook_id, c["id"]],
        ).fetchone()
        if row is None:
            raise LookupError(f"campaign {slug!r} has no webhook {webhook_id!r}")
        w = _row(row, slug)
        w["removed_at"] = _now()
        db.execute("UPDATE webhooks SET removed_at = ? WHERE id = ?", [w["removed_at"], w["id"]])
    return w


def secret_of(db: Database, webhook_id: int) -> tuple[str, str] | None:
    """``(url, secret)`` of a webhook (removed ones too), for the sender."""
    row = db.execute("SELECT url, secret FROM webhooks WHERE id = ?", [webhook_id]).fetchone()
    return None if row is None else (row[0], row[1])


# ----- events ------------------------------------------------------------------------------
def _subscribers(db: Database, campaign_id: int, event: str) -> list[int]:
    rows = db.execute(
        "SELECT id, events FROM webhooks WHERE campaign_id = ? AND removed_at IS NULL ORDER BY id",
        [campaign_id],
    ).fetchall()
    return [r[0] for r in rows if event in json.loads(r[1])]


def enqueue_event(
    db: Database, campaign: Mapping, event: str, subject: str, data: Mapping[str, Any]
) -> list[str]:
    """Queue ``event`` for every webhook of ``campaign`` that wants it, in the caller's
    transaction. ``subject`` names what happened (e.g. the completion number), so the
    idempotency key ``<event>:<webhook>:<subject>`` is the same for every retry and
    redelivery of one event to one webhook. Returns the keys."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    hooks = _subscribers(db, campaign["id"], event)
    if not hooks:
        return []
    from survey.storage import outbox

    keys = []
    created = _now()
    for hook_id in hooks:
        key = f"evt_{event}:{campaign['id']}:{hook_id}:{subject}"
        body = {"id": key, "type": event, "created_at": created, "data": dict(data)}
        outbox.enqueue(
            db,
            KIND,
            {"webhook_id": hook_id, "event": event, "body": body},
            key=key,
            campaign_id=campaign["id"],
            max_attempts=MAX_ATTEMPTS,
        )
        keys.append(key)
    return keys


def _finite(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else float(v)


def response_completed_data(
    campaign: Mapping, inst: Any, response: Mapping, answers: Mapping[str, int]
) -> dict:
    """The ``data`` of a ``response.completed`` event (see the module docstring)."""
    import pandas as pd

    from survey.export.core import dimension_scores

    ids = list(inst.item_ids)
    frame = pd.DataFrame(
        [[float(answers[i]) if i in answers else float("nan") for i in ids]], columns=ids
    )
    scores = dimension_scores(frame, inst).iloc[0]
    dims = {b.id: _finite(scores.iloc[k]) for k, b in enumerate(inst.dimensions)}
    breach = {}
    if inst.checklist is not None:
        breach = {i: answers.get(i) for i in inst.checklist.item_ids}
    params = {p: response["params"][p] for p in campaign["params"] if p in response["params"]}
    return {
        "campaign": campaign["slug"],
        "period": response["period"],
        "params": params,
        "language": response["language"],
        "dimension_scores": dims,
        "trust_index": _finite(scores["trust_index"]),
        "trust_breach": breach,
    }


def on_response_completed(
    db: Database, response: Mapping, inst: Any, answers: Mapping[str, int]
) -> list[str]:
    """Queue ``response.completed`` for a response that has just been completed, inside
    the completing transaction (its completion number is the event's subject)."""
    c = {"id": response["campaign_id"]}
    if not _subscribers(db, c["id"], "response.completed"):
        return []
    from survey.storage import store

    campaign = store.get_campaign(db, response["campaign"])
    seq = db.execute(
        "SELECT seq FROM response_completions WHERE response_id = ?", [response["id"]]
    ).fetchone()
    subject = f"r{seq[0]}" if seq else f"x{response['id']}"
    return enqueue_event(
        db,
        campaign,
        "response.completed",
        subject,
        response_completed_data(campaign, inst, response, answers),
    )


def on_campaign_closed(db: Database, campaign: Mapping) -> list[str]:
    """Queue ``campaign.closed``, inside the closing transaction."""
    from survey.storage import store

    counts = store.campaign_counts(db, campaign["slug"])
    return enqueue_event(
        db,
        campaign,
        "campaign.closed",
        "closed",
        {
            "campaign": campaign["slug"],
            "period": campaign["period"],
            "completed": counts["completed"],
            "closed_at": _now(),
        },
    )


# ----- the delivery log ----------------------------------------------------------------------
def record_attempt(
    db: Database,
    *,
    webhook_id: int,
    event: str,
    idempotency_key: str,
    attempt: int,
    status: int | None,
    error: str | None,
    duration_ms: int | None,
) -> None:
    """Log one delivery attempt (status code, or the error of a failed connection)."""
    with write_transaction(db):
        row = db.execute("SELECT campaign_id FROM webhooks WHERE id = ?", [webhook_id]).fetchone()
        if row is None:
            return
        db.execute(
            "INSERT INTO webhook_attempts (webhook_id, campaign_id, event, "
            "idempotency_key, attempt, at, status, error, duration_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                webhook_id,
                row[0],
                event,
                idempotency_key,
                attempt,
                _now(),
                status,
                (error or None) and str(error)[:500],
                duration_ms,
            ],
        )


def attempts(db: Database, slug: str, *, limit: int = 50, offset: int = 0) -> list[dict]:
    """The campaign's delivery attempts, newest first."""
    c = _campaign(db, slug)
    cur = db.execute(
        "SELECT a.id, a.webhook_id, w.url, a.event, a.idempotency_key, a.attempt, "
        "a.at, a.status, a.error, a.duration_ms FROM webhook_attempts a "
        "JOIN webhooks w ON w.id = a.webhook_id WHERE a.campaign_id = ? "
        "ORDER BY a.id DESC LIMIT ? OFFSET ?",
        [c["id"], int(limit), int(offset)],
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
