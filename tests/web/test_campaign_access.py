"""Per-campaign access (issue 14): researchers and viewers see, open, export and report
only the campaigns they created or were granted; admins see all; admins grant and
revoke on the campaign's access page. Unknown and forbidden slugs are both 404."""

from __future__ import annotations

import pytest
from admin_support import (  # noqa: F401 (fixtures)
    AdminClient,
    accounts_fixture,
    error_text,
    fast_kdf_fixture,
)

from survey.storage import access, audit, store, users
from survey.storage.db import open_db

OTHER = "other-researcher-1"


@pytest.fixture
def clients(app, accounts):
    with open_db(app.config["DATABASE"]) as db:
        users.create_user(db, "other", OTHER, "researcher")
    out = {}
    for name, password in [
        ("researcher", None),
        ("other", OTHER),
        ("viewer", None),
        ("admin", None),
    ]:
        ac = AdminClient(app.test_client())
        assert ac.login(name, password).status_code == 302
        out[name] = ac
    return out


def create_on_the_web(ac, slug="mine"):
    page = ac.page("/admin/campaigns/new")
    html = page.html
    start = html.index('name="instrument"')
    instrument = html[html.index('value="', start) + 7 :].split('"', 1)[0]
    r = ac.post(
        "/admin/campaigns/new",
        {
            "slug": slug,
            "instrument": instrument,
            "period": "2026-Q4",
            "languages": ["en"],
            "min_segment_n": "30",
        },
    )
    assert r.status_code == 302, error_text(r)


PAGES = [
    "/admin/campaigns/{s}",
    "/admin/reports/{s}",
    "/admin/reports/{s}/report.json",
    "/admin/campaigns/{s}/close",
]


def test_creator_sees_others_do_not_admin_does(app, clients):
    create_on_the_web(clients["researcher"])
    with open_db(app.config["DATABASE"]) as db:
        assert access.creator(db, "mine") == "researcher"
        assert access.grantees(db, "mine") == ["researcher"]
    for who, visible in [
        ("researcher", True),
        ("admin", True),
        ("other", False),
        ("viewer", False),
    ]:
        dash = clients[who].page("/admin/")
        assert ('href="/admin/campaigns/mine"' in dash.html) is visible, who
        for url in PAGES:
            if who == "viewer" and url.endswith("/close"):
                continue  # a viewer gets 403 there anyway
            status = clients[who].get(url.format(s="mine")).status_code
            assert (status != 404) is visible, (who, url, status)
            assert status < 500
    # the forbidden campaign looks exactly like one that does not exist
    assert (
        clients["other"].get("/admin/campaigns/mine").status_code
        == clients["other"].get("/admin/campaigns/nosuch").status_code
        == 404
    )


def test_export_of_a_campaign_not_granted_is_refused(app, clients):
    create_on_the_web(clients["researcher"])
    r = clients["other"].post(
        "/admin/campaigns/mine/export",
        {"format": "csv", "period": "", "language": "en"},
        token_from="/admin/",
    )
    assert r.status_code == 404
    with open_db(app.config["DATABASE"]) as db:
        assert audit.entries(db, limit=10, action="export.queued") == []
        assert audit.entries(db, limit=10, action="export") == []
    r = clients["researcher"].post(
        "/admin/campaigns/mine/export",
        {"format": "csv", "period": "", "language": "en"},
        token_from="/admin/campaigns/mine",
    )
    assert r.status_code in (200, 303)


def test_admin_grants_and_revokes(app, clients):
    create_on_the_web(clients["researcher"])
    other, admin = clients["other"], clients["admin"]
    assert other.get("/admin/campaigns/mine").status_code == 404
    page = admin.page("/admin/campaigns/mine/access")
    assert page.status == 200 and "researcher" in page.text
    assert page.scripts == 0
    r = admin.post("/admin/campaigns/mine/access", {"username": "other", "action": "grant"})
    assert r.status_code == 302
    assert other.get("/admin/campaigns/mine").status_code == 200
    assert 'href="/admin/campaigns/mine"' in other.page("/admin/").html
    r = admin.post("/admin/campaigns/mine/access", {"username": "other", "action": "revoke"})
    assert r.status_code == 302
    assert other.get("/admin/campaigns/mine").status_code == 404
    r = admin.post("/admin/campaigns/mine/access", {"username": "nobody", "action": "grant"})
    assert r.status_code == 400 and "unknown user" in error_text(r)
    r = admin.post("/admin/campaigns/mine/access", {"username": "x\n", "action": "grant"})
    assert r.status_code == 400
    with open_db(app.config["DATABASE"]) as db:
        acts = [e["action"] for e in audit.entries(db, limit=20)]
    assert "campaign.grant" in acts and "campaign.revoke" in acts
    # only admins manage access
    assert clients["researcher"].get("/admin/campaigns/mine/access").status_code == 403


def test_viewer_sees_granted_campaigns_only(app, clients):
    create_on_the_web(clients["researcher"], "a")
    create_on_the_web(clients["researcher"], "b")
    with open_db(app.config["DATABASE"]) as db:
        access.grant(db, "b", "viewer", by="test")
    viewer = clients["viewer"]
    assert viewer.get("/admin/campaigns/a").status_code == 404
    assert viewer.get("/admin/campaigns/b").status_code == 200
    dash = viewer.page("/admin/").html
    assert 'href="/admin/campaigns/b"' in dash and 'href="/admin/campaigns/a"' not in dash


def test_cli_created_campaign_is_hidden_until_granted(app, clients):
    with open_db(app.config["DATABASE"]) as db:
        store.create_campaign(
            db, slug="cli", instrument="customer-trust", period="P", created_by="cli:alice"
        )
    assert clients["researcher"].get("/admin/campaigns/cli").status_code == 404
    assert clients["admin"].get("/admin/campaigns/cli").status_code == 200
    with open_db(app.config["DATABASE"]) as db:
        access.grant(db, "cli", "researcher")
    assert clients["researcher"].get("/admin/campaigns/cli").status_code == 200
    assert clients["other"].get("/admin/campaigns/cli").status_code == 404


def test_unassigned_campaign_stays_visible_until_first_grant(app, clients, campaign):
    campaign("legacy")  # through the Python API: no creator recorded, nobody granted
    assert clients["other"].get("/admin/campaigns/legacy").status_code == 200
    with open_db(app.config["DATABASE"]) as db:
        access.grant(db, "legacy", "researcher")
    assert clients["other"].get("/admin/campaigns/legacy").status_code == 404
    assert clients["researcher"].get("/admin/campaigns/legacy").status_code == 200
