"""API tokens: ``Authorization: Bearer <token>`` for ``/api/v1/`` (issue 10).

A token has a name (unique among the tokens not revoked), a role (``viewer``,
``researcher`` or ``admin``, as researcher accounts: :data:`survey.storage.users.ROLES`)
and optionally a list of campaigns it is limited to. The raw token is returned once,
by :func:`create_token`; only its sha256 is stored (a token carries 256 random bits,
so a fast hash is enough: there is nothing to guess), together with its first
characters (``prefix``) so people can tell their tokens apart.

Functions take a :class:`sqlite_utils.Database` first, return plain dicts (never the
hash) and raise ``ValueError`` for bad arguments, ``LookupError`` for unknown names.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlite_utils import Database

from survey.storage import store
from survey.storage.db import write_transaction
from survey.storage.users import ROLES

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}\Z")  # \Z: no trailing newline
TOKEN_PREFIX = "tm_"
MAX_TOKEN_LENGTH = 200
_COLS = (
    "id",
    "name",
    "prefix",
    "role",
    "campaigns",
    "created_at",
    "created_by",
    "last_used_at",
    "revoked_at",
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _row(row) -> dict:
    t = dict(zip(_COLS, row, strict=True))
    t["campaigns"] = json.loads(t["campaigns"]) if t["campaigns"] is not None else None
    return t


def create_token(
    db: Database,
    name: str,
    role: str,
    campaigns: Iterable[str] | None = None,
    *,
    created_by: str | None = None,
) -> tuple[str, dict]:
    """Create a token; return ``(raw_token, token_dict)``. The raw token is not stored.

    ``campaigns`` (slugs, which must exist) limit the token to those campaigns;
    ``None`` or empty means every campaign.
    """
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ValueError(
            f"token name {name!r} must be 1-64 letters, digits or _.@-, starting "
            "with a letter or digit"
        )
    if role not in ROLES:
        raise ValueError(f"role {role!r} must be one of {', '.join(ROLES)}")
    slugs = list(dict.fromkeys(campaigns or ()))
    for s in slugs:
        if store.get_campaign(db, s) is None:
            raise LookupError(f"unknown campaign {s!r}")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with write_transaction(db):
        if db.execute(
            "SELECT 1 FROM api_tokens WHERE name = ? AND revoked_at IS NULL", [name]
        ).fetchone():
            raise ValueError(f"a token named {name!r} already exists (revoke it first)")
        cur = db.execute(
            "INSERT INTO api_tokens (name, token_sha256, prefix, role, campaigns, created_at, "
            "created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                name,
                _hash(raw),
                raw[:8],
                role,
                json.dumps(slugs) if slugs else None,
                _now(),
                created_by,
            ],
        )
        row = db.execute(
            f"SELECT {', '.join(_COLS)} FROM api_tokens WHERE id = ?", [cur.lastrowid]
        ).fetchone()
    return raw, _row(row)


def list_tokens(db: Database, *, include_revoked: bool = False) -> list[dict]:
    """Tokens, oldest first (revoked ones only with ``include_revoked``)."""
    sql = f"SELECT {', '.join(_COLS)} FROM api_tokens"
    if not include_revoked:
        sql += " WHERE revoked_at IS NULL"
    return [_row(r) for r in db.execute(sql + " ORDER BY id").fetchall()]


def revoke_token(db: Database, name: str) -> dict:
    """Revoke the active token called ``name``; it stops working at once."""
    with write_transaction(db):
        row = db.execute(
            f"SELECT {', '.join(_COLS)} FROM api_tokens WHERE name = ? AND revoked_at IS NULL",
            [name],
        ).fetchone()
        if row is None:
            raise LookupError(f"no active token named {name!r}")
        t = _row(row)
        t["revoked_at"] = _now()
        db.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", [t["revoked_at"], t["id"]])
    return t


def authenticate(db: Database, raw: str) -> dict | None:
    """The active token for a raw bearer token, or ``None``. Updates ``last_used_at``
    at most once a minute (not a write per call)."""
    if not isinstance(raw, str) or not raw or len(raw) > MAX_TOKEN_LENGTH:
        return None
    digest = _hash(raw)
    row = db.execute(
        f"SELECT {', '.join(_COLS)}, token_sha256 FROM api_tokens "
        "WHERE token_sha256 = ? AND revoked_at IS NULL",
        [digest],
    ).fetchone()
    if row is None or not hmac.compare_digest(row[-1], digest):
        return None
    t = _row(row[:-1])
    now = _now()
    if (
        t["last_used_at"] is None
        or (datetime.fromisoformat(now) - datetime.fromisoformat(t["last_used_at"])).total_seconds()
        > 60
    ):
        with write_transaction(db):
            db.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", [now, t["id"]])
        t["last_used_at"] = now
    return t


def allows_campaign(token: dict, slug: str) -> bool:
    """Whether a token may act on campaign ``slug`` (unscoped tokens: every campaign)."""
    return token["campaigns"] is None or slug in token["campaigns"]
