"""The researcher pages of the API: admins create and revoke tokens (shown once),
researchers add and remove a campaign's webhooks (secret shown once), and the campaign
page shows the webhook delivery log."""

from __future__ import annotations

import re

from admin_support import accounts_fixture, admin_client_fixture, fast_kdf_fixture  # noqa: F401
from conftest import parse_page

from survey.storage import store, tokens, webhooks
from survey.storage.db import open_db


def _secret(html: str, prefix: str) -> str:
    m = re.search(r'<code class="secret">(' + prefix + r"[^<]+)</code>", html)
    assert m, html[:2000]
    return m.group(1)


def test_admins_create_and_revoke_tokens(app, campaign, accounts, admin_client):
    campaign()
    admin_client.login("admin")
    page = admin_client.page("/admin/tokens")
    assert page.status == 200 and page.scripts == 0
    r = admin_client.post(
        "/admin/tokens", {"name": "crm", "role": "researcher", "campaigns": ["acme"]}
    )
    assert r.status_code == 200
    raw = _secret(r.get_data(as_text=True), "tm_")
    client = app.test_client()
    assert (
        client.get("/api/v1/campaigns/acme", headers={"Authorization": f"Bearer {raw}"}).status_code
        == 200
    )
    again = admin_client.page("/admin/tokens")
    assert "crm" in again.text and raw not in again.html  # listed, never shown again
    r = admin_client.post("/admin/tokens", {"name": "crm", "role": "viewer"})
    assert r.status_code == 400 and "already exists" in r.get_data(as_text=True)
    r = admin_client.post("/admin/tokens/crm/revoke", token_from="/admin/tokens")
    assert r.status_code == 302
    assert (
        client.get("/api/v1/campaigns/acme", headers={"Authorization": f"Bearer {raw}"}).status_code
        == 401
    )
    with open_db(app.config["DATABASE"]) as db:
        assert tokens.list_tokens(db) == []


def test_tokens_page_is_for_admins_only(app, accounts, admin_client):
    admin_client.login("researcher")
    assert admin_client.get("/admin/tokens").status_code == 403
    assert (
        admin_client.post(
            "/admin/tokens", {"name": "x", "role": "admin"}, token_from="/admin/"
        ).status_code
        == 403
    )


def test_researchers_manage_webhooks_and_see_the_delivery_log(
    app, campaign, accounts, admin_client
):
    campaign()
    admin_client.login("researcher")
    r = admin_client.post(
        "/admin/campaigns/acme/webhooks",
        {"url": "https://example.com/hook", "events": ["response.completed", "campaign.closed"]},
    )
    assert r.status_code == 200
    secret = _secret(r.get_data(as_text=True), "whsec_")
    r = admin_client.post("/admin/campaigns/acme/webhooks", {"url": "ftp://nope"})
    assert r.status_code == 400 and "must start with" in r.get_data(as_text=True)
    with open_db(app.config["DATABASE"]) as db:
        (hook,) = webhooks.list_webhooks(db, "acme")
        assert hook["events"] == ["response.completed", "campaign.closed"]
        webhooks.record_attempt(
            db,
            webhook_id=hook["id"],
            event="response.completed",
            idempotency_key="evt_x",
            attempt=2,
            status=503,
            error=None,
            duration_ms=12,
        )
    page = admin_client.page("/admin/campaigns/acme")
    assert page.status == 200 and "HTTP 503" in page.text and secret not in page.html
    assert "https://example.com/hook" in page.text
    r = admin_client.post(
        f"/admin/campaigns/acme/webhooks/{hook['id']}/remove",
        token_from="/admin/campaigns/acme/webhooks",
    )
    assert r.status_code == 302
    with open_db(app.config["DATABASE"]) as db:
        assert webhooks.list_webhooks(db, "acme") == []
        assert store.get_campaign(db, "acme") is not None


def test_viewers_cannot_manage_webhooks(app, campaign, accounts, admin_client):
    campaign()
    admin_client.login("viewer")
    assert admin_client.get("/admin/campaigns/acme/webhooks").status_code == 403
    page = parse_page(admin_client.get("/admin/campaigns/acme"))
    assert page.status == 200 and "Webhooks" not in page.text
