"""E-mail contacts of a campaign, their messages in the outbox, opt-out and suppression.

``contacts`` is the only table holding e-mail addresses and names. Everything else refers
to a contact by id; outbox payloads carry the id only.

Tokens: each contact has its own single-use invitation (a row of ``invitations``, stored as
the sha256 of its token, like every invitation). The raw token is not stored anywhere: it is
derived when a message is rendered, as ``HMAC(key, "invitation:<contact id>")`` with a
random key kept in ``app_keys`` (``mail``); the opt-out token likewise from
``"optout:<contact id>"``. The same key makes the keyed hash of an address
(``email_hmac``) under which duplicates are found and opt-outs are suppressed; the
suppression list holds only these hashes. Anyone who can read the database file can
derive the tokens, as they could read tokens kept in plain; nobody without it can.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlite_utils import Database

from survey.storage import outbox
from survey.storage.db import write_transaction
from survey.storage.store import _check_params, _require_campaign, hash_token

KIND = "email"
PURPOSES = ("invitation", "reminder")


# ----- keys and derived values ---------------------------------------------------------
def app_key(db: Database, name: str = "mail") -> bytes:
    """The random key ``name`` from ``app_keys``, created on first use."""
    row = db.execute("SELECT key FROM app_keys WHERE name = ?", [name]).fetchone()
    if row is not None:
        return bytes(row[0])
    with write_transaction(db):
        db.execute(
            "INSERT INTO app_keys (name, key, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO NOTHING",
            [name, secrets.token_bytes(32), outbox.iso(outbox.now_utc())],
        )
        return bytes(db.execute("SELECT key FROM app_keys WHERE name = ?", [name]).fetchone()[0])


def normalize_email(email: str) -> str:
    return email.strip().lower()


def email_hmac(key: bytes, email: str) -> str:
    """The keyed hash of an address (case-insensitive), for duplicates and suppression."""
    return hmac.new(
        key, b"email:" + normalize_email(email).encode("utf-8"), hashlib.sha256
    ).hexdigest()


def _derive(key: bytes, label: str) -> str:
    mac = hmac.new(key, label.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def invitation_token(key: bytes, contact_id: int) -> str:
    return _derive(key, f"invitation:{int(contact_id)}")


def optout_token(key: bytes, contact_id: int) -> str:
    return _derive(key, f"optout:{int(contact_id)}")


# ----- import ---------------------------------------------------------------------------
_CONTACT_COLS = (
    "id",
    "campaign_id",
    "email",
    "name",
    "email_hmac",
    "language",
    "params",
    "invitation_id",
    "created_at",
    "invited_at",
    "last_sent_at",
    "reminders",
    "bounced_at",
    "opted_out_at",
    "purged_at",
)


def _contact(row: Sequence) -> dict:
    d = dict(zip(_CONTACT_COLS, row, strict=True))
    d["params"] = json.loads(d["params"]) if d["params"] else {}
    return d


def import_contacts(
    db: Database, campaign: Mapping | str, rows: Sequence[Mapping[str, Any]]
) -> dict:
    """Store validated contacts (see :func:`survey.mail.contacts.parse_csv`), each with
    its own single-use invitation, in one transaction.

    Each row: ``line``, ``email``, ``name`` (or None), ``language``, ``params``. Rows whose
    address is already a contact of the campaign, or was opted out (suppressed), or
    repeats an earlier row, are skipped and reported by line number (never by address).
    Returns ``{"imported": n, "skipped": ["line 4: ...", ...]}``.
    """
    c = _require_campaign(db, campaign)
    if c["status"] != "open":
        raise ValueError(f"campaign {c['slug']!r} is closed; contacts cannot be added")
    key = app_key(db)
    skipped: list[str] = []
    imported = 0
    now = outbox.iso(outbox.now_utc())
    with write_transaction(db):
        seen: dict[str, int] = {}
        next_id = db.execute("SELECT coalesce(max(id), 0) + 1 FROM contacts").fetchone()[0]
        for r in rows:
            line = r["line"]
            if r["language"] not in c["languages"]:
                raise ValueError(
                    f"line {line}: language {r['language']!r} is not one of the "
                    f"campaign's ({', '.join(c['languages'])})"
                )
            params = _check_params(c, r.get("params") or {})
            h = email_hmac(key, r["email"])
            if h in seen:
                skipped.append(f"line {line}: the same address as line {seen[h]}; skipped")
                continue
            seen[h] = line
            if db.execute(
                "SELECT 1 FROM contacts WHERE campaign_id = ? AND email_hmac = ?", [c["id"], h]
            ).fetchone():
                skipped.append(f"line {line}: already a contact of this campaign; skipped")
                continue
            if db.execute("SELECT 1 FROM mail_suppression WHERE email_hmac = ?", [h]).fetchone():
                skipped.append(f"line {line}: this address opted out earlier; skipped")
                continue
            cid = next_id
            next_id += 1
            p = json.dumps(params, ensure_ascii=False, sort_keys=True)
            inv = db.execute(
                "INSERT INTO invitations (campaign_id, token_sha256, params, "
                "created_at) VALUES (?, ?, ?, ?)",
                [c["id"], hash_token(invitation_token(key, cid)), p, now],
            ).lastrowid
            db.execute(
                "INSERT INTO contacts (id, campaign_id, email, name, email_hmac, language, "
                "params, invitation_id, optout_sha256, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    cid,
                    c["id"],
                    r["email"].strip(),
                    r.get("name") or None,
                    h,
                    r["language"],
                    p,
                    inv,
                    hash_token(optout_token(key, cid)),
                    now,
                ],
            )
            imported += 1
    return {"imported": imported, "skipped": skipped}


def get_contact(db: Database, contact_id: int) -> dict | None:
    row = db.execute(
        f"SELECT {', '.join(_CONTACT_COLS)} FROM contacts WHERE id = ?", [contact_id]
    ).fetchone()
    return None if row is None else _contact(row)


def list_contacts(db: Database, campaign: Mapping | str) -> list[dict]:
    c = _require_campaign(db, campaign)
    return [
        _contact(r)
        for r in db.execute(
            f"SELECT {', '.join(_CONTACT_COLS)} FROM contacts WHERE campaign_id = ? ORDER BY id",
            [c["id"]],
        )
    ]


def is_suppressed(db: Database, hmac_hex: str | None) -> bool:
    return (
        hmac_hex is not None
        and db.execute("SELECT 1 FROM mail_suppression WHERE email_hmac = ?", [hmac_hex]).fetchone()
        is not None
    )


def contact_completed(db: Database, contact: Mapping) -> bool:
    """Whether the contact answered: a complete response, or a used invitation (whose
    response may since have been erased, :mod:`survey.storage.erasure`)."""
    return (
        db.execute(
            "SELECT 1 FROM responses WHERE invitation_id = ? AND status = 'complete' UNION ALL "
            "SELECT 1 FROM invitations WHERE id = ? AND used_at IS NOT NULL",
            [contact["invitation_id"], contact["invitation_id"]],
        ).fetchone()
        is not None
    )


# ----- queueing messages ----------------------------------------------------------------
def _check_sendable(c: Mapping) -> None:
    from survey.storage.store import is_open

    if not is_open(c):
        raise ValueError(f"campaign {c['slug']!r} is not open; its links would not work")


def _message_key(purpose: str, contact_id: int, seq: int) -> str:
    return f"{KIND}:{purpose}:{contact_id}" + (f":{seq}" if purpose == "reminder" else "")


def queue_invitations(db: Database, campaign: Mapping | str) -> int:
    """Queue an invitation for every contact not yet invited (nor bounced, opted out,
    purged or suppressed). A contact's invitation is queued once ever (its idempotency
    key), so running this again queues nothing new. Returns the number queued."""
    c = _require_campaign(db, campaign)
    with write_transaction(db):  # queue_invitations_to refuses a campaign not open
        ids = [
            r[0]
            for r in db.execute(
                "SELECT id FROM contacts k WHERE campaign_id = ? AND invited_at IS NULL "
                "AND bounced_at IS NULL AND opted_out_at IS NULL AND purged_at IS NULL "
                "AND NOT EXISTS (SELECT 1 FROM mail_suppression s "
                "WHERE s.email_hmac = k.email_hmac) "
                "AND NOT EXISTS (SELECT 1 FROM contact_messages m WHERE m.contact_id = k.id "
                "AND m.purpose = 'invitation') ORDER BY id",
                [c["id"]],
            )
        ]
        return sum(queue_invitations_to(db, c, ids).values())


def queue_invitations_to(db: Database, campaign: Mapping | str, contact_ids) -> dict[int, bool]:
    """Queue the invitation of each of ``contact_ids`` (contacts of ``campaign`` the
    caller has chosen, e.g. the ones an API call has just added), in one transaction, or
    nest in the caller's. Like :func:`queue_invitations`, once per contact ever; the
    worker still skips a contact that is bounced, opted out, suppressed or purged by the
    time it sends. Returns ``{contact id: whether it was queued now}``; raises
    ``ValueError`` when the campaign is not open (its links would not work)."""
    c = _require_campaign(db, campaign)
    _check_sendable(c)
    with write_transaction(db):
        return {cid: bool(_enqueue(db, c, cid, "invitation", 0)) for cid in contact_ids}


def invitation_message_id(db: Database, contact_id: int) -> int | None:
    """The outbox id of a contact's invitation message, or None if none was queued."""
    row = outbox.get_by_key(db, _message_key("invitation", contact_id, 0))
    return row["id"] if row else None


def _enqueue(db: Database, c: Mapping, cid: int, purpose: str, seq: int) -> int:
    oid, created = outbox.enqueue(
        db,
        KIND,
        {"contact_id": cid, "purpose": purpose},
        key=_message_key(purpose, cid, seq),
        campaign_id=c["id"],
    )
    if created:
        db.execute(
            "INSERT INTO contact_messages (outbox_id, contact_id, purpose, seq) "
            "VALUES (?, ?, ?, ?)",
            [oid, cid, purpose, seq],
        )
    return int(created)


def queue_reminders(
    db: Database,
    campaign: Mapping | str,
    *,
    after: timedelta,
    max_reminders: int = 1,
    now: datetime | None = None,
) -> int:
    """Queue a reminder for every invited contact who has not completed, has had fewer
    than ``max_reminders`` reminders, whose last message went out at least ``after`` ago,
    and who has no message pending. Returns the number queued."""
    if isinstance(max_reminders, bool) or not isinstance(max_reminders, int) or max_reminders < 1:
        raise ValueError(f"--max must be a positive integer, got {max_reminders!r}")
    if after < timedelta(0):
        raise ValueError("the delay after the last message cannot be negative")
    c = _require_campaign(db, campaign)
    _check_sendable(c)
    cutoff = outbox.iso((now or outbox.now_utc()) - after)
    n = 0
    with write_transaction(db):
        rows = db.execute(
            "SELECT k.id, (SELECT count(*) FROM contact_messages m WHERE m.contact_id = k.id "
            "AND m.purpose = 'reminder') FROM contacts k WHERE k.campaign_id = ? "
            "AND k.invited_at IS NOT NULL AND k.last_sent_at <= ? AND k.reminders < ? "
            "AND k.bounced_at IS NULL AND k.opted_out_at IS NULL AND k.purged_at IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM mail_suppression s WHERE s.email_hmac = k.email_hmac) "
            "AND NOT EXISTS (SELECT 1 FROM responses r WHERE r.invitation_id = k.invitation_id "
            "AND r.status = 'complete') "
            # used, its response erased since: never reminded
            "AND NOT EXISTS (SELECT 1 FROM invitations i WHERE i.id = k.invitation_id "
            "AND i.used_at IS NOT NULL) "
            "AND NOT EXISTS (SELECT 1 FROM contact_messages m JOIN outbox o ON o.id = m.outbox_id "
            "WHERE m.contact_id = k.id AND o.state IN ('queued', 'sending', 'retrying')) "
            "ORDER BY k.id",
            [c["id"], cutoff, max_reminders],
        ).fetchall()
        for cid, count in rows:
            n += _enqueue(db, c, cid, "reminder", count + 1)
    return n


def message_for(db: Database, outbox_id: int) -> dict | None:
    """``{"contact_id", "purpose", "seq"}`` of the message an outbox row carries."""
    row = db.execute(
        "SELECT contact_id, purpose, seq FROM contact_messages WHERE outbox_id = ?", [outbox_id]
    ).fetchone()
    return None if row is None else {"contact_id": row[0], "purpose": row[1], "seq": row[2]}


def mark_message_sent(db: Database, contact_id: int, purpose: str) -> None:
    """Record a delivered message on the contact (runs in the outbox's sent transaction)."""
    t = outbox.iso(outbox.now_utc())
    if purpose == "invitation":
        db.execute(
            "UPDATE contacts SET invited_at = coalesce(invited_at, ?), last_sent_at = ? "
            "WHERE id = ?",
            [t, t, contact_id],
        )
    else:
        db.execute(
            "UPDATE contacts SET reminders = reminders + 1, last_sent_at = ? WHERE id = ?",
            [t, contact_id],
        )


def mark_bounced(db: Database, contact_id: int) -> None:
    """The server refused the recipient permanently (5xx): no more messages to them."""
    with write_transaction(db):
        db.execute(
            "UPDATE contacts SET bounced_at = coalesce(bounced_at, ?) WHERE id = ?",
            [outbox.iso(outbox.now_utc()), contact_id],
        )


def pending_message_ids(
    db: Database, contact_ids: Iterable[int] | None = None, *, campaign_id: int | None = None
) -> list[int]:
    """Outbox ids of queued or retrying messages of these contacts (or a campaign)."""
    where = ["o.state IN ('queued', 'retrying')"]
    args: list[Any] = []
    if contact_ids is not None:
        ids = list(contact_ids)
        if not ids:
            return []
        where.append(f"m.contact_id IN ({', '.join('?' * len(ids))})")
        args.extend(ids)
    if campaign_id is not None:
        where.append("o.campaign_id = ?")
        args.append(campaign_id)
    return [
        r[0]
        for r in db.execute(
            "SELECT o.id FROM outbox o JOIN contact_messages m ON m.outbox_id = o.id "
            f"WHERE {' AND '.join(where)}",
            args,
        )
    ]


# ----- opt-out, suppression, purge ------------------------------------------------------
def find_by_optout_token(db: Database, token: str) -> dict | None:
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    row = db.execute(
        f"SELECT {', '.join(_CONTACT_COLS)} FROM contacts WHERE optout_sha256 = ?",
        [hash_token(token)],
    ).fetchone()
    return None if row is None else _contact(row)


def opt_out(db: Database, contact_id: int) -> bool:
    """Opt a contact out: no more reminders for the campaign, pending messages cancelled,
    and the address's keyed hash added to the suppression list. Idempotent; returns True
    when this call opted them out."""
    t = outbox.iso(outbox.now_utc())
    with write_transaction(db):
        row = db.execute(
            "SELECT email_hmac, opted_out_at FROM contacts WHERE id = ?", [contact_id]
        ).fetchone()
        if row is None:
            raise LookupError(f"unknown contact {contact_id}")
        if row[0] is not None:
            db.execute(
                "INSERT INTO mail_suppression (email_hmac, reason, created_at) "
                "VALUES (?, 'opt-out', ?) ON CONFLICT (email_hmac) DO NOTHING",
                [row[0], t],
            )
        if row[1] is not None:
            return False
        db.execute("UPDATE contacts SET opted_out_at = ? WHERE id = ?", [t, contact_id])
        outbox.cancel(db, pending_message_ids(db, [contact_id]), "cancelled: opted out")
    return True


def purge(db: Database, campaign: Mapping | str) -> int:
    """Delete the campaign's contacts' personal data (address, name, address hash) and
    cancel their pending messages; keep the rows, so the funnel's counts stay. The
    suppression list (hashes of opted-out addresses) is kept. Returns contacts purged."""
    c = _require_campaign(db, campaign)
    t = outbox.iso(outbox.now_utc())
    with write_transaction(db):
        outbox.cancel(
            db, pending_message_ids(db, campaign_id=c["id"]), "cancelled: contacts purged"
        )
        return db.execute(
            "UPDATE contacts SET email = NULL, name = NULL, email_hmac = NULL, "
            "purged_at = ? WHERE campaign_id = ? AND purged_at IS NULL",
            [t, c["id"]],
        ).rowcount


def mail_settings(db: Database, campaign: Mapping | str) -> dict:
    c = _require_campaign(db, campaign)
    row = db.execute(
        "SELECT purge_after_days, closed_seen_at FROM campaign_mail WHERE campaign_id = ?",
        [c["id"]],
    ).fetchone()
    return {"purge_after_days": row[0] if row else None, "closed_seen_at": row[1] if row else None}


def set_purge_after(db: Database, campaign: Mapping | str, days: int | None) -> None:
    """Purge the contacts automatically ``days`` after the campaign closes (None: never)."""
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 0):
        raise ValueError(f"the purge delay must be a whole number of days >= 0, got {days!r}")
    c = _require_campaign(db, campaign)
    t = outbox.iso(outbox.now_utc())
    with write_transaction(db):
        db.execute(
            "INSERT INTO campaign_mail (campaign_id, purge_after_days, updated_at) "
            "VALUES (?, ?, ?) ON CONFLICT (campaign_id) DO UPDATE SET "
            "purge_after_days = excluded.purge_after_days, updated_at = excluded.updated_at",
            [c["id"], days, t],
        )


def auto_purge(db: Database, now: datetime | None = None) -> list[str]:
    """Purge the contacts of campaigns closed at least their ``purge_after_days`` ago.

    A campaign's close time is its ``closes_at`` when that has passed, else the first
    time this ran after its status became ``closed``. Returns the slugs purged.
    """
    from survey.storage.store import is_open

    now = now or outbox.now_utc()
    t = outbox.iso(now)
    done = []
    rows = db.execute(
        "SELECT c.slug, m.purge_after_days, m.closed_seen_at, c.closes_at, c.id "
        "FROM campaign_mail m JOIN campaigns c ON c.id = m.campaign_id "
        "WHERE m.purge_after_days IS NOT NULL AND EXISTS (SELECT 1 FROM contacts k "
        "WHERE k.campaign_id = c.id AND k.purged_at IS NULL)"
    ).fetchall()
    for slug, days, seen, closes_at, cid in rows:
        c = _require_campaign(db, slug)
        if is_open(c, now):
            continue
        closed = closes_at if closes_at and closes_at <= t else seen
        if closed is None:
            with write_transaction(db):
                db.execute(
                    "UPDATE campaign_mail SET closed_seen_at = ? WHERE campaign_id = ?", [t, cid]
                )
            closed = t
        if outbox.parse_iso(closed) + timedelta(days=days) <= now:
            purge(db, c)
            done.append(slug)
    return done


# ----- templates ------------------------------------------------------------------------
def get_templates(db: Database, campaign: Mapping | str) -> dict[str, dict]:
    """The campaign's template overrides by language: ``{"subject", "text", "html"}``."""
    c = _require_campaign(db, campaign)
    return {
        r[0]: {"subject": r[1], "text": r[2], "html": r[3]}
        for r in db.execute(
            "SELECT language, subject, text_body, html_body FROM mail_templates "
            "WHERE campaign_id = ?",
            [c["id"]],
        )
    }


def set_template(
    db: Database, campaign: Mapping | str, language: str, *, subject: str, text: str, html: str
) -> None:
    c = _require_campaign(db, campaign)
    if language not in c["languages"]:
        raise ValueError(
            f"language {language!r} is not one of the campaign's ({', '.join(c['languages'])})"
        )
    with write_transaction(db):
        db.execute(
            "INSERT INTO mail_templates (campaign_id, language, subject, text_body, html_body, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (campaign_id, language) DO UPDATE "
            "SET subject = excluded.subject, text_body = excluded.text_body, "
            "html_body = excluded.html_body, updated_at = excluded.updated_at",
            [c["id"], language, subject, text, html, outbox.iso(outbox.now_utc())],
        )


def delete_template(db: Database, campaign: Mapping | str, language: str) -> None:
    c = _require_campaign(db, campaign)
    with write_transaction(db):
        db.execute(
            "DELETE FROM mail_templates WHERE campaign_id = ? AND language = ?", [c["id"], language]
        )


# ----- the funnel -----------------------------------------------------------------------
FUNNEL_KEYS = ("contacts", "invited", "reminded", "started", "completed", "bounced", "opted_out")


def campaign_funnel(db: Database, campaign: Mapping | str) -> dict[str, int]:
    """Per campaign: contacts, invited, reminded, started, completed, bounced, opted_out
    (contacts whose invitation e-mail went out, who got at least one reminder, who
    opened the survey through their link, who completed it, whose address was refused,
    who opted out). Counts survive a purge."""
    c = _require_campaign(db, campaign)
    row = db.execute(
        "SELECT count(*), count(k.invited_at), sum(k.reminders > 0), "
        "sum(EXISTS (SELECT 1 FROM responses r WHERE r.invitation_id = k.invitation_id)), "
        "sum(EXISTS (SELECT 1 FROM responses r WHERE r.invitation_id = k.invitation_id "
        "AND r.status = 'complete')), count(k.bounced_at), count(k.opted_out_at) "
        "FROM contacts k WHERE k.campaign_id = ?",
        [c["id"]],
    ).fetchone()
    return {k: int(v or 0) for k, v in zip(FUNNEL_KEYS, row, strict=True)}


def mail_progress(db: Database, campaign: Mapping | str) -> dict[str, int]:
    """The campaign's e-mail rows in the outbox, by state."""
    c = _require_campaign(db, campaign)
    return outbox.counts(db, kind=KIND, campaign_id=c["id"])


def campaign_slug(db: Database, campaign_id: int) -> str | None:
    row = db.execute("SELECT slug FROM campaigns WHERE id = ?", [campaign_id]).fetchone()
    return None if row is None else row[0]
