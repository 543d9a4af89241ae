"""Every researcher route against every role, from the declarative table
``survey.web.admin.ROUTE_ROLES``: anonymous visitors are sent to the login page, a role
below the route's minimum gets 403, and the minimum role and above get through."""

from __future__ import annotations

import pytest
from admin_support import (  # noqa: F401 (fixtures)
    AdminClient,
    accounts_fixture,
    admin_client_fixture,
    fast_kdf_fixture,
)

from survey.storage import export_jobs, store, users
from survey.storage.db import open_db
from survey.web import admin

SAMPLE_VALUES = {
    "slug": "acme",
    "username": "viewer",
    "fmt": "json",
    "name": "ci",
    "webhook_id": 1,
    "language": "en",
    "response_id": 1,
    "job_id": 1,
}
ROLES = (None, *users.ROLES)  # None = anonymous


def admin_routes(app) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) of every route of the admin blueprint."""
    out = []
    with app.test_request_context():
        from flask import url_for

        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("admin."):
                continue
            values = {a: SAMPLE_VALUES[a] for a in rule.arguments}
            url = url_for(rule.endpoint, **values)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                out.append((rule.endpoint, method, url))
    return out


def test_route_table_covers_every_admin_endpoint(app):
    endpoints = {e for e, _, _ in admin_routes(app)}
    assert endpoints == set(admin.ROUTE_ROLES)
    assert set(admin.ROUTE_ROLES.values()) <= set(users.ROLES)
    # the roles the issue asks for
    assert admin.ROUTE_ROLES["admin.dashboard"] == "viewer"
    assert admin.ROUTE_ROLES["admin.report"] == "viewer"
    assert admin.ROUTE_ROLES["admin.campaign_new"] == "researcher"
    assert admin.ROUTE_ROLES["admin.export"] == "researcher"
    assert admin.ROUTE_ROLES["admin.invitations"] == "researcher"
    assert admin.ROUTE_ROLES["admin.close"] == "researcher"
    assert admin.ROUTE_ROLES["admin.users"] == "admin"
    assert admin.ROUTE_ROLES["admin.audit"] == "admin"


def test_an_undeclared_endpoint_is_refused(app, accounts, monkeypatch):
    monkeypatch.delitem(admin.ROUTE_ROLES, "admin.dashboard")
    ac = AdminClient(app.test_client())
    ac.login("admin")
    assert ac.get("/admin/").status_code == 403


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "anonymous")
def test_every_route_as(app, campaign, accounts, role):
    campaign("acme")
    from survey.storage import store as _store
    from survey.storage.db import open_db as _open_db

    with _open_db(app.config["DATABASE"]) as db:  # response 1 (started), for its pages
        _store.start_response(
            db,
            _store.get_campaign(db, "acme"),
            language="en",
            direction="ltr",
            params={},
            item_order=None,
        )
    with open_db(app.config["DATABASE"]) as db:  # export job 1 (queued: no file yet)
        export_jobs.create(
            db,
            store.get_campaign(db, "acme"),
            "csv",
            period=None,
            language="en",
            requested_by="researcher",
        )
    ac = AdminClient(app.test_client())
    if role is not None:
        assert ac.login(role).status_code == 302
    token = ac.token("/admin/login")
    problems = []
    checked = 0
    for endpoint, method, url in admin_routes(app):
        minimum = admin.ROUTE_ROLES[endpoint]
        if method == "GET":
            r = ac.get(url)
        else:  # a valid CSRF token but no form data: nothing is changed
            r = ac.client.post(url, data={"csrf_token": token}, environ_base=ac.environ)
        location = r.headers.get("Location", "")
        checked += 1
        if role is None:
            back = f"/admin/login?next={url}" if method == "GET" else "/admin/login"
            ok = r.status_code == 302 and location.replace("%2F", "/") == back
            want = "redirect to login"
        elif not users.role_at_least(role, minimum):
            ok, want = r.status_code == 403, "403"
        else:
            ok = r.status_code in (200, 302, 400) and not location.startswith("/admin/login")
            if endpoint == "admin.export_download":  # allowed, but job 1 has no file yet
                ok = r.status_code == 404
            want = "allowed"
        if not ok:
            problems.append(
                f"{method} {url} as {role or 'anonymous'}: {r.status_code} "
                f"{location} (expected {want}; minimum role {minimum})"
            )
    assert checked >= len(admin.ROUTE_ROLES)
    assert not problems, "\n".join(problems)


def test_forbidden_page_is_a_clear_403(app, accounts):
    ac = AdminClient(app.test_client())
    ac.login("viewer")
    r = ac.get("/admin/users")
    assert r.status_code == 403
    text = r.get_data(as_text=True)
    assert "Your role does not allow this page." in text and "<script" not in text
    assert "New campaign" not in ac.page("/admin/").text  # no links to what viewers cannot use


def test_nothing_changed_by_refused_posts(app, campaign, accounts):
    """A viewer's POSTs with a valid CSRF token change nothing."""
    campaign("acme")
    ac = AdminClient(app.test_client())
    ac.login("viewer")
    r = ac.post("/admin/campaigns/acme/close", {"confirm": "y"}, token_from="/admin/")
    assert r.status_code == 403
    r = ac.post(
        "/admin/users",
        {"username": "mallory", "role": "admin", "password": "p" * 12, "confirm": "p" * 12},
        token_from="/admin/",
    )
    assert r.status_code == 403
    from survey.storage.db import open_db
    from survey.storage.store import get_campaign

    with open_db(app.config["DATABASE"]) as db:
        assert get_campaign(db, "acme")["status"] == "open"
        assert users.get_user(db, "mallory") is None
