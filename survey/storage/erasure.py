"""One response, listed and erased (issue 11, item 4): the SQL behind ``trustmeter
response show/delete`` and the researcher page of one response.

Erasing a response deletes, in one transaction:

* its answers, and its rows in every other table that has a ``response_id`` column
  (the answers table of its instrument, open texts, brand ratings, the API's
  completion order ...), found in the schema, so that tables added later are covered;
* the copies of its answers queued or kept for webhooks (the ``response.completed``
  outbox rows of its completion number);
* the ``responses`` row itself (timings, flags, URL parameters, language);
* the person's brand choices (``brand_choices``: what they ticked and the order drawn)
  once no other rating of theirs (same ``respondent`` key) is left;
* the link from its invitation (and so from the e-mail contact holding that
  invitation) to it: ``invitations.response_id`` is cleared.

The invitation stays *used* (``used_at`` is set, now if it was not yet), so its link
says "already answered" and cannot start a new response. The caller writes the audit
entry (with the reason); nothing here logs answers, tokens or addresses.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlite_utils import Database

from survey.storage import brands
from survey.storage.db import write_transaction
from survey.storage.packing import quote

#: Tables whose ``response_id`` rows are not deleted but unlinked.
_UNLINKED = ("invitations",)
#: The webhook kind of outbox rows and the event whose payload holds answers.
_WEBHOOK_KIND = "webhook"
_COMPLETED_EVENT = "response.completed"


def _tables_with_response_id(db: Database) -> list[str]:
    names = [
        r[0]
        for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        ).fetchall()
    ]
    out = []
    for name in names:
        cols = {r[1] for r in db.execute(f"PRAGMA table_info({quote(name)})").fetchall()}
        if "response_id" in cols:
            out.append(name)
    return out


def response_exists(db: Database, response_id: int) -> bool:
    return (
        db.execute("SELECT 1 FROM responses WHERE id = ?", [int(response_id)]).fetchone()
        is not None
    )


def recent_responses(
    db: Database, campaign_id: int, *, limit: int = 50, before: int | None = None
) -> list[dict]:
    """The campaign's latest responses (newest first): id, status, language, period,
    started_at, completed_at, duration_s, flags (JSON text) and whether it came through
    an invitation. No token, no contact."""
    args: list = [int(campaign_id)]
    where = "campaign_id = ?"
    if before is not None:
        where += " AND id < ?"
        args.append(int(before))
    rows = db.execute(
        "SELECT id, status, language, period, started_at, completed_at, duration_s, flags, "
        f"invitation_id IS NOT NULL FROM responses WHERE {where} ORDER BY id DESC LIMIT ?",
        [*args, int(limit)],
    ).fetchall()
    keys = (
        "id",
        "status",
        "language",
        "period",
        "started_at",
        "completed_at",
        "duration_s",
        "flags",
        "invited",
    )
    return [dict(zip(keys, r, strict=True)) for r in rows]


def delete_response(db: Database, response_id: int) -> dict:
    """Erase one response (see the module docstring). Returns what was removed:
    ``{"response_id", "campaign_id", "status", "rows": {table: n}, "webhook_copies": n,
    "invitation_kept_used": bool}``. Raises ``LookupError`` for an unknown id."""
    if isinstance(response_id, bool) or not isinstance(response_id, int):
        raise ValueError(f"a response id is a whole number, got {response_id!r}")
    with write_transaction(db):
        row = db.execute(
            "SELECT campaign_id, invitation_id, status, respondent FROM responses WHERE id = ?",
            [response_id],
        ).fetchone()
        if row is None:
            raise LookupError(f"no response {response_id}")
        campaign_id, invitation_id, status, respondent = row
        seq = (
            db.execute(
                "SELECT seq FROM response_completions WHERE response_id = ?", [response_id]
            ).fetchone()
            if _has_table(db, "response_completions")
            else None
        )
        webhook_copies = _delete_webhook_copies(db, campaign_id, seq[0]) if seq else 0

        removed: dict[str, int] = {}
        for table in _tables_with_response_id(db):
            if table in _UNLINKED:
                continue
            cur = db.execute(f"DELETE FROM {quote(table)} WHERE response_id = ?", [response_id])
            if cur.rowcount:
                removed[table] = cur.rowcount

        now = datetime.now(UTC).isoformat(timespec="seconds")
        # every invitation pointing at it, and the one it was started from
        cur = db.execute(
            "UPDATE invitations SET response_id = NULL, "
            "used_at = coalesce(used_at, ?) WHERE response_id = ? OR id = ?",
            [now, response_id, invitation_id if invitation_id is not None else -1],
        )
        kept_used = cur.rowcount > 0
        db.execute("DELETE FROM responses WHERE id = ?", [response_id])
        removed["responses"] = 1
        # the person's brand choices go with their last rating (survey.storage.brands)
        if brands.forget_if_unused(db, respondent):
            removed["brand_choices"] = 1
    return {
        "response_id": response_id,
        "campaign_id": campaign_id,
        "status": status,
        "rows": removed,
        "webhook_copies": webhook_copies,
        "invitation_kept_used": kept_used,
    }


def screen_out(db: Database, response_id: int) -> dict:
    """A visitor screened out (a campaign with brands, "I am not a customer of any of
    these"): their response, started at consent and holding no answer, is erased as
    :func:`delete_response` erases, and the campaign's ``screened_out`` count goes up
    by one, in one transaction. Only the count is kept. Raises ``LookupError`` when the
    response is gone already (a second tab): nothing is counted twice."""
    with write_transaction(db):
        removed = delete_response(db, response_id)
        db.execute(
            "UPDATE campaigns SET screened_out = screened_out + 1 WHERE id = ?",
            [removed["campaign_id"]],
        )
    return removed


def _has_table(db: Database, name: str) -> bool:
    return (
        db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]
        ).fetchone()
        is not None
    )


def _delete_webhook_copies(db: Database, campaign_id: int, seq: int) -> int:
    """Delete the ``response.completed`` outbox rows of completion number ``seq`` (their
    payload carries the response's scores and checklist answers), in any state: a queued
    one is then never sent."""
    if not _has_table(db, "outbox"):
        return 0
    prefix = f"evt_{_COMPLETED_EVENT}:{campaign_id}:"
    suffix = f":r{seq}"
    rows = db.execute(
        "SELECT id, idempotency_key FROM outbox WHERE kind = ? AND campaign_id = ?",
        [_WEBHOOK_KIND, campaign_id],
    ).fetchall()
    ids = [oid for oid, key in rows if key.startswith(prefix) and key.endswith(suffix)]
    for oid in ids:
        if _has_table(db, "contact_messages"):
            db.execute("DELETE FROM contact_messages WHERE outbox_id = ?", [oid])
        db.execute("DELETE FROM outbox WHERE id = ?", [oid])
    return len(ids)
