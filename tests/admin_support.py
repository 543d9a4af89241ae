"""Test helpers for the researcher side (``tests/test_admin_*.py``).

Import the fixtures into a test module with
``from admin_support import accounts_fixture, ...  # noqa: F401``.

``AdminClient`` plays the Flask tutorial's ``AuthActions``: it signs in and out
through the real forms, and posts forms with the CSRF token read from a page, as a
browser would (CSRF stays enabled). ``accounts`` creates one user per role.
"""

from __future__ import annotations

import html
import re

import pytest
from conftest import Page, parse_page

from survey.storage import users
from survey.storage.db import open_db

PASSWORDS = {
    "viewer": "viewer-password-1",
    "researcher": "researcher-password-1",
    "admin": "admin-password-1",
}
TEST_SCRYPT_N = 2**10  # real scrypt, cheaper cost (the KDF test checks the real one)


@pytest.fixture(name="fast_kdf")
def fast_kdf_fixture(monkeypatch):
    monkeypatch.setattr(users, "SCRYPT_N", TEST_SCRYPT_N)
    monkeypatch.setattr(users, "_DUMMY_HASH", None)


@pytest.fixture(name="accounts")
def accounts_fixture(app, fast_kdf):
    """Users ``viewer``, ``researcher`` and ``admin`` (password :data:`PASSWORDS`)."""
    with open_db(app.config["DATABASE"]) as db:
        for role, password in PASSWORDS.items():
            users.create_user(db, role, password, role)
    return dict(PASSWORDS)


@pytest.fixture(name="admin_client")
def admin_client_fixture(client):
    return AdminClient(client)


class AdminClient:
    """Sign in/out and submit forms like a browser (see the module docstring)."""

    def __init__(self, client, ip: str = "127.0.0.1"):
        self.client = client
        self.ip = ip

    @property
    def environ(self) -> dict:
        return {"REMOTE_ADDR": self.ip}

    def get(self, url: str, **kw):
        return self.client.get(url, environ_base=self.environ, **kw)

    def page(self, url: str) -> Page:
        return parse_page(self.get(url, follow_redirects=True))

    def token(self, url: str = "/admin/login") -> str:
        """A CSRF token from a page's form (the login page for anonymous visitors)."""
        page = self.page(url)
        token = page.csrf_token
        if token is None:  # signed in: the login page redirected; use the sign-out form
            token = self.page("/admin/").csrf_token
        assert token, f"no csrf_token on {url}"
        return token

    def post(
        self,
        url: str,
        data: dict | None = None,
        *,
        token_from: str | None = None,
        csrf: bool = True,
        **kw,
    ):
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.token(token_from or url))
        return self.client.post(url, data=data, environ_base=self.environ, **kw)

    def login(self, username: str, password: str | None = None, **kw):
        password = PASSWORDS.get(username, "") if password is None else password
        return self.post("/admin/login", {"username": username, "password": password}, **kw)

    def logout(self):
        return self.post("/admin/logout", token_from="/admin/")


def error_text(response) -> str:
    """The visible text of a response, entities decoded."""
    return html.unescape(re.sub(r"\s+", " ", parse_page(response).text))
