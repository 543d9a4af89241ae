"""Visitors screened out on the brand page ("I am not a customer of any of these") are
erased, and only their number is kept: the campaign's ``screened_out`` count, shown
next to the live counts on the campaign page and in the API's campaign stats."""

from __future__ import annotations

import re

import pytest
from admin_support import (  # noqa: F401 (fixtures)
    AdminClient,
    accounts_fixture,
    fast_kdf_fixture,
)
from conftest import Respondent
from test_brands_flow import BRANDS, rows, to_brand_page

from survey.storage import erasure, store, tokens
from survey.storage.db import open_db


def test_screened_out_visitors_are_counted_and_not_kept(
    app, client, campaign, invitations, accounts
):
    multi = campaign(slug="multi", params=("segment",), brands=BRANDS, brands_per_respondent=2)
    plain = campaign(slug="plain")  # no brands: no screen-out row on its page
    [token] = invitations("multi", 1)
    path = app.config["DATABASE"]
    for seed, url in enumerate([f"/i/{token}", "/s/multi", "/s/multi"]):
        person = Respondent(client.application.test_client(), seed=seed)
        page = to_brand_page(person, url)
        assert person.post(page, {"action": "none"}).status == 200
    # one more who rates: started, not screened out
    rater = Respondent(client.application.test_client(), seed=7)
    page = to_brand_page(rater, "/s/multi")
    assert rater.post(page, {"brand": ["acme"]}).status == 200
    with open_db(path) as db:
        counts = store.campaign_counts(db, "multi")
        assert [r["status"] for r in rows(db, multi["id"])] == ["started"]
        assert store.campaign_counts(db, "plain")["screened_out"] == 0
        raw, _ = tokens.create_token(db, "reader", "viewer")
    assert counts == {
        "started": 1,
        "completed": 0,
        "in_progress": 1,
        "completion_rate": 0.0,
        "screened_out": 3,
    }

    admin = AdminClient(client.application.test_client())
    assert admin.login("admin").status_code == 302
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", admin.get("/admin/campaigns/multi").text))
    assert "Screened out (customers of none of the brands; not among the started) 3" in text
    plain_page = admin.get(f"/admin/campaigns/{plain['slug']}").text
    assert "Screened out" not in plain_page

    api = client.application.test_client()
    got = api.get("/api/v1/campaigns/multi", headers={"Authorization": f"Bearer {raw}"})
    assert got.status_code == 200, got.text
    stats = got.get_json()["stats"]
    assert (stats["screened_out"], stats["started"]) == (3, 1)


def test_a_second_tab_does_not_count_twice(app, campaign):
    campaign(slug="multi", params=("segment",), brands=BRANDS)
    with open_db(app.config["DATABASE"]) as db:
        c = store.get_campaign(db, "multi")
        rid = store.start_response(db, c, language="en", direction="ltr", params={}, item_order=[])
        erasure.screen_out(db, rid)
        with pytest.raises(LookupError):  # erased already (the first tab): not counted again
            erasure.screen_out(db, rid)
        assert store.campaign_counts(db, "multi")["screened_out"] == 1
        assert store.campaign_counts(db, "multi")["started"] == 0
