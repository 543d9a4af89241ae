"""The admin's pages: users (list, add, role, disable) and the audit log."""

from __future__ import annotations

import re

import pytest
from admin_support import (  # noqa: F401 (fixtures)
    PASSWORDS,
    AdminClient,
    accounts_fixture,
    error_text,
    fast_kdf_fixture,
)

from survey.storage import audit, users
from survey.storage.db import open_db
from survey.worker import Worker


@pytest.fixture
def admin(app, accounts):
    ac = AdminClient(app.test_client())
    assert ac.login("admin").status_code == 302
    return ac


def user(app, name):
    with open_db(app.config["DATABASE"]) as db:
        return users.get_user(db, name)


def audit_rows(app, action=None):
    with open_db(app.config["DATABASE"]) as db:
        return audit.entries(db, limit=1000, action=action)


def test_users_page_lists_users(admin):
    page = admin.page("/admin/users")
    assert page.status == 200 and page.scripts == 0
    for name in PASSWORDS:
        assert f'<th scope="row">{name}</th>' in page.html
    assert page.labels["username"] == "Username" and page.labels["confirm"]
    assert "role-1" in page.labels  # every per-user select has a label


def test_add_user_via_the_web(app, admin):
    r = admin.post(
        "/admin/users",
        {
            "username": "dana",
            "role": "researcher",
            "password": "dana-password-1",
            "confirm": "dana-password-1",
        },
    )
    assert r.status_code == 302 and r.headers["Location"] == "/admin/users"
    assert user(app, "dana")["role"] == "researcher"
    (e,) = audit_rows(app, "user.add")
    assert (e["user"], e["target"], e["details"]) == ("admin", "dana", {"role": "researcher"})
    dana = AdminClient(app.test_client())
    assert dana.login("dana", "dana-password-1").status_code == 302


@pytest.mark.parametrize(
    "data, message",
    [
        (
            {
                "username": "dana",
                "role": "viewer",
                "password": "dana-password-1",
                "confirm": "dana-password-2",
            },
            "The passwords do not match.",
        ),
        (
            {"username": "dana", "role": "viewer", "password": "short", "confirm": "short"},
            "Field must be between 10 and 1024 characters long.",
        ),
        (
            {
                "username": "VIEWER",
                "role": "viewer",
                "password": "dana-password-1",
                "confirm": "dana-password-1",
            },
            "a user named 'VIEWER' already exists",
        ),
        (
            {
                "username": "x y",
                "role": "viewer",
                "password": "dana-password-1",
                "confirm": "dana-password-1",
            },
            "2-64 letters, digits",
        ),
        (
            {
                "username": "dana",
                "role": "root",
                "password": "dana-password-1",
                "confirm": "dana-password-1",
            },
            "Not a valid choice",
        ),
    ],
)
def test_add_user_errors(app, admin, data, message):
    r = admin.post("/admin/users", data)
    assert r.status_code == 400 and message in error_text(r)
    assert "dana-password" not in r.get_data(as_text=True)  # passwords are not echoed
    assert user(app, "dana") is None and audit_rows(app, "user.add") == []


def test_change_role_and_disable(app, admin):
    r = admin.post("/admin/users/viewer/role", {"role": "researcher"}, token_from="/admin/users")
    assert r.status_code == 302 and user(app, "viewer")["role"] == "researcher"
    assert "viewer is now researcher." in admin.page("/admin/users").text
    viewer = AdminClient(admin.client.application.test_client())
    viewer.login("viewer")
    assert viewer.get("/admin/").status_code == 200
    r = admin.post("/admin/users/viewer/disable", {"disabled": "1"}, token_from="/admin/users")
    assert r.status_code == 302 and user(app, "viewer")["disabled"]
    assert viewer.get("/admin/").status_code == 302  # signed out at once
    admin.post("/admin/users/viewer/disable", {"disabled": "0"}, token_from="/admin/users")
    assert not user(app, "viewer")["disabled"]
    actions = [
        (e["action"], e["target"]) for e in audit_rows(app) if e["action"].startswith("user.")
    ][::-1]
    assert actions == [
        ("user.role", "viewer"),
        ("user.disable", "viewer"),
        ("user.enable", "viewer"),
    ]


def test_admin_cannot_lock_themselves_out(app, admin):
    admin.post("/admin/users/admin/disable", {"disabled": "1"}, token_from="/admin/users")
    assert not user(app, "admin")["disabled"]
    assert "You cannot disable your own account." in admin.page("/admin/users").text
    admin.post("/admin/users/admin/role", {"role": "viewer"}, token_from="/admin/users")
    assert user(app, "admin")["role"] == "admin"
    assert "last active admin" in admin.page("/admin/users").text


def test_unknown_user_is_404(admin):
    r = admin.post("/admin/users/nobody/role", {"role": "viewer"}, token_from="/admin/users")
    assert r.status_code == 404


# ----- audit log -----------------------------------------------------------------------------
def test_audit_page_newest_first_and_paginated(app, admin):
    with open_db(app.config["DATABASE"]) as db:
        for i in range(60):
            audit.log(
                db, "test.action", user="cli:tester", target=f"t{i:02d}", details={"n": i}, ip=None
            )
    page = admin.page("/admin/audit")
    assert page.status == 200
    total = len(audit_rows(app))
    assert f"{total} entries, newest first. Page 1 of 2." in page.text
    assert page.text.index("t59") < page.text.index("t58")
    assert "t09" not in page.text
    older = admin.page("/admin/audit?page=2")
    assert "t09" in older.text and "t59" not in older.text
    assert "login" in older.text  # the admin's own login, the oldest entry
    assert admin.page("/admin/audit?page=99").status == 200  # clamped to the last page


def test_every_audited_web_action(app, admin, campaign):
    """One of each researcher action, then the log holds each once with who and what."""
    campaign("acme")
    failed = AdminClient(app.test_client())
    failed.login("viewer", "wrong-password")
    admin.post(
        "/admin/users",
        {
            "username": "erin",
            "role": "viewer",
            "password": "erin-password-1",
            "confirm": "erin-password-1",
        },
    )
    admin.post(
        "/admin/campaigns/acme/invitations", {"count": "2"}, token_from="/admin/campaigns/acme"
    )
    queued = admin.post(
        "/admin/campaigns/acme/export",
        {"format": "json", "language": "en"},
        token_from="/admin/campaigns/acme",
    )
    assert queued.status_code == 303  # the export is a background job: run it, download it
    job_url = queued.headers["Location"]
    with open_db(app.config["DATABASE"]) as db:
        Worker(db, kinds=["export"]).run(until_idle=True, wait_retries=False)
    download = re.search(r'href="([^"]+/download)"', admin.get(job_url).get_data(as_text=True))
    assert download, "no download link once the job ran"
    admin.get(download.group(1)).close()
    admin.post("/admin/campaigns/acme/close", {"confirm": "y"}, token_from="/admin/campaigns/acme")
    admin.logout()
    log = {e["action"]: e for e in audit_rows(app)}
    assert set(log) >= {
        "login",
        "login.failed",
        "user.add",
        "invitations.create",
        "export",
        "campaign.close",
        "logout",
    }
    assert log["login.failed"]["target"] == "viewer" and log["login.failed"]["ip"]
    assert log["invitations.create"]["details"]["count"] == 2
    assert log["export"]["details"]["rows"] == 0
    assert log["logout"]["user"] == "admin"
