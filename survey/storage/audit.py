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
actions as ``cli:$USER`` (:func:`audit_cli`).
"""

from __future__ import annotations

import functools
import getpass
import json
import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import click
from sqlite_utils import Database

from survey.storage.db import write_transaction

logger = logging.getLogger("trustmeter.audit")


def log(db: Database, action: str, *, user: str | None, target: str | None = None,
        details: Mapping[str, Any] | None = None, ip: str | None = None) -> int:
    """Append one entry; returns its id. Also written to the ``trustmeter.audit`` logger."""
    text = json.dumps(dict(details or {}), ensure_ascii=False, sort_keys=True, default=str)
    at = datetime.now(UTC).isoformat(timespec="milliseconds")
    with write_transaction(db):
        cur = db.execute("INSERT INTO audit_log (at, user, action, target, details, ip) "
                         "VALUES (?, ?, ?, ?, ?, ?)", [at, user, action, target, text, ip])
    logger.info("audit %s user=%s target=%s ip=%s %s", action, user, target, ip, text)
    return cur.lastrowid


def entries(db: Database, *, limit: int = 50, offset: int = 0, action: str | None = None,
            user: str | None = None) -> list[dict]:
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


# ----- the command line ----------------------------------------------------------------
def cli_user() -> str:
    """``cli:$USER``: the audit user of a command-line action."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = os.environ.get("USER") or "unknown"
    return f"cli:{name}"


def log_cli(db_path: str | os.PathLike[str] | None, action: str, *, target: str | None = None,
            details: Mapping[str, Any] | None = None) -> None:
    """Log a command-line action in the database at ``db_path``, if it has the audit
    table (a database not yet upgraded is left alone)."""
    from survey.storage.db import default_path, open_db

    path = os.fspath(db_path or default_path())
    if not os.path.isfile(path):
        return
    with open_db(path) as db:
        if "audit_log" in db.table_names():
            log(db, action, user=cli_user(), target=target, details=details)


def _export_rows(output: Any) -> int | None:
    try:
        with open(f"{output}.manifest.json", encoding="utf-8") as f:
            return int(json.load(f)["rows"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


#: command path -> (action, details from the command's parameters)
_CLI_ACTIONS: dict[tuple[str, ...], tuple[str, Any]] = {
    ("campaign", "create"): ("campaign.create", lambda kw: (kw["slug"], {
        "instrument": kw["instrument"], "period": kw["period"], "params": list(kw["params"]),
        "languages": list(kw["languages"])})),
    ("campaign", "close"): ("campaign.close", lambda kw: (kw["slug"], {})),
    ("invite",): ("invitations.create", lambda kw: (kw["slug"], {
        "count": kw["count"], "params": sorted(p.partition("=")[0] for p in kw["params"])})),
    ("export",): ("export", lambda kw: (",".join(kw["slugs"]), {
        "format": kw.get("fmt") or os.path.splitext(str(kw["output"]))[1].lstrip("."),
        "periods": list(kw.get("periods") or ()), "language": kw.get("language"),
        "rows": _export_rows(kw["output"])})),
}


def audit_cli(main: click.Group) -> None:
    """Make the data-changing commands of ``main`` write an audit entry after they
    succeed (campaign create/close, invite, export; ``user`` commands log their own)."""
    for path, (action, describe) in _CLI_ACTIONS.items():
        cmd: click.Command | None = main
        for name in path:
            cmd = cmd.commands.get(name) if isinstance(cmd, click.Group) else None
        if cmd is None or cmd.callback is None or getattr(cmd.callback, "_audited", False):
            continue
        cmd.callback = _audited(cmd.callback, action, describe)


def _audited(callback, action: str, describe):
    @functools.wraps(callback)
    def wrapper(*args, **kwargs):
        result = callback(*args, **kwargs)
        try:
            target, details = describe(kwargs)
            log_cli(kwargs.get("db_path"), action, target=target, details=details)
        except Exception as e:  # never fail a command that succeeded because of its audit
            click.echo(f"warning: could not write the audit log: {e}", err=True)
        return result
    wrapper._audited = True
    return wrapper
