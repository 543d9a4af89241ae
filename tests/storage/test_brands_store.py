"""Brands in the store (issue 11, item 1): declaring them (survey.brands, the one parser
of ``acme: en=Acme | ru=Акме``), ``brand`` as a checked declared param, one person's
ratings grouped by the anonymous respondent key, the invitation bound to the first
rating, and erasure removing the brand choices with the person's last rating."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from instruments.text import BIDI_CONTROLS
from survey.brands import BRAND_SLUG_RE, check_brands, parse_brand, parse_brands
from survey.storage import brands, erasure, store
from survey.storage.db import connect, init_db, open_db

BRANDS = ["acme: en=Acme | ru=Акме | fa=آکمه", "globex: Globex", "initech: en=Initech"]


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "t.db"
    with open_db(path) as d:
        init_db(d)
    d = connect(path)
    yield d
    d.close()


def make(db, **kw):
    args = dict(slug="multi", instrument="customer-trust", period="2026-Q4", brands=BRANDS)
    args.update(kw)
    return store.create_campaign(db, **args)


def start(db, c, **kw):
    args = dict(language="en", direction="ltr", params={}, item_order=None)
    args.update(kw)
    return store.start_response(db, c, **args)


def test_parse_the_human_syntax():
    assert parse_brand("acme: Acme") == {"slug": "acme", "names": {"*": "Acme"}}
    assert parse_brand(" globex :  en=Globex | fa=گلوبکس ") == {
        "slug": "globex",
        "names": {"en": "Globex", "fa": "گلوبکس"},
    }
    # a colon or '=' inside a one-name display name is kept
    assert parse_brand("x-1: A: B = C")["names"] == {"*": "A: B = C"}
    # control and bidi override characters are removed from names
    assert parse_brand("evil: Ev\u202eil\x07 Corp")["names"] == {"*": "Evil Corp"}
    # Persian spelling keeps its zero-width non-joiner
    assert parse_brand("digikala: fa=دیجی\u200cکالا")["names"] == {"fa": "دیجی\u200cکالا"}
    for bad, words in [
        ("acme Acme", "no ':'"),
        ("Acme: Acme", "slug 'Acme'"),
        ("acme:", "empty"),
        ("acme: en=Acme | Акме", "not LANG=Name"),
        ("acme: en=A | en=B", "given twice"),
        ("acme: " + "x" * 81, "at most 80"),
    ]:
        with pytest.raises(ValueError, match=words):
            parse_brand(bad)
    with pytest.raises(ValueError, match="'acme' is declared twice"):
        parse_brands("acme: A\n\nacme: B")


def test_check_brands_fills_every_language_and_checks_k():
    out, k = check_brands([parse_brand(b) for b in BRANDS], ["en", "ru", "fa"], 2)
    assert k == 2
    assert out[0]["names"] == {"en": "Acme", "ru": "Акме", "fa": "آکمه"}
    assert out[1]["names"] == {"en": "Globex", "ru": "Globex", "fa": "Globex"}
    assert out[2]["names"] == {"en": "Initech", "ru": "Initech", "fa": "Initech"}
    with pytest.raises(ValueError, match="a display name in ru"):
        check_brands(["x: en=X"], ["ru", "en"])
    with pytest.raises(ValueError, match="does not offer"):
        check_brands(["x: de=X"], ["en"])
    with pytest.raises(ValueError, match="declares 3 brand"):
        check_brands(BRANDS, ["en", "ru", "fa"], 4)
    for bad in (0, -1, True, 1.5, "two"):
        with pytest.raises(ValueError, match="whole number"):
            check_brands(BRANDS, ["en", "ru", "fa"], bad)
    with pytest.raises(ValueError, match="declares no brands"):
        check_brands([], ["en"], 1)


def test_create_campaign_with_brands(db):
    c = make(db, brands_per_respondent=2, params=["segment"])
    assert [b["slug"] for b in c["brands"]] == ["acme", "globex", "initech"]
    assert c["brands"][0]["names"]["ru"] == "Акме"
    assert c["brands_per_respondent"] == 2
    assert c["params"] == ["segment", "brand"]
    plain = make(db, slug="plain", brands=None)
    assert plain["brands"] == [] and plain["brands_per_respondent"] is None
    assert plain["params"] == []
    with pytest.raises(ValueError, match="not brand-aware"):
        make(db, slug="old", instrument="customer-trust@1.0.0")
    with pytest.raises(ValueError, match="declares 3 brand"):
        make(db, slug="toomany", brands_per_respondent=9)


def test_brand_param_must_be_a_declared_brand(db):
    c = make(db)
    with pytest.raises(ValueError, match=r"'umbrella' is not a brand .*acme, globex, initech"):
        store.create_invitations(db, "multi", 1, {"brand": "umbrella"})
    with pytest.raises(ValueError, match="not a brand"):
        start(db, c, params={"brand": "umbrella"})
    [inv] = store.create_invitations(db, "multi", 1, {"brand": "globex"})
    rid = start(db, c, invitation=store.find_invitation(db, inv["token"]))
    assert store.get_response(db, rid)["params"] == {"brand": "globex"}
    # a campaign without brands keeps any value of a declared param called brand
    plain = make(db, slug="plain", brands=None, params=["brand"])
    assert store.get_response(db, start(db, plain, params={"brand": "anything"}))["params"] == {
        "brand": "anything"
    }


def test_ratings_of_one_person_with_an_invitation(db):
    c = make(db, brands_per_respondent=2)
    [inv] = store.create_invitations(db, "multi", 1)
    invitation = store.find_invitation(db, inv["token"])
    first = start(db, c, invitation=invitation)
    key = store.get_response(db, first)["respondent"]
    assert len(key) == 16 and int(key, 16) >= 0
    choice = brands.record_choices(db, first, ["acme", "globex", "initech"], ["initech", "acme"])
    assert choice["rated"] == ["initech", "acme"]
    r1 = store.get_response(db, first)
    assert (r1["params"]["brand"], r1["brand_position"]) == ("initech", 1)
    with pytest.raises(brands.ChoiceConflict):
        brands.record_choices(db, first, ["acme"], ["acme"])
    assert store.complete_response(db, first)
    assert store.find_invitation(db, inv["token"])["response_id"] == first
    second = start(
        db, c, params={"brand": "acme"}, invitation=invitation, respondent=key, brand_position=2
    )
    # the same call again (a reload) gives the same rating, never a second row
    again = start(
        db, c, params={"brand": "acme"}, invitation=invitation, respondent=key, brand_position=2
    )
    assert again == second != first
    assert store.complete_response(db, second)
    # the invitation stays bound to the first rating
    assert store.find_invitation(db, inv["token"])["response_id"] == first
    assert [(r["brand"], r["brand_position"], r["status"]) for r in brands.ratings(db, key)] == [
        ("initech", 1, "complete"),
        ("acme", 2, "complete"),
    ]
    # another person's key cannot ride on this invitation
    with pytest.raises(ValueError, match="another respondent"):
        start(db, c, invitation=invitation, respondent="0" * 16, brand_position=2)
    # erasure: the choices go with the person's last rating
    erasure.delete_response(db, first)
    assert brands.get_choices(db, key) is not None
    out = erasure.delete_response(db, second)
    assert out["rows"].get("brand_choices") == 1
    assert brands.get_choices(db, key) is None


def test_record_choices_refuses_a_response_with_a_brand(db):
    c = make(db)
    rid = start(db, c, params={"brand": "acme"})
    with pytest.raises(ValueError, match="already has a brand"):
        brands.record_choices(db, rid, ["acme"], ["acme"])
    with pytest.raises(ValueError, match="ticked"):
        brands.record_choices(db, start(db, c), ["acme"], ["globex"])


def test_a_contacts_brand_must_be_a_declared_brand(db):
    from survey.storage import contacts

    make(db)
    row = {"line": 2, "email": "a@example.org", "name": None, "language": "en"}
    with pytest.raises(ValueError, match=r"'hooli' is not a brand"):
        contacts.import_contacts(db, "multi", [{**row, "params": {"brand": "hooli"}}])
    assert contacts.list_contacts(db, "multi") == []
    out = contacts.import_contacts(db, "multi", [{**row, "params": {"brand": "acme"}}])
    assert out["imported"] == 1


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_declaration_text_is_parsed_or_refused_with_a_value_error(text):
    try:
        parsed = parse_brands(text)
    except ValueError as e:
        assert str(e)
        return
    for b in parsed:
        assert BRAND_SLUG_RE.fullmatch(b["slug"])
        for name in b["names"].values():
            assert name and len(name) <= 80 and name == name.strip()
            assert not any(unicodedata.category(ch) == "Cc" for ch in name)
            assert not set(name) & BIDI_CONTROLS
    try:
        check_brands(parsed, ["en", "ru", "fa"])
    except ValueError as e:  # e.g. a language the campaign does not offer
        assert str(e)
