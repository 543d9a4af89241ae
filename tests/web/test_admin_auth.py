"""Signing in and out of the researcher side: passwords, sessions, cookies, rate limit."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import sqlite3
import threading

import pytest
from admin_support import (  # noqa: F401 (fixtures)
    PASSWORDS,
    AdminClient,
    accounts_fixture,
    admin_client_fixture,
    fast_kdf_fixture,
)

from survey import create_app
from survey.storage import audit, users
from survey.storage.db import open_db
from survey.web import ratelimit as web_ratelimit
from survey.web.admin import auth


def audit_rows(app, action=None):
    with open_db(app.config["DATABASE"]) as db:
        return audit.entries(db, limit=1000, action=action)


# ----- password hashing ------------------------------------------------------------------
def test_password_hash_is_scrypt_with_parameters_and_salt():
    h = users.hash_password("correct horse battery")
    method, salt, digest = h.split("$")
    assert method == "scrypt:32768:8:1"  # werkzeug's format, our cost
    assert "correct horse" not in h
    assert users.verify_password(h, "correct horse battery")
    assert not users.verify_password(h, "correct horse batterY")
    assert not users.verify_password(h, "")
    # a fresh random salt per hash: same password, different strings
    assert users.hash_password("correct horse battery") != h
    # the digest is scrypt(password, salt, n, r, p), as the format says
    want = hashlib.scrypt(
        b"correct horse battery", salt=salt.encode(), n=2**15, r=8, p=1, maxmem=132 * 2**15 * 8
    )
    assert digest == want.hex()
    assert not users.needs_rehash(h)


def _legacy_hash(password: str, n: int = 2**15) -> str:
    """A hash as trustmeter 0.1 stored it: scrypt$n$r$p$salt$hash (URL-safe base64)."""
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=8, p=1, dklen=32, maxmem=64 * 1024 * 1024
    )
    b64 = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")  # noqa: E731
    return f"scrypt${n}$8$1${b64(salt)}${b64(digest)}"


def test_hashes_of_the_previous_format_verify_and_are_upgraded_on_login(app, fast_kdf):
    old = _legacy_hash("old-password-1")
    assert users.verify_password(old, "old-password-1")
    assert not users.verify_password(old, "old-password-2")
    assert users.needs_rehash(old)
    with open_db(app.config["DATABASE"]) as db:
        users.create_user(db, "old", "another-password", "viewer")
        db.execute("UPDATE users SET password_hash = ? WHERE username = 'old'", [old])
        db.conn.commit()
        assert users.authenticate(db, "old", "wrong-password-9") is None
        assert users.get_user(db, "old", with_hash=True)["password_hash"] == old
        assert users.authenticate(db, "old", "old-password-1")["username"] == "old"
        stored = users.get_user(db, "old", with_hash=True)["password_hash"]
    assert stored.startswith(f"scrypt:{users.SCRYPT_N}:8:1$")
    assert users.verify_password(stored, "old-password-1")


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain-text-password",
        "scrypt$3$8$1$c2FsdA$aGFzaA",
        "pbkdf2$1$1$1$x$y",
        "scrypt$32768$8$1$%%%$%%%",
        "scrypt:3:8:1$salt$00",
        "scrypt:x$salt$00",
        "pbkdf2:sha256:1$salt$00",
    ],
)
def test_malformed_hashes_never_verify(stored):
    assert not users.verify_password(stored, "plain-text-password")


def test_weak_hash_is_upgraded_on_login(app, fast_kdf):
    with open_db(app.config["DATABASE"]) as db:
        users.create_user(db, "old", "old-password-1", "viewer")
        weak = users.hash_password("old-password-1", n=2**8)
        db.execute("UPDATE users SET password_hash = ? WHERE username = 'old'", [weak])
        db.conn.commit()
        assert users.needs_rehash(weak)
        assert users.authenticate(db, "old", "old-password-1")["username"] == "old"
        stored = users.get_user(db, "old", with_hash=True)["password_hash"]
    assert stored != weak and stored.startswith(f"scrypt:{users.SCRYPT_N}:8:1$")


def test_users_table_holds_no_plaintext(app, accounts):
    with open_db(app.config["DATABASE"]) as db:
        dump = "\n".join(db.conn.iterdump())
    for password in PASSWORDS.values():
        assert password not in dump
    assert dump.count("scrypt:") >= 3


# ----- login and logout --------------------------------------------------------------------
def test_login_page_and_successful_login(app, admin_client, accounts):
    page = admin_client.page("/admin/login")
    assert page.status == 200 and page.csrf_token
    assert page.labels.get("username") == "Username" and page.labels.get("password") == "Password"
    assert page.scripts == 0
    r = admin_client.login("researcher")
    assert r.status_code == 302 and r.headers["Location"] == "/admin/"
    home = admin_client.page("/admin/")
    assert home.status == 200 and "researcher (researcher)" in home.text
    (entry,) = audit_rows(app, "login")
    assert entry["user"] == "researcher" and entry["ip"] == "127.0.0.1"
    with open_db(app.config["DATABASE"]) as db:
        assert users.get_user(db, "researcher")["last_login_at"]


def test_login_follows_next_but_only_to_admin_pages(admin_client, accounts):
    r = admin_client.get("/admin/users")
    assert r.status_code == 302 and r.headers["Location"].startswith("/admin/login?next=")
    r = admin_client.post(
        "/admin/login?next=/admin/audit", {"username": "admin", "password": PASSWORDS["admin"]}
    )
    assert r.headers["Location"] == "/admin/audit"
    admin_client.logout()
    for evil in (
        "https://evil.example/admin",
        "//evil.example/admin",
        "/s/acme",
        "/admin\\@evil.example",
    ):
        r = admin_client.post(
            f"/admin/login?next={evil}",
            {"username": "admin", "password": PASSWORDS["admin"]},
            token_from="/admin/login",
        )
        assert r.headers["Location"] == "/admin/", evil
        admin_client.logout()


@pytest.mark.parametrize(
    "username, password",
    [
        ("researcher", "wrong-password"),
        ("Researcher", "RESEARCHER-PASSWORD-1"),
        ("nobody", "researcher-password-1"),
    ],
)
def test_wrong_password_or_unknown_user(app, admin_client, accounts, username, password):
    r = admin_client.login(username, password)
    assert r.status_code == 401
    assert "Wrong username or password." in r.get_data(as_text=True)
    assert admin_client.get("/admin/").status_code == 302  # still anonymous
    (entry,) = audit_rows(app, "login.failed")
    assert entry["target"] == username and entry["user"] is None


def test_username_is_case_insensitive(admin_client, accounts):
    assert admin_client.login("ReSeArChEr", PASSWORDS["researcher"]).status_code == 302


def test_empty_form_is_an_error_not_a_login(admin_client, accounts):
    r = admin_client.post("/admin/login", {"username": "", "password": ""})
    assert r.status_code == 400
    assert admin_client.get("/admin/").status_code == 302


def test_logout_is_post_with_csrf_and_ends_the_session(app, admin_client, accounts):
    admin_client.login("viewer")
    assert admin_client.get("/admin/logout").status_code == 405
    r = admin_client.post("/admin/logout", csrf=False)
    assert r.status_code == 400  # no CSRF token: refused, still signed in
    assert admin_client.get("/admin/").status_code == 200
    r = admin_client.logout()
    assert r.status_code == 302 and r.headers["Location"] == "/admin/login"
    assert admin_client.get("/admin/").status_code == 302
    assert [e["user"] for e in audit_rows(app, "logout")] == ["viewer"]
    with open_db(app.config["DATABASE"]) as db:
        assert db.execute("SELECT COUNT(*) FROM user_sessions").fetchone()[0] == 0


def _session_cookie(client):
    return client.get_cookie("session").value


def test_session_rotates_on_login_and_old_cookie_dies_on_logout(app, client, accounts):
    ac = AdminClient(client)
    ac.page("/admin/login")
    before = _session_cookie(client)
    ac.login("admin")
    signed_in = _session_cookie(client)
    assert signed_in != before
    # the CSRF token of the anonymous session no longer exists after login (cleared)
    assert "csrf_token" not in app.session_interface.get_signing_serializer(app).loads(signed_in)
    ac.logout()
    # replaying the signed-in cookie after logout: the server-side session is gone
    client.set_cookie("session", signed_in)
    r = client.get("/admin/")
    assert r.status_code == 302 and "/admin/login" in r.headers["Location"]


def test_second_login_replaces_the_first_session(app, client, accounts):
    ac = AdminClient(client)
    ac.login("admin")
    first = _session_cookie(client)
    ac.post(
        "/admin/login",
        {"username": "viewer", "password": PASSWORDS["viewer"]},
        token_from="/admin/",
    )
    assert "viewer (viewer)" in ac.page("/admin/").text
    with open_db(app.config["DATABASE"]) as db:
        assert db.execute("SELECT COUNT(*) FROM user_sessions").fetchone()[0] == 1
    client.set_cookie("session", first)
    assert client.get("/admin/").status_code == 302


def test_disabled_user_cannot_sign_in_and_is_signed_out(app, client, accounts):
    ac = AdminClient(client)
    ac.login("viewer")
    assert ac.get("/admin/").status_code == 200
    with open_db(app.config["DATABASE"]) as db:
        users.set_disabled(db, "viewer")
    assert ac.get("/admin/").status_code == 302  # the session ended at once
    assert ac.login("viewer").status_code == 401


def test_idle_sessions_expire(app, client, accounts):
    ac = AdminClient(client)
    ac.login("viewer")
    with open_db(app.config["DATABASE"]) as db:
        db.execute("UPDATE user_sessions SET last_seen_at = '2000-01-01T00:00:00.000+00:00'")
        db.conn.commit()
    assert ac.get("/admin/").status_code == 302


# ----- cookies -------------------------------------------------------------------------------
def _set_cookie(response) -> str:
    (cookie,) = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    return cookie


def test_cookie_flags_over_http(client, accounts):
    r = AdminClient(client).login("viewer")
    cookie = _set_cookie(r)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_cookie_is_secure_over_https(app, accounts):
    client = app.test_client()
    page = client.get("/admin/login", base_url="https://survey.example")
    token = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)
    ).group(1)
    # pages of the researcher side let the browser send a same-origin Referer, which
    # Flask-WTF's CSRF check requires over HTTPS
    assert page.headers["Referrer-Policy"] == "same-origin"
    r = client.post(
        "/admin/login",
        base_url="https://survey.example",
        headers={"Referer": "https://survey.example/admin/login"},
        data={"csrf_token": token, "username": "viewer", "password": PASSWORDS["viewer"]},
    )
    assert r.status_code == 302
    cookie = _set_cookie(r)
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_secure_cookies_forced_by_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(auth.ENV_SECURE, "1")
    app = create_app({"TESTING": True, "DATABASE": str(tmp_path / "t.db"), "SECRET_KEY": "k"})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    r = app.test_client().get("/admin/login")  # plain http, e.g. behind a TLS proxy
    assert "Secure" in _set_cookie(r)


# ----- rate limit ------------------------------------------------------------------------------
def test_rate_limit_after_five_failures_per_user_and_ip(app, client, accounts, caplog):
    ac = AdminClient(client, ip="203.0.113.7")
    with caplog.at_level(logging.WARNING):
        for _ in range(auth.MAX_FAILURES):
            assert ac.login("researcher", "wrong-password").status_code == 401
        blocked = ac.login("researcher")  # the right password, but too late
    assert blocked.status_code == 429
    assert 15 * 60 - 5 <= int(blocked.headers["Retry-After"]) <= 15 * 60  # after the last
    assert "Too many failed attempts. Please wait 15 minutes" in blocked.get_data(as_text=True)
    assert ac.get("/admin/").status_code == 302  # not signed in
    # logged: app logger and audit log
    failures = [
        r
        for r in caplog.records
        if "failed login for 'researcher' from 203.0.113.7" in r.getMessage()
    ]
    assert len(failures) == auth.MAX_FAILURES
    assert any("login refused" in r.getMessage() for r in caplog.records)
    assert len(audit_rows(app, "login.failed")) == auth.MAX_FAILURES
    (blocked_entry,) = audit_rows(app, "login.blocked")
    assert blocked_entry["ip"] == "203.0.113.7" and blocked_entry["target"] == "researcher"
    # per username AND IP: the same user from another IP, another user from this IP
    other_ip = AdminClient(app.test_client(), ip="198.51.100.2")
    assert other_ip.login("researcher").status_code == 302
    other_user = AdminClient(app.test_client(), ip="203.0.113.7")
    assert other_user.login("viewer").status_code == 302


def test_rate_limit_window_passes_and_success_resets(app, client, accounts):
    ac = AdminClient(client)
    for _ in range(auth.MAX_FAILURES - 1):
        ac.login("viewer", "wrong-password")
    assert ac.login("viewer").status_code == 302  # success clears the failures
    ac.logout()
    for _ in range(auth.MAX_FAILURES - 1):
        assert ac.login("viewer", "wrong-password").status_code == 401
    assert ac.login("viewer").status_code == 302
    ac.logout()
    for _ in range(auth.MAX_FAILURES):
        ac.login("viewer", "wrong-password")
    assert ac.login("viewer").status_code == 429
    with sqlite3.connect(web_ratelimit.limiter(app).path) as con:  # 16 minutes later
        con.execute("UPDATE ratelimit SET expires = expires - 16 * 60 WHERE window = -1")
    assert ac.login("viewer").status_code == 302


def test_rate_limit_is_shared_between_app_instances(app, accounts):
    """Two app objects (two gunicorn workers) on one database share the count."""
    other = create_app(
        {"TESTING": True, "DATABASE": app.config["DATABASE"], "SECRET_KEY": "test-secret-key"}
    )
    for i in range(auth.MAX_FAILURES):
        worker = app if i % 2 else other
        AdminClient(worker.test_client()).login("admin", "wrong-password")
    assert AdminClient(app.test_client()).login("admin").status_code == 429
    assert AdminClient(other.test_client()).login("admin").status_code == 429


def test_parallel_attempts_let_exactly_five_failures_through(app, accounts):
    """16 simultaneous wrong passwords: the strike is taken before the password check,
    so exactly MAX_FAILURES reach it (a count checked first let 6 or more through)."""
    barrier = threading.Barrier(16)
    codes = []

    def attempt():
        ac = AdminClient(app.test_client(), ip="192.0.2.9")
        token = ac.token()  # the CSRF token first, then all post at once
        barrier.wait()
        codes.append(
            ac.post(
                "/admin/login",
                {"username": "admin", "password": "wrong-password", "csrf_token": token},
                csrf=False,
            ).status_code
        )

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [401] * auth.MAX_FAILURES + [429] * (16 - auth.MAX_FAILURES)
    assert len(audit_rows(app, "login.failed")) == auth.MAX_FAILURES


def test_per_address_budget_across_usernames(app, accounts, monkeypatch):
    monkeypatch.setattr(auth, "MAX_FAILURES_PER_ADDRESS", 6)
    ac = AdminClient(app.test_client(), ip="198.51.100.77")
    for k in range(6):  # six usernames, one failure each: under every pair's limit
        assert ac.login(f"guess{k}", "wrong-password").status_code == 401
    assert ac.login("viewer").status_code == 429  # the address's budget is spent
    assert AdminClient(app.test_client(), ip="198.51.100.78").login("viewer").status_code == 302
