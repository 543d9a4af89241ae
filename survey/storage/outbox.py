"""The durable outbox: every piece of outgoing work (an e-mail, a webhook call, later an
export job) is one row of the ``outbox`` table, and that row is the source of truth.

Life of a row::

    queued --claim--> sending --mark_sent--> sent
                         |----mark_retry--> retrying --(next_attempt_at)--> claim again
                         |----mark_failed / retries exhausted--> failed

* :func:`enqueue` inserts a row; it nests inside a transaction the caller already holds
  (e.g. the one that completes a response), so the work is queued exactly when the
  change that causes it commits. The ``idempotency_key`` is unique: enqueueing the same
  key again returns the existing row and queues nothing.
* :func:`claim` takes one due row atomically (``BEGIN IMMEDIATE``) and leases it to a
  worker until ``lease_until``. A worker that dies (``kill -9``) leaves its row in
  ``sending``; the row is claimed again when the lease expires, or at once when
  :func:`release_dead` sees that the claiming process no longer exists on this host.
  So a message in flight at a crash is sent again (at least once), never skipped.
* :func:`mark_sent`, :func:`mark_retry`, :func:`mark_failed` only act while the caller
  still holds the lease (same ``claimed_by``, state ``sending``), so a worker whose lease
  was taken over cannot overwrite the newer outcome.
* Retries back off exponentially: ``backoff_base * 2 ** (attempts - 1)`` seconds, capped
  at :data:`BACKOFF_CAP_S`, until ``max_attempts`` attempts, then ``failed``.

Handlers never store personal data in ``payload``, ``reply`` or ``last_error`` (the mail
handler stores a contact id, and scrubs addresses from SMTP replies).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from survey.storage.db import write_transaction

STATES = ("queued", "sending", "sent", "retrying", "failed")
PENDING_STATES = ("queued", "sending", "retrying")
DEFAULT_LEASE_S = 120.0
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_BACKOFF_S = 30.0
BACKOFF_CAP_S = 6 * 3600.0
MAX_ERROR_CHARS = 1000
BACKOFF_ENV = "TRUSTMETER_OUTBOX_BACKOFF_S"


def backoff_base() -> float:
    """Seconds before the first retry: ``$TRUSTMETER_OUTBOX_BACKOFF_S`` or 30."""
    raw = os.environ.get(BACKOFF_ENV)
    if not raw:
        return DEFAULT_BACKOFF_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{BACKOFF_ENV} must be a number of seconds, got {raw!r}") from None
    if not value >= 0:
        raise ValueError(f"{BACKOFF_ENV} must be >= 0, got {raw!r}")
    return value


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """Fixed-width ISO UTC (``2026-12-02T03:04:05.678+00:00``): sorts as text."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat(timespec="milliseconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass(frozen=True)
class Job:
    """One claimed outbox row, as handed to a handler."""

    id: int
    kind: str
    idempotency_key: str
    campaign_id: int | None
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    claimed_by: str
    lease_until: str
    extra: dict[str, Any] = field(default_factory=dict)


_COLUMNS = (
    "id",
    "kind",
    "idempotency_key",
    "campaign_id",
    "payload",
    "state",
    "attempts",
    "max_attempts",
    "next_attempt_at",
    "lease_until",
    "claimed_by",
    "last_error",
    "reply",
    "created_at",
    "updated_at",
    "sent_at",
)


def _row(row: Iterable) -> dict:
    d = dict(zip(_COLUMNS, row, strict=True))
    d["payload"] = json.loads(d["payload"]) if d["payload"] else {}
    return d


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    text = str(text)
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def enqueue(
    db: Database,
    kind: str,
    payload: Mapping[str, Any],
    *,
    key: str,
    campaign_id: int | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    not_before: datetime | None = None,
) -> tuple[int, bool]:
    """Queue one unit of work; return ``(outbox id, created)``.

    ``key`` is the idempotency key (unique over all kinds; prefix it with the kind,
    e.g. ``email:invitation:42``): if a row with that key exists, nothing is queued and
    ``created`` is False. Call it inside the caller's own :func:`write_transaction` to
    make the work part of that transaction.
    """
    if not isinstance(kind, str) or not kind:
        raise ValueError("outbox kind must be a non-empty string")
    if not isinstance(key, str) or not key:
        raise ValueError("outbox idempotency key must be a non-empty string")
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise ValueError(f"max_attempts must be a positive integer, got {max_attempts!r}")
    text = json.dumps(dict(payload), ensure_ascii=False, sort_keys=True)
    now = iso(now_utc())
    due = iso(not_before) if not_before is not None else now
    with write_transaction(db):
        cur = db.execute(
            "INSERT INTO outbox (kind, idempotency_key, campaign_id, payload, max_attempts, "
            "next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (idempotency_key) DO NOTHING",
            [kind, key, campaign_id, text, max_attempts, due, now, now],
        )
        if cur.rowcount == 1:
            return cur.lastrowid, True
        row = db.execute("SELECT id FROM outbox WHERE idempotency_key = ?", [key]).fetchone()
        return row[0], False


def worker_id() -> str:
    """``host:pid:random``: who holds a lease (the pid lets :func:`release_dead` check)."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    except OSError:
        return True
    return True


def release_dead(db: Database) -> int:
    """Make rows leased by processes of this host that no longer exist claimable now.

    A ``kill -9``'d worker cannot release its lease; without this, its row waits for
    the lease to expire. Returns the number of rows released.
    """
    host = socket.gethostname()
    rows = db.execute("SELECT id, claimed_by FROM outbox WHERE state = 'sending'").fetchall()
    dead = []
    for oid, claimed_by in rows:
        parts = (claimed_by or "").split(":")
        if len(parts) == 3 and parts[0] == host and parts[1].isdigit():
            pid = int(parts[1])
            if pid != os.getpid() and not _pid_alive(pid):
                dead.append(oid)
    if not dead:
        return 0
    now = iso(now_utc())
    with write_transaction(db):
        n = 0
        for oid in dead:
            n += db.execute(
                "UPDATE outbox SET lease_until = ?, updated_at = ? "
                "WHERE id = ? AND state = 'sending'",
                [now, now, oid],
            ).rowcount
    return n


def _filters(
    where: list[str], kinds: Iterable[str] | None, campaign_id: int | None
) -> tuple[list[str], list]:
    """``where`` plus the optional kind and campaign conditions, and their arguments."""
    args: list[Any] = []
    if kinds is not None:
        kinds = list(kinds)
        where = [*where, f"kind IN ({', '.join('?' * len(kinds))})"]
        args.extend(kinds)
    if campaign_id is not None:
        where = [*where, "campaign_id = ?"]
        args.append(campaign_id)
    return where, args


def _due_clause(kinds: Iterable[str] | None, campaign_id: int | None) -> tuple[str, list]:
    where, args = _filters(
        [
            "((state IN ('queued', 'retrying') AND next_attempt_at <= ?) "
            "OR (state = 'sending' AND lease_until <= ?))"
        ],
        kinds,
        campaign_id,
    )
    return " AND ".join(where), args


def claim(
    db: Database,
    worker: str,
    *,
    kinds: Iterable[str] | None = None,
    campaign_id: int | None = None,
    lease_s: float = DEFAULT_LEASE_S,
    now: datetime | None = None,
) -> Job | None:
    """Atomically take the next due row (oldest due first) and lease it to ``worker``.

    Due: queued or retrying with ``next_attempt_at`` reached, or ``sending`` with an
    expired lease (its worker died). The row's ``attempts`` counts this claim.
    Returns None when nothing is due.
    """
    kinds = None if kinds is None else list(kinds)
    now = now or now_utc()
    t = iso(now)
    where, args = _due_clause(kinds, campaign_id)
    # A read first, so an idle worker polling does not take the write lock.
    if db.execute(f"SELECT 1 FROM outbox WHERE {where} LIMIT 1", [t, t, *args]).fetchone() is None:
        return None
    lease = iso(now + timedelta(seconds=lease_s))
    with write_transaction(db):
        row = db.execute(
            f"UPDATE outbox SET state = 'sending', attempts = attempts + 1, lease_until = ?, "
            f"claimed_by = ?, updated_at = ? WHERE id = (SELECT id FROM outbox WHERE {where} "
            f"ORDER BY next_attempt_at, id LIMIT 1) RETURNING {', '.join(_COLUMNS)}",
            [lease, worker, t, t, t, *args],
        ).fetchone()
    if row is None:
        return None
    d = _row(row)
    return Job(
        id=d["id"],
        kind=d["kind"],
        idempotency_key=d["idempotency_key"],
        campaign_id=d["campaign_id"],
        payload=d["payload"],
        attempts=d["attempts"],
        max_attempts=d["max_attempts"],
        claimed_by=worker,
        lease_until=lease,
    )


def extend_lease(db: Database, job: Job, lease_s: float = DEFAULT_LEASE_S) -> bool:
    """Push the lease of a long-running job forward; False if it was lost."""
    t = now_utc()
    with write_transaction(db):
        return (
            db.execute(
                "UPDATE outbox SET lease_until = ?, updated_at = ? "
                "WHERE id = ? AND state = 'sending' AND claimed_by = ?",
                [iso(t + timedelta(seconds=lease_s)), iso(t), job.id, job.claimed_by],
            ).rowcount
            == 1
        )


def mark_sent(db: Database, job: Job, reply: str | None = None) -> bool:
    """The work is done: state ``sent``, the reply kept. False if the lease was lost."""
    t = iso(now_utc())
    with write_transaction(db):
        return (
            db.execute(
                "UPDATE outbox SET state = 'sent', reply = ?, sent_at = ?, updated_at = ?, "
                "lease_until = NULL WHERE id = ? AND state = 'sending' AND claimed_by = ?",
                [_clip(reply), t, t, job.id, job.claimed_by],
            ).rowcount
            == 1
        )


def mark_failed(db: Database, job: Job, error: str) -> bool:
    """A permanent failure: state ``failed``, never retried. False if the lease was lost."""
    t = iso(now_utc())
    with write_transaction(db):
        return (
            db.execute(
                "UPDATE outbox SET state = 'failed', last_error = ?, reply = ?, updated_at = ?, "
                "lease_until = NULL WHERE id = ? AND state = 'sending' AND claimed_by = ?",
                [_clip(error), _clip(error), t, job.id, job.claimed_by],
            ).rowcount
            == 1
        )


def retry_delay(attempts: int, base: float | None = None) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt."""
    base = backoff_base() if base is None else base
    return min(BACKOFF_CAP_S, base * 2 ** max(0, attempts - 1))


def mark_retry(db: Database, job: Job, error: str, *, base: float | None = None) -> str:
    """A temporary failure: ``retrying`` after a back-off, or ``failed`` when the job has
    had ``max_attempts`` attempts. Returns the new state ('' if the lease was lost)."""
    now = now_utc()
    t = iso(now)
    if job.attempts >= job.max_attempts:
        return (
            "failed"
            if mark_failed(db, job, f"{error} (gave up after {job.attempts} attempts)")
            else ""
        )
    due = iso(now + timedelta(seconds=retry_delay(job.attempts, base)))
    with write_transaction(db):
        n = db.execute(
            "UPDATE outbox SET state = 'retrying', last_error = ?, next_attempt_at = ?, "
            "updated_at = ?, lease_until = NULL WHERE id = ? AND state = 'sending' "
            "AND claimed_by = ?",
            [_clip(error), due, t, job.id, job.claimed_by],
        ).rowcount
    return "retrying" if n == 1 else ""


def cancel(db: Database, ids: Iterable[int], reason: str) -> int:
    """Mark rows that are queued or retrying as failed with ``reason`` (e.g. the contact
    was purged or opted out). Rows being sent are left to their worker."""
    t = iso(now_utc())
    n = 0
    with write_transaction(db):
        for oid in ids:
            n += db.execute(
                "UPDATE outbox SET state = 'failed', last_error = ?, updated_at = ? "
                "WHERE id = ? AND state IN ('queued', 'retrying')",
                [_clip(reason), t, oid],
            ).rowcount
    return n


def get(db: Database, outbox_id: int) -> dict | None:
    row = db.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM outbox WHERE id = ?", [outbox_id]
    ).fetchone()
    return None if row is None else _row(row)


def get_by_key(db: Database, key: str) -> dict | None:
    row = db.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM outbox WHERE idempotency_key = ?", [key]
    ).fetchone()
    return None if row is None else _row(row)


def counts(
    db: Database, *, kind: str | None = None, campaign_id: int | None = None
) -> dict[str, int]:
    """Rows per state (every state present, 0 when none), optionally for one kind/campaign."""
    where, args = ["1"], []
    if kind is not None:
        where.append("kind = ?")
        args.append(kind)
    if campaign_id is not None:
        where.append("campaign_id = ?")
        args.append(campaign_id)
    out = dict.fromkeys(STATES, 0)
    for state, n in db.execute(
        f"SELECT state, count(*) FROM outbox WHERE {' AND '.join(where)} GROUP BY state", args
    ):
        out[state] = n
    return out


def next_due(
    db: Database, *, kinds: Iterable[str] | None = None, campaign_id: int | None = None
) -> datetime | None:
    """When the next pending row becomes due (its retry time or lease expiry), or None
    when nothing is pending."""
    where, args = _filters(["state IN ('queued', 'sending', 'retrying')"], kinds, campaign_id)
    row = db.execute(
        "SELECT min(CASE WHEN state = 'sending' THEN lease_until "
        f"ELSE next_attempt_at END) FROM outbox WHERE {' AND '.join(where)}",
        args,
    ).fetchone()
    return None if row[0] is None else parse_iso(row[0])


def rows(
    db: Database,
    *,
    kind: str | None = None,
    campaign_id: int | None = None,
    state: str | None = None,
    limit: int = 1000,
) -> list[dict]:
    """Rows, newest first (for status pages and tests)."""
    where, args = ["1"], []
    for col, val in (("kind", kind), ("campaign_id", campaign_id), ("state", state)):
        if val is not None:
            where.append(f"{col} = ?")
            args.append(val)
    return [
        _row(r)
        for r in db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM outbox WHERE {' AND '.join(where)} "
            "ORDER BY id DESC LIMIT ?",
            [*args, int(limit)],
        )
    ]
