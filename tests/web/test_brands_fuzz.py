"""Property-based fuzzing of the brand page (hypothesis): whatever is posted as ``brand``
- unknown slugs, repeats, unicode, markup, nothing - the app answers 302 (a valid
choice, recorded as ticked brands in the campaign's order with up to K drawn from them)
or 400 (nothing recorded), never a 5xx, and never echoes input unescaped."""

from __future__ import annotations

import json

import pytest
from conftest import Respondent
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from survey import create_app
from survey.storage import brands, store
from survey.storage.db import get_db, init_db, open_db

SLUGS = ["acme", "globex", "initech", "umbrella"]
SETTINGS = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def brand_app(tmp_path_factory):
    path = tmp_path_factory.mktemp("brandfuzz") / "fuzz.db"
    app = create_app({"TESTING": True, "DATABASE": str(path), "SECRET_KEY": "brand-fuzz"})
    with app.app_context():
        db = get_db()
        init_db(db)
        store.create_campaign(
            db,
            slug="multi",
            instrument="customer-trust",
            period="2026-Q4",
            brands=[f"{s}: {s.title()}" for s in SLUGS],
            brands_per_respondent=2,
        )
    return app


values = st.lists(st.sampled_from(SLUGS), unique=True, max_size=4) | st.lists(
    st.sampled_from(SLUGS)
    | st.sampled_from(["", "ACME", "acme ", "<b>acme</b>", "hooli", "a" * 300])
    | st.text(max_size=30),
    max_size=8,
)


@SETTINGS
@given(values=values, with_csrf=st.booleans())
def test_the_brand_page_never_fails(brand_app, values, with_csrf):
    person = Respondent(brand_app.test_client())
    page = person.consent("/s/multi")
    assert page.url == "/s/multi/brands"
    data = MultiDict([("brand", v) for v in values])
    if with_csrf:
        data.add("csrf_token", page.csrf_token)
    r = person.client.post("/s/multi/brands", data=data)
    assert r.status_code in (302, 400), r.status_code
    event(f"status {r.status_code}")
    body = r.get_data(as_text=True)
    assert "<b>acme</b>" not in body
    with open_db(brand_app.config["DATABASE"]) as db:
        rid = db.execute("SELECT max(id) FROM responses").fetchone()[0]
        saved = store.get_response(db, rid)
        choice = brands.get_choices(db, saved["respondent"])
    valid = with_csrf and values and all(v in SLUGS for v in values)
    valid = valid and len(set(values)) == len(values)
    if r.status_code == 302:
        assert valid
        assert choice["ticked"] == [s for s in SLUGS if s in values]
        assert len(choice["rated"]) == min(2, len(values))
        assert set(choice["rated"]) <= set(values)
        assert (saved["params"]["brand"], saved["brand_position"]) == (choice["rated"][0], 1)
    else:
        assert not valid
        assert choice is None and "brand" not in saved["params"]
        assert json.dumps(saved["params"]) == "{}"
