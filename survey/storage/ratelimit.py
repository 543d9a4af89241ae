"""Rate-limit counters shared by all server processes: a sliding-window counter in SQLite.

gunicorn runs several worker processes, so counters kept in one process would let a
client through ``workers`` times more often. The counters live in a small SQLite
file of their own next to the database (default ``<database>.ratelimit.db``), so they
are shared by every worker and never contend for the survey database's write lock.
They need no durability (``synchronous=OFF``): after a crash a client may get a fresh
allowance, nothing else. Should the counter file fail (locked for seconds, disk full),
requests are let through and a warning is logged: the limiter protects the survey, it
must not take it down.

The estimate is the usual sliding-window counter: the current fixed window's count
plus the previous window's count weighted by how much of it still overlaps the
sliding window. It never lets more than ``limit`` hits through in any ``window``
aligned to the fixed windows, and at most about ``2 * limit`` in an unaligned one
(in practice much less, since the previous window is counted in proportion).

The Flask side (configuration, client address, 429) is :mod:`survey.web.ratelimit`.
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
from typing import Any

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 2_000
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS ratelimit (key TEXT NOT NULL, window INTEGER NOT NULL, "
    "count INTEGER NOT NULL, expires REAL NOT NULL, PRIMARY KEY (key, window)) "
    "WITHOUT ROWID"
)


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
        self._memory: dict[tuple[str, int], Any] = {}

    def _connection(self) -> sqlite3.Connection:
        # One connection per process: never use one inherited through fork().
        if self._conn is None or self._pid != os.getpid():
            from survey.storage.files import create_private

            create_private(self.path)  # 0600, not world-readable (survey.storage.files)
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
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

    def hit(
        self, key: str, limit: int, window: float, *, now: float | None = None
    ) -> tuple[bool, int]:
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
            self._memory = {
                k: v
                for k, v in self._memory.items()
                if k[1] >= w - 1 or (k[1] == -1 and v[1] > now)
            }
        return True, 0

    def _hit_sqlite(self, key, limit, window, now, w) -> tuple[bool, int]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            counts = dict(
                conn.execute(
                    "SELECT window, count FROM ratelimit WHERE key = ? AND window IN (?, ?)",
                    [key, w - 1, w],
                ).fetchall()
            )
            prev, cur = counts.get(w - 1, 0), counts.get(w, 0)
            if _estimate(prev, cur, now, window) >= limit:
                conn.execute("COMMIT")
                return False, _retry_after(prev, cur, limit, now, window)
            conn.execute(
                "INSERT INTO ratelimit (key, window, count, expires) VALUES "
                "(?, ?, 1, ?) ON CONFLICT (key, window) DO UPDATE SET "
                "count = count + 1",
                [key, w, (w + 2) * window],
            )
            if random.random() < 0.01:
                conn.execute("DELETE FROM ratelimit WHERE expires < ?", [now])
            conn.execute("COMMIT")
            return True, 0
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # ----- strikes: a count of failures that locks a key out (logins) ------------------
    # A strike row has window -1; its count resets once ``expires`` (``window`` seconds
    # after the last strike) has passed. Strikes are taken *before* the attempt they
    # guard (and taken back when it succeeds), so parallel attempts cannot all pass a
    # check made before any of them failed.
    def strike(
        self, key: str, limit: int, window: float, *, now: float | None = None
    ) -> tuple[bool, int]:
        """Take one strike on ``key``: ``(allowed, retry_after_seconds)``. Refused once
        ``limit`` strikes were taken with less than ``window`` seconds between them;
        then until ``window`` seconds after the last one."""
        now = time.time() if now is None else now
        with self._lock:
            if self.path is None:
                count, expires = self._memory.get((key, -1), (0, 0.0))
                if expires <= now:
                    count = 0
                if count >= limit:
                    return False, max(1, math.ceil(expires - now))
                self._memory[(key, -1)] = (count + 1, now + window)
                return True, 0
            try:
                conn = self._connection()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    row = conn.execute(
                        "SELECT count, expires FROM ratelimit WHERE key = ? AND window = -1", [key]
                    ).fetchone()
                    count = row[0] if row and row[1] > now else 0
                    if count >= limit:
                        conn.execute("COMMIT")
                        return False, max(1, math.ceil(row[1] - now))
                    conn.execute(
                        "INSERT INTO ratelimit (key, window, count, expires) VALUES "
                        "(?, -1, ?, ?) ON CONFLICT (key, window) DO UPDATE SET "
                        "count = excluded.count, expires = excluded.expires",
                        [key, count + 1, now + window],
                    )
                    conn.execute("COMMIT")
                    return True, 0
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                log.warning("rate limiter unavailable (%s): request allowed", e)
                self._close()
                return True, 0

    def pardon(self, key: str, *, all_strikes: bool = False) -> None:
        """Take back one strike on ``key`` (or all of them)."""
        with self._lock:
            if self.path is None:
                count, expires = self._memory.get((key, -1), (0, 0.0))
                self._memory[(key, -1)] = (0 if all_strikes else max(count - 1, 0), expires)
                return
            try:
                conn = self._connection()
                if all_strikes:
                    conn.execute("DELETE FROM ratelimit WHERE key = ? AND window = -1", [key])
                else:
                    conn.execute(
                        "UPDATE ratelimit SET count = max(count - 1, 0) "
                        "WHERE key = ? AND window = -1",
                        [key],
                    )
            except sqlite3.Error as e:
                log.warning("rate limiter unavailable (%s)", e)
                self._close()

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


def default_storage(database: str) -> str:
    """``trustmeter.db`` -> ``trustmeter.ratelimit.db`` (in memory for ``:memory:``)."""
    if database == ":memory:":
        return ":memory:"
    p = Path(database)
    return str(p.with_name(p.stem + ".ratelimit.db"))
