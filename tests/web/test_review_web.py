"""Security review (issue 14) on the researcher pages: dates outside 2000-2200 are
form errors, CR/LF in the login ``next`` is no 500, reserved and newline slugs refused."""

from __future__ import annotations

import pytest
from admin_support import (  # noqa: F401 (fixtures)
    AdminClient,
    accounts_fixture,
    error_text,
    fast_kdf_fixture,
)

from survey.storage import store
from survey.storage.db import open_db

VALID = {
    "slug": "q4",
    "title": "Retail Q4",
    "instrument": None,
    "period": "2026-Q4",
    "params": "segment",
    "languages": ["en"],
    "opens": "2026-10-01",
    "closes": "2026-12-31",
    "min_segment_n": "25",
}


@pytest.fixture
def researcher(app, accounts):
    ac = AdminClient(app.test_client())
    assert ac.login("researcher").status_code == 302
    return ac


def form_data(ac, **changes):
    html = ac.page("/admin/campaigns/new").html
    start = html.index('name="instrument"')
    data = dict(VALID, instrument=html[html.index('value="', start) + 7 :].split('"', 1)[0])
    data.update(changes)
    return data


def slugs(app):
    with open_db(app.config["DATABASE"]) as db:
        return [c["slug"] for c in store.list_campaigns(db)]


@pytest.mark.parametrize(
    "changes",
    [
        {"opens": "9999-12-31", "closes": ""},
        {"closes": "9999-12-31"},
        {"opens": "1999-12-31"},
        {"opens": "2201-01-01", "closes": "2201-02-01"},
    ],
)
def test_dates_outside_2000_2200_are_a_form_error(app, researcher, changes):
    r = researcher.post("/admin/campaigns/new", form_data(researcher, **changes))
    assert r.status_code == 400
    assert "between 2000 and 2200" in error_text(r)
    assert slugs(app) == []


@pytest.mark.parametrize("slug", ["new", "x\n", "acme\n"])
def test_reserved_or_newline_slug_is_a_form_error(app, researcher, slug):
    r = researcher.post("/admin/campaigns/new", form_data(researcher, slug=slug))
    assert r.status_code == 400
    assert "reserved" in error_text(r) or "Use 1-64 lower-case letters" in error_text(r)
    assert slugs(app) == []


@pytest.mark.parametrize(
    "nxt",
    [
        "/admin/%0D%0ALocation:%20https://evil.example",
        "/admin/audit%0d%0aSet-Cookie:%20x=1",
        "/admin%0A",
        "/admin/\r\n",
    ],
)
def test_crlf_in_login_next_is_refused_without_a_500(app, researcher, accounts, nxt):
    fresh = AdminClient(app.test_client())
    r = fresh.post(
        f"/admin/login?next={nxt}", {"username": "researcher", "password": accounts["researcher"]}
    )
    assert r.status_code == 302
    assert r.headers["Location"] == "/admin/"
    # already signed in: the GET redirects too, to the dashboard
    r = researcher.get(f"/admin/login?next={nxt}")
    assert r.status_code == 302 and r.headers["Location"] == "/admin/"
