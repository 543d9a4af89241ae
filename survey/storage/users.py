"""Researcher accounts: usernames, roles and scrypt password hashes.

Roles, from least to most allowed (:data:`ROLES`):

``viewer``
    sees the dashboard and the Trust Index reports.
``researcher``
    also creates and closes campaigns, generates invitation links and exports data.
``admin``
    also manages users and reads the audit log.

Passwords are hashed with scrypt (Percival 2009, RFC 7914) by
:func:`werkzeug.security.generate_password_hash`, method ``scrypt:N:r:p`` with a random
salt per hash; the stored string carries its parameters (``scrypt:32768:8:1$salt$hash``),
so the cost can be raised later: :func:`needs_rehash` tells when a stored hash is not
of the current method, and a successful login re-hashes it. Hashes written by earlier
versions of trustmeter (``scrypt$n$r$p$salt$hash``, unpadded URL-safe base64) still
verify, and are replaced by werkzeug's format at the next login.

Functions take a :class:`sqlite_utils.Database` first, return plain dicts (never
the password hash, except :func:`get_user` with ``with_hash=True``) and raise
``ValueError`` for bad arguments, ``LookupError`` for unknown users.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime

from sqlite_utils import Database
from werkzeug.security import check_password_hash, generate_password_hash

from survey.storage.db import write_transaction

ROLES = ("viewer", "researcher", "admin")
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{1,63}\Z")  # \Z: no trailing newline
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # scrypt of a megabyte "password" would be a cheap DoS

#: scrypt cost: N = 2**15, r = 8, p = 1 (about 32 MiB and ~0.1 s per hash).
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1

_USER_COLS = (
    "id",
    "username",
    "role",
    "disabled",
    "created_at",
    "password_changed_at",
    "last_login_at",
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _method() -> str:
    return f"scrypt:{SCRYPT_N}:{SCRYPT_R}:{SCRYPT_P}"


def hash_password(password: str, *, n: int | None = None) -> str:
    """The storable hash of ``password`` (werkzeug's ``scrypt:N:r:p$salt$hash``; ``n``
    overrides the cost, for tests)."""
    if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"the password must be text of at most {MAX_PASSWORD_LENGTH} characters")
    method = _method() if n is None else f"scrypt:{n}:{SCRYPT_R}:{SCRYPT_P}"
    return generate_password_hash(password, method=method)


def _legacy_verify(stored: str, password: str) -> bool:
    """Hashes of trustmeter 0.1: ``scrypt$n$r$p$salt$hash`` (URL-safe base64)."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt, digest = (base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)) for t in parts[4:])
    except ValueError:
        return False
    if n < 2 or n & (n - 1) or n > 2**20 or not 1 <= r <= 32 or not 1 <= p <= 16 or not digest:
        return False
    got = hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        dklen=len(digest),
        maxmem=256 * r * n + (1 << 20),
    )
    return hmac.compare_digest(got, digest)


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches the stored hash (constant-time comparison)."""
    if (
        not isinstance(stored, str)
        or not isinstance(password, str)
        or len(password) > MAX_PASSWORD_LENGTH
    ):
        return False
    if stored.startswith("scrypt$"):
        return _legacy_verify(stored, password)
    if not stored.startswith("scrypt:"):  # werkzeug would accept weaker methods (pbkdf2)
        return False
    try:
        return check_password_hash(stored, password)
    except (ValueError, TypeError):  # malformed parameters
        return False


def needs_rehash(stored: str) -> bool:
    """Whether a stored hash is not of the current method and cost."""
    return not (isinstance(stored, str) and stored.startswith(_method() + "$"))


_DUMMY_HASH: str | None = None


def dummy_verify(password: str) -> None:
    """Spend as long as a real check, so unknown usernames are not told apart by timing."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password("dummy-password-never-matches")
    verify_password(_DUMMY_HASH, password if isinstance(password, str) else "")


def check_password(password: str) -> str:
    """Raise ``ValueError`` unless ``password`` is acceptable (length limits)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    return password


def check_username(username: str) -> str:
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
        raise ValueError(
            f"username {username!r} must be 2-64 letters, digits or . _ @ -, "
            "starting with a letter or digit"
        )
    return username


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"role {role!r} must be one of {', '.join(ROLES)}")
    return role


def role_at_least(role: str | None, minimum: str) -> bool:
    """Whether ``role`` has at least the rights of ``minimum``."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(minimum)


def _row(row) -> dict:
    u = dict(zip(_USER_COLS, row, strict=True))
    u["disabled"] = bool(u["disabled"])
    return u


def create_user(db: Database, username: str, password: str, role: str) -> dict:
    """Create a user; ``ValueError`` if the name is taken (case-insensitively)."""
    check_username(username)
    check_role(role)
    hashed = hash_password(check_password(password))
    now = _now()
    with write_transaction(db):
        if db.execute("SELECT 1 FROM users WHERE username = ?", [username]).fetchone():
            raise ValueError(f"a user named {username!r} already exists")
        db.execute(
            "INSERT INTO users (username, password_hash, role, created_at, "
            "password_changed_at) VALUES (?, ?, ?, ?, ?)",
            [username, hashed, role, now, now],
        )
    return get_user(db, username)


def get_user(db: Database, username: str, *, with_hash: bool = False) -> dict | None:
    """The user named ``username`` (any case), or ``None``."""
    cols = ", ".join(_USER_COLS)
    row = db.execute(
        f"SELECT {cols}, password_hash FROM users WHERE username = ?", [username]
    ).fetchone()
    if row is None:
        return None
    u = _row(row[:-1])
    if with_hash:
        u["password_hash"] = row[-1]
    return u


def get_user_by_id(db: Database, user_id: int) -> dict | None:
    row = db.execute(
        f"SELECT {', '.join(_USER_COLS)} FROM users WHERE id = ?", [user_id]
    ).fetchone()
    return None if row is None else _row(row)


def list_users(db: Database) -> list[dict]:
    """Every user, by username."""
    rows = db.execute(
        f"SELECT {', '.join(_USER_COLS)} FROM users ORDER BY username COLLATE NOCASE"
    ).fetchall()
    return [_row(r) for r in rows]


def _require(db: Database, username: str) -> dict:
    u = get_user(db, username)
    if u is None:
        raise LookupError(f"unknown user {username!r}")
    return u


def _active_admins(db: Database) -> int:
    return db.execute(
        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0"
    ).fetchone()[0]


def set_role(db: Database, username: str, role: str) -> dict:
    """Change a user's role. The last active admin cannot be demoted."""
    check_role(role)
    with write_transaction(db):
        u = _require(db, username)
        if (
            u["role"] == "admin"
            and role != "admin"
            and not u["disabled"]
            and _active_admins(db) <= 1
        ):
            raise ValueError(
                f"{u['username']} is the last active admin; make another user admin first"
            )
        db.execute("UPDATE users SET role = ? WHERE id = ?", [role, u["id"]])
    return get_user(db, username)


def set_disabled(db: Database, username: str, disabled: bool = True) -> dict:
    """Disable (or enable again) a user; disabling ends their sessions at once.
    The last active admin cannot be disabled."""
    with write_transaction(db):
        u = _require(db, username)
        if disabled and u["role"] == "admin" and not u["disabled"] and _active_admins(db) <= 1:
            raise ValueError(
                f"{u['username']} is the last active admin; make another user admin first"
            )
        db.execute("UPDATE users SET disabled = ? WHERE id = ?", [int(disabled), u["id"]])
        if disabled:
            db.execute("DELETE FROM user_sessions WHERE user_id = ?", [u["id"]])
    return get_user(db, username)


def set_password(db: Database, username: str, password: str) -> dict:
    """Set a new password; the user's existing sessions end."""
    hashed = hash_password(check_password(password))
    with write_transaction(db):
        u = _require(db, username)
        db.execute(
            "UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?",
            [hashed, _now(), u["id"]],
        )
        db.execute("DELETE FROM user_sessions WHERE user_id = ?", [u["id"]])
    return get_user(db, username)


def authenticate(db: Database, username: str, password: str) -> dict | None:
    """The active user whose password this is, else ``None`` (same time either way).

    A hash with outdated scrypt parameters is replaced by a current one.
    """
    u = get_user(db, username, with_hash=True) if isinstance(username, str) else None
    if u is None:
        dummy_verify(password)
        return None
    if not verify_password(u["password_hash"], password) or u["disabled"]:
        return None
    if needs_rehash(u["password_hash"]):
        with write_transaction(db):
            db.execute(
                "UPDATE users SET password_hash = ? WHERE id = ?",
                [hash_password(password), u["id"]],
            )
    u.pop("password_hash")
    return u
