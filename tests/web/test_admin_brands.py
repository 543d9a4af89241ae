"""Brands on the researcher pages (issue 11): the "new campaign" form's Brands textarea
(one per line, the syntax of ``--brand``) and Brands per respondent, their errors as
form errors (never a 500), the brands on the campaign page, and the invitation form's
brand choice."""

from __future__ import annotations

import re

import pytest
from admin_support import (  # noqa: F401 (fixtures)
    AdminClient,
    accounts_fixture,
    error_text,
    fast_kdf_fixture,
)

from survey.storage import audit, store
from survey.storage.db import open_db


@pytest.fixture
def researcher(app, accounts):
    ac = AdminClient(app.test_client())
    assert ac.login("researcher").status_code == 302
    return ac


def form_data(page, **changes):
    aware = re.findall(r'value="(customer-trust@1\.1\.[0-9]+)"', page.html)
    old = re.findall(r'value="(customer-trust@1\.0\.0)"', page.html)
    data = {
        "slug": "multi",
        "instrument": aware[0],
        "period": "2026-Q4",
        "params": "segment",
        "languages": ["en", "ru", "fa"],
        "min_segment_n": "30",
        "brands": "acme: en=Acme | ru=Акме | fa=آکمه\r\n\r\nglobex: Globex\r\ninitech: Initech",
        "brands_per_respondent": "2",
    }
    if changes.pop("old_instrument", False):
        data["instrument"] = old[0]
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def campaign_of(app, slug="multi"):
    with open_db(app.config["DATABASE"]) as db:
        return store.get_campaign(db, slug)


def test_create_with_brands_and_see_them(app, researcher):
    page = researcher.page("/admin/campaigns/new")
    assert "brands" in page.labels and "brands_per_respondent" in page.labels
    assert "Several brands (optional)" in page.legends
    r = researcher.post("/admin/campaigns/new", form_data(page))
    assert r.status_code == 302, error_text(r)
    c = campaign_of(app)
    assert [b["slug"] for b in c["brands"]] == ["acme", "globex", "initech"]
    assert c["brands"][0]["names"] == {"en": "Acme", "ru": "Акме", "fa": "آکمه"}
    assert c["brands_per_respondent"] == 2 and c["params"] == ["segment", "brand"]
    shown = researcher.page("/admin/campaigns/multi")
    assert "Brands" in shown.text and "Акме (ru)" in shown.text and "Globex (en)" in shown.text
    assert "Brands per respondent" in shown.text
    # the invitation form offers the brands (and none: the respondent ticks)
    assert '<select id="param_brand" name="param_brand">' in shown.html
    assert '<option value="globex">' in shown.html
    with open_db(app.config["DATABASE"]) as db:
        (entry,) = audit.entries(db, limit=10, action="campaign.create")
    assert entry["details"]["brands"] == ["acme", "globex", "initech"]
    assert entry["details"]["brands_per_respondent"] == 2


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"brands": "acme Acme", "brands_per_respondent": None}, "no ':' found"),
        ({"brands": "Acme: Acme", "brands_per_respondent": None}, "the slug 'Acme'"),
        ({"brands": "acme: A\nacme: B", "brands_per_respondent": None}, "'acme' is declared twice"),
        ({"brands": "acme: en=A | de=B", "brands_per_respondent": None}, "does not offer"),
        ({"brands": "acme: fa=A", "brands_per_respondent": None}, "a display name in en"),
        ({"brands": "acme: " + "x" * 81, "brands_per_respondent": None}, "at most 80"),
        ({"brands_per_respondent": "4"}, "the number of brands declared above (3)"),
        ({"brands": "", "brands_per_respondent": "1"}, "Declare the brands above first."),
        ({"brands_per_respondent": "0"}, "Number must be between 1 and 100."),
        ({"brands_per_respondent": "two"}, "Not a valid integer value."),
        ({"old_instrument": True}, "is not brand-aware"),
    ],
)
def test_brand_errors_are_form_errors(app, researcher, changes, message):
    page = researcher.page("/admin/campaigns/new")
    r = researcher.post("/admin/campaigns/new", form_data(page, **changes))
    assert r.status_code == 400
    assert message in error_text(r) and "There is a problem" in error_text(r)
    assert campaign_of(app) is None


def test_invitations_with_a_brand(app, researcher):
    page = researcher.page("/admin/campaigns/new")
    assert researcher.post("/admin/campaigns/new", form_data(page)).status_code == 302
    shown = researcher.page("/admin/campaigns/multi")
    token = shown.csrf_token
    url = "/admin/campaigns/multi/invitations"
    ok = researcher.post(url, {"csrf_token": token, "count": "2", "param_brand": "globex"})
    assert ok.status_code == 200 and ok.mimetype == "text/csv"
    bad = researcher.post(url, {"csrf_token": token, "count": "2", "param_brand": "hooli"})
    assert bad.status_code == 400 and "'hooli' is not a brand" in error_text(bad)
    with open_db(app.config["DATABASE"]) as db:
        c = store.get_campaign(db, "multi")
        assert store.invitation_counts(db, c)["total"] == 2
