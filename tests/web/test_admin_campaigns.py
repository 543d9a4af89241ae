"""Campaigns on the researcher side: create, live counts, invitation links, close."""

from __future__ import annotations

import csv
import io
import json

import pytest
from admin_support import (  # noqa: F401 (fixtures)
    AdminClient,
    accounts_fixture,
    error_text,
    fast_kdf_fixture,
)
from conftest import Respondent, parse_page

from analysis.careless import careless
from analysis.scores import score
from survey import demo
from survey.storage import audit, store
from survey.storage.db import open_db


@pytest.fixture
def researcher(app, accounts):
    ac = AdminClient(app.test_client())
    assert ac.login("researcher").status_code == 302
    return ac


def audit_rows(app, action):
    with open_db(app.config["DATABASE"]) as db:
        return audit.entries(db, limit=1000, action=action)


def get_campaign(app, slug):
    with open_db(app.config["DATABASE"]) as db:
        return store.get_campaign(db, slug)


VALID = {
    "slug": "q4",
    "title": "Retail Q4",
    "instrument": None,
    "period": "2026-Q4",
    "params": "segment, channel",
    "languages": ["en", "fa"],
    "opens": "2026-10-01",
    "closes": "2026-12-31",
    "min_segment_n": "25",
}


def new_campaign_form(ac):
    page = ac.page("/admin/campaigns/new")
    assert page.status == 200
    return page


def valid_data(page, **changes):
    data = dict(VALID)
    html = page.html  # the first option of the instrument select
    start = html.index('name="instrument"')
    data["instrument"] = html[html.index('value="', start) + 7 :].split('"', 1)[0]
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


# ----- create ------------------------------------------------------------------------------
def test_new_campaign_form_is_accessible(researcher):
    page = new_campaign_form(researcher)
    for field in (
        "slug",
        "title",
        "instrument",
        "period",
        "params",
        "opens",
        "closes",
        "min_segment_n",
    ):
        assert field in page.labels, field
    assert "Languages" in page.legends  # checkboxes in a fieldset with a legend
    assert {i.value for i in page.inputs if i.name == "languages"} == {"en", "ru", "fa"}
    assert all(i.checked for i in page.inputs if i.name == "languages")  # default: all
    assert 'value="customer-trust@' in page.html
    assert page.scripts == 0


def test_create_campaign_via_the_web(app, researcher):
    page = new_campaign_form(researcher)
    r = researcher.post("/admin/campaigns/new", valid_data(page))
    assert r.status_code == 302 and r.headers["Location"] == "/admin/campaigns/q4"
    c = get_campaign(app, "q4")
    assert (c["title"], c["period"], c["params"], c["languages"], c["min_segment_n"]) == (
        "Retail Q4",
        "2026-Q4",
        ["segment", "channel"],
        ["en", "fa"],
        25,
    )
    assert c["instrument_id"] == "customer-trust"
    assert c["opens_at"].startswith("2026-10-01T00:00")
    assert c["closes_at"].startswith("2027-01-01T00:00")  # inclusive closing day
    shown = researcher.page("/admin/campaigns/q4")
    assert "Campaign q4 created." in shown.text and "segment, channel" in shown.text
    (entry,) = audit_rows(app, "campaign.create")
    assert entry["user"] == "researcher" and entry["target"] == "q4"
    assert entry["details"]["period"] == "2026-Q4"
    assert entry["details"]["params"] == ["segment", "channel"]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"slug": "acme"}, "A campaign with this slug already exists."),
        (
            {"opens": "2026-12-01", "closes": "2026-11-30"},
            "The closing date must not be before the opening date.",
        ),
        ({"slug": "Bad Slug!"}, "Use 1-64 lower-case letters, digits or '-'"),
        ({"slug": ""}, "This field is required."),
        ({"period": ""}, "This field is required."),
        ({"languages": None}, "Choose at least one language."),
        ({"languages": ["en", "xx"]}, "'xx' is not a valid choice"),
        ({"params": "segment, Bad-Name"}, "param name 'Bad-Name' must be a lower-case letter"),
        ({"params": "segment, segment"}, "name a parameter twice"),
        ({"params": "period"}, "param name 'period' is reserved"),
        ({"min_segment_n": "0"}, "Number must be between 2 and 100000."),
        ({"opens": "31.12.2026"}, "Not a valid date value."),
        ({"instrument": "nope@9"}, "Not a valid choice"),
    ],
)
def test_create_campaign_validation_errors(app, researcher, campaign, changes, message):
    campaign("acme")
    page = new_campaign_form(researcher)
    r = researcher.post("/admin/campaigns/new", valid_data(page, **changes))
    assert r.status_code == 400
    assert message in error_text(r)
    assert "There is a problem" in error_text(r)
    with open_db(app.config["DATABASE"]) as db:
        assert [c["slug"] for c in store.list_campaigns(db)] == ["acme"]
    assert audit_rows(app, "campaign.create") == []


def test_create_without_csrf_token_is_refused(app, researcher):
    page = new_campaign_form(researcher)
    r = researcher.post("/admin/campaigns/new", valid_data(page), csrf=False)
    assert r.status_code == 400 and "This page has expired" in error_text(r)
    assert get_campaign(app, "q4") is None


# ----- invitation links ----------------------------------------------------------------------
def test_invitation_links_csv(app, researcher, campaign):
    campaign("acme", params=("segment", "channel"))
    page = researcher.page("/admin/campaigns/acme")
    assert "param_segment" in page.labels and "count" in page.labels
    r = researcher.post(
        "/admin/campaigns/acme/invitations",
        {"count": "5", "param_segment": "loyal", "param_channel": ""},
        token_from="/admin/campaigns/acme",
    )
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.headers["Content-Disposition"].startswith('attachment; filename="invitations-acme-')
    assert r.headers["Cache-Control"] == "no-store"
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
    assert rows[0] == ["token", "url"] and len(rows) == 6
    tokens = [t for t, _ in rows[1:]]
    assert len(set(tokens)) == 5
    assert all(url == f"http://localhost/i/{t}" for t, url in rows[1:])
    with open_db(app.config["DATABASE"]) as db:
        stored = db.execute("SELECT token_sha256, params FROM invitations").fetchall()
        dump = "\n".join(db.conn.iterdump())
    assert len(stored) == 5
    assert all(json.loads(p) == {"segment": "loyal"} for _, p in stored)
    assert not any(t in dump for t in tokens)  # only hashes are stored, also not in the audit
    (entry,) = audit_rows(app, "invitations.create")
    assert entry["details"]["count"] == 5 and entry["details"]["params"] == {"segment": "loyal"}
    # the links work, once each, and carry the param
    client = app.test_client()
    last = Respondent(client, seed=3).walk(f"/i/{tokens[0]}")
    assert last.status == 200 and "Thank you" in last.text
    with open_db(app.config["DATABASE"]) as db:
        (params,) = db.execute("SELECT params FROM responses WHERE status = 'complete'").fetchone()
    assert json.loads(params)["segment"] == "loyal"
    again = parse_page(app.test_client().get(f"/i/{tokens[0]}"))
    assert again.status == 200 and "already" in again.text.lower()
    assert app.test_client().get(f"/i/{tokens[1]}").status_code == 200


def test_invitation_links_with_a_base_url(researcher, campaign):
    campaign("acme")
    r = researcher.post(
        "/admin/campaigns/acme/invitations",
        {"count": "2", "base_url": "https://survey.example.com/"},
        token_from="/admin/campaigns/acme",
    )
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True))))[1:]
    assert [url for _, url in rows] == [f"https://survey.example.com/i/{t}" for t, _ in rows]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"count": "0"}, "Number must be between 1 and 10000."),
        ({"count": "10001"}, "Number must be between 1 and 10000."),
        ({"count": "many"}, "Not a valid integer value."),
        ({"count": "2", "base_url": "javascript:alert(1)"}, "Start with http:// or https://."),
    ],
)
def test_invitation_errors(app, researcher, campaign, data, message):
    campaign("acme")
    r = researcher.post(
        "/admin/campaigns/acme/invitations", data, token_from="/admin/campaigns/acme"
    )
    assert r.status_code == 400 and message in error_text(r)
    with open_db(app.config["DATABASE"]) as db:
        assert db.execute("SELECT COUNT(*) FROM invitations").fetchone()[0] == 0


# ----- close ---------------------------------------------------------------------------------
def test_close_needs_confirmation_then_links_show_closed(app, researcher, campaign, invitations):
    campaign("acme")
    (token,) = invitations("acme", 1)
    started = Respondent(app.test_client(), seed=1)
    first_page = started.consent("/s/acme")  # someone is half-way through
    assert first_page.radio_groups
    confirm = researcher.page("/admin/campaigns/acme/close")
    assert confirm.status == 200 and "confirm" in confirm.labels
    r = researcher.post("/admin/campaigns/acme/close", {}, token_from="/admin/campaigns/acme")
    assert r.status_code == 400 and "Tick the box to confirm." in error_text(r)
    assert get_campaign(app, "acme")["status"] == "open"
    r = researcher.post(
        "/admin/campaigns/acme/close", {"confirm": "y"}, token_from="/admin/campaigns/acme"
    )
    assert r.status_code == 302 and r.headers["Location"] == "/admin/campaigns/acme"
    assert get_campaign(app, "acme")["status"] == "closed"
    (entry,) = audit_rows(app, "campaign.close")
    assert entry["target"] == "acme" and entry["user"] == "researcher"
    page = researcher.page("/admin/campaigns/acme")
    assert "is closed; its links accept no more answers" in page.text
    assert "Close this campaign" not in page.text
    # the public link, an invitation link, and the respondent half-way through
    for url in ("/s/acme", f"/i/{token}"):
        closed = parse_page(app.test_client().get(url))
        assert closed.status == 410 and "This survey has closed" in closed.text
    after = started.answer_page(first_page)
    assert after.status == 410 and "This survey has closed" in after.text
    with open_db(app.config["DATABASE"]) as db:
        assert store.campaign_counts(db, "acme")["completed"] == 0
    # closing again: nothing to do
    r = researcher.post(
        "/admin/campaigns/acme/close", {"confirm": "y"}, token_from="/admin/campaigns/acme"
    )
    assert r.status_code == 302 and len(audit_rows(app, "campaign.close")) == 1


# ----- live counts and Trust Index -------------------------------------------------------------
def test_live_counts_and_trust_index_for_viewers(app, accounts):
    with open_db(app.config["DATABASE"]) as db:
        demo.fill_demo(db, "demo", 150, seed=11, periods=["2026-Q4"])
        counts = store.campaign_counts(db, "demo")
        frame, inst = store.load_campaign_frame(db, "demo")
    excluded = careless(frame, inst).excluded.to_numpy()
    ti = score(frame.loc[~excluded], inst).trust_index
    assert excluded.sum() > 0 and counts["started"] > counts["completed"] == 150
    viewer = AdminClient(app.test_client())
    viewer.login("viewer")
    page = viewer.page("/admin/campaigns/demo")
    text = page.text
    assert f"Started {counts['started']} " in text
    assert f"Completed {counts['completed']} " in text
    assert f"Completion rate {100 * counts['completion_rate']:.1f}%" in text
    assert (
        "Excluded as careless (2 or more indicators, screened per period; all periods) "
        f"{int(excluded.sum())} "
    ) in text
    assert "Latest period 2026-Q4 " in text  # one period: the headline is over all of it
    assert (
        f"Analysed in the latest period (complete, not careless) {int((~excluded).sum())} "
    ) in text
    assert f"{ti.mean:.1f} ({ti.ci95[0]:.1f}–{ti.ci95[1]:.1f}), n = {ti.n}" in text
    # viewers see figures, not the researcher forms
    assert "Invitation links" not in text and "Export the data" not in text
    assert page.csrf_token  # the sign-out form only
    dash = viewer.page("/admin/")
    assert dash.status == 200 and f"{ti.mean:.1f}" in dash.text and "demo" in dash.text
    assert '<th scope="col"' in dash.html and '<th scope="row"' in dash.html


def test_small_campaign_trust_index_is_suppressed(app, researcher):
    with open_db(app.config["DATABASE"]) as db:
        demo.fill_demo(db, "tiny", 12, seed=2, periods=["2026-Q4"])
    text = researcher.page("/admin/campaigns/tiny").text
    assert "suppressed (fewer than 30 respondents)" in text
    dash = researcher.page("/admin/").text
    assert "suppressed" in dash


def test_counts_follow_new_responses(app, researcher, campaign):
    campaign("acme")
    assert "Completed 0 " in researcher.page("/admin/campaigns/acme").text
    Respondent(app.test_client(), seed=5).walk("/s/acme")
    text = researcher.page("/admin/campaigns/acme").text
    assert "Started 1 " in text and "Completed 1 " in text
