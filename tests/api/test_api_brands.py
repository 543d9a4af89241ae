"""The API's campaign JSON carries the campaign's brands and K (issue 11), as its
OpenAPI document says."""

from __future__ import annotations

import json

from api_support import Reply, check_against_spec

from survey.storage import tokens
from survey.storage.db import get_db


def test_campaign_json_has_the_brands(app, client, campaign):
    campaign(slug="multi", brands=["acme: en=Acme | fa=آکمه", "globex: Globex"])
    campaign(slug="plain")
    with app.app_context():
        raw, _ = tokens.create_token(get_db(), "reader", "viewer")
    headers = {"Authorization": f"Bearer {raw}"}
    doc = client.get("/api/v1/openapi.json").get_json()
    r = client.get("/api/v1/campaigns/multi", headers=headers)
    reply = Reply(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.data)
    check_against_spec(doc, "GET", "/api/v1/campaigns/{slug}", reply)
    body = json.loads(r.data)
    assert body["brands"] == [
        {"slug": "acme", "names": {"en": "Acme", "ru": "Acme", "fa": "آکمه"}},
        {"slug": "globex", "names": {"en": "Globex", "ru": "Globex", "fa": "Globex"}},
    ]
    assert body["brands_per_respondent"] is None
    assert "brand" in body["params"]
    plain = client.get("/api/v1/campaigns/plain", headers=headers).get_json()
    assert plain["brands"] == [] and plain["brands_per_respondent"] is None
