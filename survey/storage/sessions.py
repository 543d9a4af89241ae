"""Researchers' signed-in sessions (table ``user_sessions``). Session ids are stored
as SHA-256 hashes: the cookie holds the id. (Failed logins are throttled by
:mod:`survey.web.ratelimit`.)"""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from survey.storage.db import write_transaction


def find_session(db: Database, sid_hash: str) -> tuple[int, datetime, datetime] | None:
    """``(user_id, created_at, last_seen_at)`` of an active user's session, else ``None``."""
    row = db.execute(
        "SELECT s.user_id, s.created_at, s.last_seen_at FROM user_sessions s "
        "JOIN users u ON u.id = s.user_id "
        "WHERE s.id_sha256 = ? AND u.disabled = 0",
        [sid_hash],
    ).fetchone()
    if row is None:
        return None
    return row[0], datetime.fromisoformat(row[1]), datetime.fromisoformat(row[2])


def delete_session(db: Database, sid_hash: str) -> None:
    with write_transaction(db):
        db.execute("DELETE FROM user_sessions WHERE id_sha256 = ?", [sid_hash])


def touch_session(db: Database, sid_hash: str, now: str) -> None:
    with write_transaction(db):
        db.execute("UPDATE user_sessions SET last_seen_at = ? WHERE id_sha256 = ?", [now, sid_hash])


def start_session(db: Database, sid_hash: str, user_id: int, now: str, ip: str) -> None:
    """Record a new session and the user's last login, in one transaction."""
    with write_transaction(db):
        db.execute(
            "INSERT INTO user_sessions (id_sha256, user_id, created_at, last_seen_at, "
            "ip) VALUES (?, ?, ?, ?, ?)",
            [sid_hash, user_id, now, now, ip],
        )
        db.execute("UPDATE users SET last_login_at = ? WHERE id = ?", [now, user_id])
