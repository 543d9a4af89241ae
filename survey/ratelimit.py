"""Rate limiting shared by all server processes: a sliding-window counter in SQLite.

gunicorn runs several worker processes, so counters kept in one process would let a
client through ``workers`` times more often. The counters live in a small SQLite
file of their own next to the database (``RATELIMIT_STORAGE``, default
``<database>.ratelimit.db``), so they are shared by every worker and never contend
for the survey database's write lock. They need no durability (``synchronous=OFF``):
after a crash a client may get a fresh allowance, nothing else. Should the counter
file fail (locked for seconds, disk full), requests are let through and a warning
is logged: the limiter protects the survey, it must not take it down.

The estimate is the usual sliding-window counter: the current fixed window's count
plus the previous window's count weighted by how much of it still overlaps the
sliding window. It never lets more than ``limit`` hits through in any ``window``
aligned to the fixed windows, and at most about ``2 * limit`` in an unaligned one
(in practice much less, since the previous window is counted in proportion).

Use it anywhere (e.g. the researchers' login)::

    from survey import ratelimit
    ratelimit.check("login", f"{ratelimit.client_ip()}:{username}", limit=10, window=300)

:func:`check` raises ``werkzeug.exceptions.TooManyRequests`` (HTTP 429, with a
``Retry-After`` header) once the key has used its allowance; the app's error
handler renders the translated 429 page. :func:`hit` is the same without raising.

Configuration (app config):

``RATELIMIT_ENABLED``
    Default: on, except in ``TESTING`` mode. When off, :func:`check` allows all.
``RATELIMIT_POSTS`` / ``RATELIMIT_WINDOW``
    Respondent POSTs (consent and answer pages) per client address and link within
    ``RATELIMIT_WINDOW`` seconds: default 60 per 60 s; ``RATELIMIT_POSTS`` defaults to
    ``$TRUSTMETER_RATELIMIT_POSTS`` when set; 0 turns that limit off.
``RATELIMIT_STORAGE``
    Path of the counter file; ``":memory:"`` keeps the counters in this process
    only (then each gunicorn worker counts for itself: a weaker limit).
``RATELIMIT_TRUSTED_PROXIES``
    Number of reverse proxies in front of the app that append to
    ``X-Forwarded-For`` (default ``$TRUSTMETER_TRUSTED_PROXIES``, else 0: the TCP peer
    is the client). Behind a proxy with 0, every respondent shares the proxy's address
    and thus one allowance, so set it to 1 behind one nginx/Caddy; never set it
    without a proxy, or clients choose their own address.
"""

from __future__ import annotations

import logging
import math
import os
import random
import sqlite3
import threading
import time
from pathlib import Path

from flask import Flask, current_app, request
from werkzeug.exceptions import TooManyRequests

log = logging.getLogger(__name__)

ENV_POSTS = "TRUSTMETER_RATELIMIT_POSTS"
ENV_PROXIES = "TRUSTMETER_TRUSTED_PROXIES"
DEFAULT_POSTS = 60
DEFAULT_WINDOW = 60
BUSY_TIMEOUT_MS = 2_000
_SCHEMA = ("CREATE TABLE IF NOT EXISTS ratelimit (key TEXT NOT NULL, window INTEGER NOT NULL, "
           "count INTEGER NOT NULL, expires REAL NOT NULL, PRIMARY KEY (key, window)) "
           "WITHOUT ROWID")


def _estimate(prev: int, cur: int, now: float, window: float) -> float:
    elapsed = (now / window) % 1.0  # fraction of the current fixed window gone by
    return prev * (1.0 - elapsed) + cur


def _retry_after(prev: int, cur: int, limit: int, now: float, window: float) -> int:
    """Seconds until a hit would be allowed again (at least 1)."""
    start = math.floor(now / window) * window
    if cur >= limit:  # wait for the next window, where this one becomes "previous"
        nxt = start + window  # from then: cur * (1 - f) < limit  <=>  f > 1 - limit / cur
        wait = nxt + window * max(0.0, 1.0 - limit / cur) - now
    else:  # prev * (1 - f) + cur < limit  <=>  f > 1 - (limit - cur) / prev
        wait = start + window * (1.0 - (limit - cur) / prev) - now if prev else 0.0
    return max(1, math.ceil(wait))


class RateLimiter:
    """Sliding-window counters, in a SQLite file shared by processes (or in memory)."""

    def __init__(self, path: str | os.PathLike[str] | None = None):
        self.path = None if path in (None, ":memory:") else os.fspath(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid: int | None = None
        self._memory: dict[tuple[str, int], int] = {}

    def _connection(self) -> sqlite3.Connection:
        # One connection per process: never use one inherited through fork().
        if self._conn is None or self._pid != os.getpid():
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000,
                                   isolation_level=None, check_same_thread=False)
            try:
                self._set_up(conn)
            except BaseException:
                conn.close()
                raise
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    @staticmethod
    def _set_up(conn: sqlite3.Connection) -> None:
        """Pragmas and schema. Switching a file to WAL can fail at once with "database is
        locked" (SQLite does not wait on the busy handler for it) while other processes
        open the same file, so it is done only when needed, and retried until the busy
        timeout: failing here would let the request through unlimited."""
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous = OFF")
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                conn.execute(_SCHEMA)
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005 + random.random() * 0.02)

    def hit(self, key: str, limit: int, window: float, *,
            now: float | None = None) -> tuple[bool, int]:
        """Count a hit on ``key`` if allowed: ``(allowed, retry_after_seconds)``.

        Refused hits are not counted, so a client that waits gets through again.
        """
        if limit <= 0:
            return True, 0
        now = time.time() if now is None else now
        w = math.floor(now / window)
        with self._lock:
            if self.path is None:
                return self._hit_memory(key, limit, window, now, w)
            try:
                return self._hit_sqlite(key, limit, window, now, w)
            except sqlite3.Error as e:
                log.warning("rate limiter unavailable (%s): request allowed", e)
                self._close()
                return True, 0

    def _hit_memory(self, key, limit, window, now, w) -> tuple[bool, int]:
        prev, cur = self._memory.get((key, w - 1), 0), self._memory.get((key, w), 0)
        if _estimate(prev, cur, now, window) >= limit:
            return False, _retry_after(prev, cur, limit, now, window)
        self._memory[(key, w)] = cur + 1
        if random.random() < 0.01:
            self._memory = {k: v for k, v in self._memory.items() if k[1] >= w - 1}
        return True, 0

    def _hit_sqlite(self, key, limit, window, now, w) -> tuple[bool, int]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            counts = dict(conn.execute("SELECT window, count FROM ratelimit WHERE key = ? "
                                       "AND window IN (?, ?)", [key, w - 1, w]).fetchall())
            prev, cur = counts.get(w - 1, 0), counts.get(w, 0)
            if _estimate(prev, cur, now, window) >= limit:
                conn.execute("COMMIT")
                return False, _retry_after(prev, cur, limit, now, window)
            conn.execute("INSERT INTO ratelimit (key, window, count, expires) VALUES "
                         "(?, ?, 1, ?) ON CONFLICT (key, window) DO UPDATE SET "
                         "count = count + 1", [key, w, (w + 2) * window])
            if random.random() < 0.01:
                conn.execute("DELETE FROM ratelimit WHERE expires < ?", [now])
            conn.execute("COMMIT")
            return True, 0
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _close(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
        self._conn = None

    def reset(self) -> None:
        """Forget all counters (tests)."""
        with self._lock:
            self._memory.clear()
            if self.path is not None:
                self._connection().execute("DELETE FROM ratelimit")


# ----- Flask integration ---------------------------------------------------------
def default_storage(database: str) -> str:
    """``trustmeter.db`` -> ``trustmeter.ratelimit.db`` (in memory for ``:memory:``)."""
    if database == ":memory:":
        return ":memory:"
    p = Path(database)
    return str(p.with_name(p.stem + ".ratelimit.db"))


def limiter(app: Flask | None = None) -> RateLimiter:
    """The app's limiter, created on first use (after the server has forked)."""
    app = app or current_app
    lim = app.extensions.get("ratelimit")
    if lim is None:
        storage = app.config.get("RATELIMIT_STORAGE") or default_storage(app.config["DATABASE"])
        lim = app.extensions["ratelimit"] = RateLimiter(storage)
    return lim


def client_ip() -> str:
    """The client's address: the TCP peer, or the address the trusted proxies report."""
    proxies = int(current_app.config.get("RATELIMIT_TRUSTED_PROXIES") or 0)
    if proxies > 0:
        forwarded = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",")
                     if a.strip()]
        if len(forwarded) >= proxies:  # the rightmost ones were added by our proxies
            return forwarded[-proxies][:64]
    return request.remote_addr or "unknown"


def hit(rule: str, key: str, limit: int, window: float) -> tuple[bool, int]:
    """Count a hit of ``rule`` for ``key``: ``(allowed, retry_after_seconds)``."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return True, 0
    return limiter().hit(f"{rule}:{key}", int(limit), float(window))


def check(rule: str, key: str, limit: int, window: float) -> None:
    """Count a hit; raise ``TooManyRequests`` (429, ``Retry-After``) when over the limit."""
    allowed, retry_after = hit(rule, key, limit, window)
    if not allowed:
        raise TooManyRequests(retry_after=retry_after)


def init_app(app: Flask) -> None:
    """Configuration defaults (see the module docstring)."""
    app.config.setdefault("RATELIMIT_ENABLED", not app.testing)
    env = os.environ.get(ENV_POSTS, "").strip()
    app.config.setdefault("RATELIMIT_POSTS", int(env) if env.isdigit() else DEFAULT_POSTS)
    app.config.setdefault("RATELIMIT_WINDOW", DEFAULT_WINDOW)
    app.config.setdefault("RATELIMIT_STORAGE", None)
    proxies = os.environ.get(ENV_PROXIES, "").strip()
    app.config.setdefault("RATELIMIT_TRUSTED_PROXIES", int(proxies) if proxies.isdigit() else 0)
