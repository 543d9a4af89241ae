"""Property-based fuzzing of the respondent forms and links (hypothesis).

Whatever is posted - random field names and values, unicode, huge strings, with or
without a valid CSRF token - the app never fails with a 5xx, stores nothing that is
not a valid answer to an item of the page, and never echoes input unescaped.
"""

from __future__ import annotations

import string
import unicodedata
from urllib.parse import quote

import pytest
from conftest import Respondent, campaign_app
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from survey.storage import store
from survey.storage.db import open_db

# derandomize: the same examples on every run, so CI results are reproducible
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    """One app and campaign for all examples (hypothesis reuses module fixtures)."""
    return campaign_app(tmp_path_factory.mktemp("fuzz") / "fuzz.db", "fuzz")


@pytest.fixture(scope="module")
def started(fuzz_app):
    """A respondent on page 1 of a started response: its client, page and response id."""
    app, inst = fuzz_app
    person = Respondent(app.test_client())
    page = person.consent("/s/acme")
    with open_db(app.config["DATABASE"]) as db:
        rid = db.execute("SELECT max(id) FROM responses").fetchone()[0]
    return person, page, rid


text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)
huge = st.integers(1_000, 300_000).map(lambda n: "9" * n)
markup = st.sampled_from(
    [
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        "<b>7</b>",
        "'; DROP TABLE responses; --",
    ]
)


def values_for(inst):
    codes = st.sampled_from(
        [str(c) for c in range(-2, 12)] + ["na", "NA", "", " 1", "1.0", "٣", "۳", "0x1", "1e1"]
    )
    return st.one_of(codes, st.integers().map(str), text, markup, huge)


def names_for(inst):
    return st.one_of(st.sampled_from(list(inst.item_ids) + ["csrf_token", "consent"]), text, markup)


@given(data=st.data())
@SETTINGS
def test_fuzzed_page_posts_never_fail_nor_store_invalid_answers(fuzz_app, started, data):
    app, inst = fuzz_app
    person, page, rid = started
    page_items = set(page.radio_groups)
    names = names_for(inst)
    if data.draw(st.booleans()):  # only extra fields besides the answers: may be valid
        names = names.filter(lambda n: n not in page_items and n != "csrf_token")
    pairs = data.draw(st.lists(st.tuples(names, values_for(inst)), max_size=12))
    # often a real answer for each item, so valid and partly valid posts happen too
    answer_all = data.draw(st.booleans())
    for item_id in sorted(page_items):
        if answer_all or data.draw(st.booleans()):
            pairs.append((item_id, data.draw(st.sampled_from(page.radio_groups[item_id]))))
    if data.draw(st.booleans()):
        pairs.append(("csrf_token", page.csrf_token))
    form = MultiDict(pairs)

    response = person.client.post("/s/acme/1", data=form)
    event(f"HTTP {response.status_code}")
    assert response.status_code < 500
    body = response.get_data(as_text=True)
    for name, value in pairs:
        for s in (name, value):
            if any(c in s for c in "<>\"'") and len(s) > 2:
                assert s not in body, "input echoed unescaped"

    with open_db(app.config["DATABASE"]) as db:
        saved = store.get_response(db, rid)
    assert saved["status"] == "started"
    assert set(saved["answers"]) | set(saved["na"]) <= page_items
    for item_id, code in saved["answers"].items():
        scale = inst.scale_for(item_id)
        assert code in (scale.codes if scale else (0, 1))
    for item_id in saved["na"]:
        assert inst.scale_for(item_id).not_applicable


printable = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=300)


@given(
    segment=printable,
    channel=printable,
    other=printable,
    lang=st.one_of(st.sampled_from(["en", "ru", "fa", "de", ""]), printable),
)
@settings(SETTINGS, max_examples=30)
def test_fuzzed_url_params_are_stored_clean_or_not_at_all(fuzz_app, segment, channel, other, lang):
    app, inst = fuzz_app
    qs = "&".join(
        f"{k}={quote(v)}"
        for k, v in (("segment", segment), ("channel", channel), ("other", other), ("lang", lang))
    )
    person = Respondent(app.test_client())
    intro = person.get(f"/s/acme?{qs}")
    assert intro.status == 200
    assert intro.lang in inst.languages
    first = person.post(intro, {"consent": "y"})
    assert first.status == 200 and first.url == "/s/acme/1"
    with open_db(app.config["DATABASE"]) as db:
        rid = db.execute("SELECT max(id) FROM responses").fetchone()[0]
        saved = store.get_response(db, rid)
    assert set(saved["params"]) <= {"segment", "channel"}
    for value in saved["params"].values():
        assert 0 < len(value) <= 100 and value == value.strip()
        assert not any(unicodedata.category(c).startswith("C") for c in value)


@given(token=st.text(alphabet=string.ascii_letters + string.digits + "-_.~%", max_size=300))
@settings(SETTINGS, max_examples=30)
def test_fuzzed_invitation_tokens_are_not_found(fuzz_app, token):
    app, _ = fuzz_app
    client = app.test_client()
    for url in (f"/i/{token}", f"/i/{token}/1", f"/i/{token}/thanks"):
        assert client.get(url).status_code in (404, 308)
    assert client.post(f"/i/{token}", data={"consent": "y"}).status_code in (400, 404, 405, 308)
