"""The API's response pulls with brand ratings (issue 11, item 1): one JSON line per
brand rating with the export's columns, among them ``respondent`` (the anonymous key
one person's ratings share), ``brand`` and ``brand_position``; never the response id,
the invitation or a token. The OpenAPI document describes the columns."""

from __future__ import annotations

import json

from brand_fixtures import brand_campaign
from conftest import campaign_app
from store_fixtures import small_instrument

from survey.storage import tokens
from survey.storage.db import get_db


def test_pulled_lines_carry_the_respondent_key_and_the_brand(tmp_path):
    app, _ = campaign_app(tmp_path / "api.db", "api-brands-secret")
    with app.app_context():
        db = get_db()
        made = brand_campaign(db, small_instrument(tmp_path), people=6, per_person=2, seed=9)
        raw, _ = tokens.create_token(db, "r", "researcher")
    headers = {"Authorization": f"Bearer {raw}"}
    client = app.test_client()
    r = client.get("/api/v1/campaigns/brands/responses?limit=100", headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)
    lines = [json.loads(x) for x in r.get_data(as_text=True).splitlines()]
    assert len(lines) == 12 == len(made["ids"])
    assert [x["respondent"] for x in lines] == made["respondent"]
    assert [x["brand"] for x in lines] == made["brand"]
    assert [x["brand_position"] for x in lines] == made["position"]
    assert [x["row"] for x in lines] == list(range(1, 13))
    keys = {x["respondent"] for x in lines}
    assert len(keys) == 6 and all(len(k) == 16 for k in keys)
    for x in lines:
        assert "response_id" not in x and "invitation_id" not in x and "id" not in x
    assert raw not in r.get_data(as_text=True)
    assert not {str(i) for i in made["ids"]} & keys
    doc = client.get("/api/v1/openapi.json").get_json()
    pull = doc["paths"]["/api/v1/campaigns/{slug}/responses"]["get"]
    text = json.dumps(pull)
    assert "respondent" in text and "brand_position" in text
