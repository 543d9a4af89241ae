"""The audit log: who did what to which target, when and from where.

One row per action in ``audit_log`` (migration ``0002_researchers``): time (ISO
UTC), user (a username, ``cli:$USER`` for the command line, or ``None`` for an
unknown login name), action (e.g. ``login``, ``login.failed``, ``campaign.create``,
``export``), target (a campaign slug or username), details (a JSON object) and the
client IP. Invitation tokens and passwords are never logged, only counts.

Actions logged by the researcher side (:mod:`survey.web.admin.auth`, :mod:`survey.web.admin`):
``login``, ``login.failed``, ``login.blocked``, ``logout``, ``user.add``,
``user.role``, ``user.disable``, ``user.enable``, ``user.passwd``,
``campaign.create``, ``campaign.close``, ``invitations.create``, ``export``,
``report.download``. The ``trustmeter`` commands that change things log the same
actions as ``cli:$USER`` (:func:`survey.cli.common.audited`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from survey.storage.db import write_transaction

logger = logging.getLogger("trustmeter.audit")


def log(
    db: Database,
    action: str,
    *,
    user: str | None,
    target: str | None = None,
    details: Mapping[str, Any] | None = None,
    ip: str | None = None,
) -> int:
    """Append one entry; returns its id. Also written to the ``trustmeter.audit`` logger."""
    text = json.dumps(dict(details or {}), ensure_ascii=False, sort_keys=True, default=str)
    at = datetime.now(UTC).isoformat(timespec="milliseconds")
    with write_transaction(db):
        cur = db.execute(
            "INSERT INTO audit_log (at, user, action, target, details, ip) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [at, user, action, target, text, ip],
        )
    logger.info("audit %s user=%s target=%s ip=%s %s", action, user, target, ip, text)
    return cur.lastrowid


def entries(
    db: Database,
    *,
    limit: int = 50,
    offset: int = 0,
    action: str | None = None,
    user: str | None = None,
) -> list[dict]:
    """Entries newest first; ``details`` parsed back into a dict."""
    where, args = [], []
    if action:
        where.append("action = ?")
        args.append(action)
    if user:
        where.append("user = ?")
        args.append(user)
    sql = "SELECT id, at, user, action, target, details, ip FROM audit_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC LIMIT ? OFFSET ?"
    cur = db.execute(sql, [*args, int(limit), int(offset)])
    cols = [d[0] for d in cur.description]
    out = []
    for row in cur.fetchall():
        e = dict(zip(cols, row, strict=True))
        e["details"] = json.loads(e["details"] or "{}")
        out.append(e)
    return out


def count(db: Database) -> int:
    return db.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]


def has_log(db: Database) -> bool:
    """Whether the database has the audit table yet (an old schema may not)."""
    return "audit_log" in db.table_names()
