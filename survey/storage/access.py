"""Per-campaign access (issue 14): which signed-in users see which campaigns.

Rules
-----
- Admins see every campaign.
- Researchers and viewers see the campaigns they created on the web or were granted
  (``campaign_access`` rows: ``trustmeter campaign grant SLUG USERNAME`` or the admin
  form on the campaign page). Viewers are treated like researchers: granted campaigns
  only (their role still limits what they may do there).
- A campaign created on the web is granted to its creator. One created with
  ``trustmeter campaign create`` records ``cli:$USER`` as its creator, which is no web
  user: only admins see it until someone is granted it (``--grant USERNAME``).
- A campaign with no recorded creator and no grant at all (created through the Python
  API, e.g. ``trustmeter demo`` or scripts) is *unassigned* and stays visible to every
  signed-in user, as all campaigns were before 0.3; the first grant restricts it.
- Migration ``0006_campaign_access`` gave every existing campaign to its creator as the
  audit log names it (``campaign.create``) when that user still exists, otherwise to all
  researchers existing at the time of the migration.

API tokens keep their own campaign scope (:mod:`survey.storage.tokens`); these rules
are for signed-in users of the researcher pages.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlite_utils import Database

from survey.storage.db import write_transaction

SCHEMA = [
    "ALTER TABLE campaigns ADD COLUMN created_by TEXT",
    """
    CREATE TABLE campaign_access (
        campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
        user_id INTEGER NOT NULL REFERENCES users (id),
        granted_by TEXT,
        granted_at TEXT NOT NULL,
        PRIMARY KEY (campaign_id, user_id)
    )
    """,
    "CREATE INDEX idx_campaign_access_user ON campaign_access (user_id)",
]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def apply_schema(db: Database) -> None:
    """Migration 0006: the table, the creator column, and existing campaigns given to
    their creator (audit log) or, when unknown, to all researchers."""
    for sql in SCHEMA:
        db.execute(sql)
    now = _now()
    researchers = [
        r[0] for r in db.execute("SELECT id FROM users WHERE role = 'researcher'").fetchall()
    ]
    for cid, slug in db.execute("SELECT id, slug FROM campaigns").fetchall():
        row = db.execute(
            "SELECT u.id, u.username FROM audit_log a JOIN users u ON u.username = a.user "
            "WHERE a.action = 'campaign.create' AND a.target = ? ORDER BY a.id LIMIT 1",
            [slug],
        ).fetchone()
        if row is not None:
            db.execute("UPDATE campaigns SET created_by = ? WHERE id = ?", [row[1], cid])
            owners = [row[0]]
        else:
            owners = researchers
        for uid in owners:
            db.execute(
                "INSERT OR IGNORE INTO campaign_access (campaign_id, user_id, "
                "granted_by, granted_at) VALUES (?, ?, 'migration 0006', ?)",
                [cid, uid, now],
            )


def _campaign_id(db: Database, slug: str) -> int:
    row = db.execute("SELECT id FROM campaigns WHERE slug = ?", [slug]).fetchone()
    if row is None:
        raise LookupError(f"unknown campaign {slug!r}")
    return row[0]


def _user(db: Database, username: str) -> tuple[int, str, str]:
    row = db.execute(
        "SELECT id, username, role FROM users WHERE username = ?", [username]
    ).fetchone()
    if row is None:
        raise LookupError(f"unknown user {username!r}")
    return row[0], row[1], row[2]


def set_creator(db: Database, slug: str, creator: str) -> None:
    """Record who created campaign ``slug`` (a username, or ``cli:NAME``)."""
    with write_transaction(db):
        db.execute(
            "UPDATE campaigns SET created_by = ? WHERE id = ?", [creator, _campaign_id(db, slug)]
        )


def creator(db: Database, slug: str) -> str | None:
    return db.execute(
        "SELECT created_by FROM campaigns WHERE id = ?", [_campaign_id(db, slug)]
    ).fetchone()[0]


def grant(db: Database, slug: str, username: str, *, by: str | None = None) -> bool:
    """Give ``username`` access to campaign ``slug``; False if it already had it."""
    with write_transaction(db):
        cid, uid = _campaign_id(db, slug), _user(db, username)[0]
        cur = db.execute(
            "INSERT OR IGNORE INTO campaign_access (campaign_id, user_id, "
            "granted_by, granted_at) VALUES (?, ?, ?, ?)",
            [cid, uid, by, _now()],
        )
        return cur.rowcount == 1


def revoke(db: Database, slug: str, username: str) -> bool:
    """Take ``username``'s access to ``slug`` away; False if it had none."""
    with write_transaction(db):
        cid, uid = _campaign_id(db, slug), _user(db, username)[0]
        cur = db.execute(
            "DELETE FROM campaign_access WHERE campaign_id = ? AND user_id = ?", [cid, uid]
        )
        return cur.rowcount == 1


def grantees(db: Database, slug: str) -> list[str]:
    """Usernames granted campaign ``slug``, sorted."""
    return [
        r[0]
        for r in db.execute(
            "SELECT u.username FROM campaign_access a JOIN users u ON u.id = a.user_id "
            "WHERE a.campaign_id = ? ORDER BY u.username",
            [_campaign_id(db, slug)],
        ).fetchall()
    ]


def visible_ids(db: Database, user: dict | None) -> set[int] | None:
    """Ids of the campaigns ``user`` may see; ``None`` means all (admins)."""
    if user is not None and user.get("role") == "admin":
        return None
    uid = user.get("id") if user else None
    rows = db.execute(
        "SELECT c.id FROM campaigns c WHERE "
        "EXISTS (SELECT 1 FROM campaign_access a WHERE a.campaign_id = c.id AND a.user_id = ?) "
        "OR (c.created_by IS NULL AND NOT EXISTS "
        "(SELECT 1 FROM campaign_access a WHERE a.campaign_id = c.id))",
        [uid],
    ).fetchall()
    return {r[0] for r in rows}


def can_see(db: Database, campaign: dict, user: dict | None) -> bool:
    ids = visible_ids(db, user)
    return ids is None or campaign["id"] in ids
