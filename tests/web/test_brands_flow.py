"""Brands in the respondent flow (issue 11, item 1; Flask test client, CSRF on).

A campaign declares 4 brands and K = 2. After consent the brand page asks which
companies the respondent is a customer of; of the 3 ticked, exactly 2 are rated, in a
random order that is recorded (``brand_choices.rated`` equals the ``brand_position``
order of the stored rows) and differs between people; every text names the brand
being rated (en, ru with «компании Акме», fa); an invitation or link with ``brand``
skips the page; a bad brand is refused; a reload, a second visit or a stale tab
neither skips nor duplicates a rating."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from conftest import Respondent, parse_page

from survey.storage import brands, store

BRANDS = [
    "acme: en=Acme | ru=Акме | fa=آکمه",
    "globex: en=Globex | ru=Глобекс | fa=گلوبکس",
    "initech: Initech",
    "umbrella: Umbrella",
]
NAMES = {"acme": "Acme", "globex": "Globex", "initech": "Initech", "umbrella": "Umbrella"}
TICKED = ["acme", "globex", "initech"]


@pytest.fixture
def multi(campaign):
    return campaign(slug="multi", params=("segment",), brands=BRANDS, brands_per_respondent=2)


def rows(db, campaign_id):
    """The campaign's responses: id, respondent, brand_position, brand, status, invitation."""
    out = db.execute(
        "SELECT id, respondent, brand_position, params, status, invitation_id FROM responses "
        "WHERE campaign_id = ? ORDER BY id",
        [campaign_id],
    ).fetchall()
    return [
        {
            "id": r[0],
            "respondent": r[1],
            "position": r[2],
            "brand": json.loads(r[3]).get("brand"),
            "segment": json.loads(r[3]).get("segment"),
            "status": r[4],
            "invitation_id": r[5],
        }
        for r in out
    ]


def to_brand_page(person: Respondent, url: str):
    page = person.consent(url)
    assert page.status == 200, page.text[:300]
    assert page.url.split("?")[0].endswith("/brands"), page.url
    return page


def walk_ratings(person: Respondent, page, *, max_pages: int = 40) -> list[list]:
    """Answer every page until the thank-you page; the pages seen, split by rating."""
    ratings = [[page]]
    for _ in range(max_pages):
        if page.url.endswith("/thanks"):
            ratings[-1].pop()  # the thank-you page belongs to no rating
            return ratings
        page = person.answer_page(page)
        if page.url.split("?")[0].endswith("/1") and not page.url.endswith("/thanks"):
            ratings.append([page])
        else:
            ratings[-1].append(page)
    raise AssertionError("the questionnaire did not end")


def test_brand_page_then_k_brands_in_the_recorded_random_order(client, multi, db):
    person = Respondent(client, seed=3)
    page = to_brand_page(person, "/s/multi?segment=web")
    assert page.legends == ["Which of these companies are you a customer of?"]
    boxes = [i for i in page.inputs if i.type == "checkbox"]
    assert [b.value for b in boxes] == list(NAMES)  # the campaign's order
    assert [page.labels[b.id] for b in boxes] == list(NAMES.values())
    first = person.post(page, {"brand": TICKED})
    assert first.url == "/s/multi/1"
    ratings = walk_ratings(person, first)
    assert person.pages[-1].url == "/s/multi/thanks"

    stored = rows(db, multi["id"])
    assert len(stored) == 2 and len(ratings) == 2  # exactly K of the 3 ticked
    assert all(r["status"] == "complete" for r in stored)
    assert len({r["respondent"] for r in stored}) == 1
    choice = brands.get_choices(db, stored[0]["respondent"])
    assert choice["ticked"] == TICKED
    assert len(choice["rated"]) == 2 and set(choice["rated"]) <= set(TICKED)
    by_position = sorted(stored, key=lambda r: r["position"])
    assert [r["position"] for r in by_position] == [1, 2]
    assert [r["brand"] for r in by_position] == choice["rated"]
    assert [r["segment"] for r in stored] == ["web", "web"]  # params kept, brand apart
    # each rating's pages name its brand, and say which of the two it is
    for k, (brand, pages) in enumerate(zip(choice["rated"], ratings, strict=True), start=1):
        name = NAMES[brand]
        text = " ".join(p.text for p in pages)
        assert f"{name} keeps the promises it makes to me." in text
        assert "this company" not in text.lower()
        others = [NAMES[b] for b in TICKED if b != brand]
        assert not any(f"{o} keeps the promises" in text for o in others)
        assert all(f"({k} of 2)" in p.text for p in pages)
        heading = f"Now about {name} (2 of 2)" if k == 2 else f"About {name} (1 of 2)"
        assert heading in pages[0].text
    # coming back after the end: already answered, nothing new started
    again = person.get("/s/multi")
    assert "already" in again.text.lower()
    assert len(rows(db, multi["id"])) == 2


def test_the_order_is_random_across_respondents(app, multi, db):
    """60 people tick the same 3 brands: the ordered pairs drawn vary. A fixed order (or
    a fixed pair) gives 1 distinct pair; a uniform draw gives fewer than 4 of the 6
    with probability about 1e-16."""
    pairs = Counter()
    for seed in range(60):
        person = Respondent(app.test_client(), seed=seed)
        page = to_brand_page(person, "/s/multi")
        assert person.post(page, {"brand": TICKED}).url == "/s/multi/1"
    for r in rows(db, multi["id"]):
        choice = brands.get_choices(db, r["respondent"])
        assert choice["ticked"] == TICKED
        assert (r["brand"], r["position"]) == (choice["rated"][0], 1)  # the first rating
        pairs[tuple(choice["rated"])] += 1
    assert sum(pairs.values()) == 60
    assert all(a != b and {a, b} <= set(TICKED) for a, b in pairs)
    assert len(pairs) >= 4, pairs
    # both orders of at least one pair occur
    assert any((b, a) in pairs for a, b in pairs)


@pytest.mark.parametrize(
    "lang, expected",
    [
        ("ru", ["Компания Акме выполняет обещания", "Цены компании Акме прозрачны."]),
        ("fa", ["آکمه به وعده‌هایی که به من می‌دهد عمل می‌کند.", "قیمت‌های آکمه شفاف است."]),
    ],
)
def test_brand_names_in_russian_and_persian(client, multi, db, lang, expected):
    person = Respondent(client, seed=1)
    page = to_brand_page(person, f"/s/multi?lang={lang}")
    assert page.lang == lang and page.dir == ("rtl" if lang == "fa" else "ltr")
    legend = {"ru": "Клиентом каких из этих компаний Вы являетесь?", "fa": "مشتری کدام"}[lang]
    assert page.legends[0].startswith(legend)
    first = person.post(page, {"brand": ["acme"]})  # one ticked: one rating, 1 of 1
    for words in expected:
        assert words in first.text, (words, first.text[:2000])
    about = {"ru": "О компании Акме", "fa": "دربارهٔ آکمه"}[lang]
    assert about in first.text
    ratings = walk_ratings(person, first)
    assert len(ratings) == 1
    [r] = rows(db, multi["id"])
    assert (r["brand"], r["position"], r["status"]) == ("acme", 1, "complete")


def test_invitation_with_a_brand_skips_the_brand_page(client, multi, invitations, db):
    [token] = invitations("multi", 1, {"brand": "globex"})
    person = Respondent(client, seed=2)
    intro = person.get(f"/i/{token}")
    assert "as a customer of Globex" in intro.text  # the intro names the brand too
    page = person.post(intro, {"consent": "y"})
    assert page.url == f"/i/{token}/1"
    assert "Globex keeps the promises it makes to me." in page.text
    assert "About Globex" in page.text and "of 2" not in page.text
    assert walk_ratings(person, page)[-1]
    [r] = rows(db, multi["id"])
    assert (r["brand"], r["position"], r["status"]) == ("globex", None, "complete")
    assert brands.get_choices(db, r["respondent"]) is None
    # the same for a public link carrying ?brand=
    other = Respondent(fresh_client(client), seed=5)
    assert other.consent("/s/multi?brand=acme").url == "/s/multi/1"


def fresh_client(client):
    """A fresh client (no session) of the same app."""
    return client.application.test_client()


def test_bad_brands_are_refused(client, multi, invitations, db):
    # an unknown brand in the link: a clear page, nothing started
    r = client.get("/s/multi?brand=hooli")
    assert r.status_code == 400
    assert "unknown company" in parse_page(r).text
    assert rows(db, multi["id"]) == []
    with pytest.raises(ValueError, match=r"'hooli' is not a brand .*acme, globex"):
        invitations("multi", 1, {"brand": "hooli"})
    # the brand page: forged slugs, repeats, nothing ticked, no CSRF token
    person = Respondent(client, seed=4)
    page = to_brand_page(person, "/s/multi")
    for data in ({"brand": ["acme", "hooli"]}, {"brand": ["acme", "acme"]}):
        bad = person.post(page, data)
        assert bad.status == 400 and "companies shown" in bad.text
    none = person.post(page, {})
    assert none.status == 400
    assert "Please tick at least one company." in none.text
    assert "There is a problem" in none.text and 'href="#brand-acme"' in none.html
    forged = client.post("/s/multi/brands", data={"brand": ["acme"]})
    assert forged.status_code == 400
    assert brands.get_choices(db, rows(db, multi["id"])[0]["respondent"]) is None
    # a question page before the brands are chosen leads back to the brand page
    assert client.get("/s/multi/1").headers["Location"].endswith("/s/multi/brands")


def test_resume_reload_and_stale_tab_never_skip_or_duplicate(client, multi, invitations, db):
    [token] = invitations("multi", 1)
    person = Respondent(client, seed=6)
    page = to_brand_page(person, f"/i/{token}")
    page = person.post(page, {"brand": ["acme", "initech"]})
    r1_page1 = page
    # a second POST of the brand page (another tab) changes nothing
    again = person.post(to_brand_page_or_page(person, f"/i/{token}/brands"), {"brand": ["acme"]})
    assert again.url == f"/i/{token}/1"
    [first] = rows(db, multi["id"])
    choice = brands.get_choices(db, first["respondent"])
    assert sorted(choice["rated"]) == ["acme", "initech"]
    # answer rating 1 up to its last page
    last_of_first = None
    for _ in range(20):
        if "<textarea" in page.html:
            last_of_first = page
            break
        page = person.answer_page(page)
    assert last_of_first is not None
    second_page1 = person.post(last_of_first, {})
    assert second_page1.url == f"/i/{token}/1"
    name2 = NAMES[choice["rated"][1]]
    assert f"Now about {name2} (2 of 2)" in second_page1.text
    page = person.answer_page(second_page1)  # rating 2, page 1 saved
    assert page.url == f"/i/{token}/2"
    stored = rows(db, multi["id"])
    assert [(r["position"], r["status"]) for r in stored] == [(1, "complete"), (2, "started")]
    assert all(r["invitation_id"] == stored[0]["invitation_id"] for r in stored)
    inv = store.find_invitation(db, token)
    assert inv["response_id"] == stored[0]["id"]  # bound to the first rating
    # a stale tab re-POSTs rating 1's page 1 (other answers): nothing is saved into
    # rating 2, which is at that page's number too; back to rating 2's page
    saved = store.get_response(db, stored[1]["id"])["answers"]
    forged = {name: values[0] for name, values in r1_page1.radio_groups.items()}
    assert any(saved[k] != int(v) for k, v in forged.items() if v != "na")
    stale = client.post(
        f"/i/{token}/1", data={"csrf_token": r1_page1.csrf_token, "rating": "1", **forged}
    )
    assert stale.status_code == 302 and stale.headers["Location"].endswith(f"/i/{token}/2")
    assert store.get_response(db, stored[1]["id"])["answers"] == saved
    # a new browser (no cookie) through the invitation resumes rating 2 at page 2
    other = Respondent(fresh_client(client), seed=7)
    resumed = other.get(f"/i/{token}")
    assert resumed.url == f"/i/{token}/2"
    assert f"About {name2} (2 of 2)" in resumed.text
    assert other.get(f"/i/{token}/brands").url == f"/i/{token}/2"
    # reloading page 1 of rating 2 shows rating 2 (with its saved answers)
    reload1 = other.get(f"/i/{token}/1")
    assert f"{name2} keeps the promises" in reload1.text and reload1.checked
    final = walk_ratings(other, other.get(f"/i/{token}/2"))
    assert other.pages[-1].url == f"/i/{token}/thanks" and final
    stored = rows(db, multi["id"])
    assert [(r["position"], r["status"]) for r in stored] == [(1, "complete"), (2, "complete")]
    assert [r["brand"] for r in stored] == choice["rated"]
    assert "already" in other.get(f"/i/{token}").text.lower()
    assert len(rows(db, multi["id"])) == 2


def to_brand_page_or_page(person: Respondent, url: str):
    return person.get(url)


def test_public_link_resumes_through_the_session(client, multi, db):
    person = Respondent(client, seed=8)
    page = person.post(to_brand_page(person, "/s/multi"), {"brand": ["globex", "umbrella"]})
    page = person.answer_page(page)
    assert person.get("/s/multi").url == "/s/multi/2"
    # finish rating 1, then come back: rating 2's first page
    for _ in range(20):
        if page.url == "/s/multi/1":
            break
        page = person.answer_page(page)
    assert "Now about" in page.text
    assert person.get("/s/multi").url == "/s/multi/1"
    assert person.get("/s/multi/thanks").url == "/s/multi/1"
    with client.session_transaction() as s:
        [key] = s["respondents"].values()
    assert {r["respondent"] for r in rows(db, multi["id"])} == {key}
    assert len(rows(db, multi["id"])) == 2


def test_a_next_rating_that_cannot_start_keeps_the_completed_one(client, multi, db, monkeypatch):
    """If the next rating cannot start (e.g. the campaign closed between the page check
    and the insert), the rating just answered is still complete."""
    person = Respondent(client, seed=9)
    page = person.post(to_brand_page(person, "/s/multi"), {"brand": ["acme", "globex"]})
    real = store.start_response

    def refuse_later_ratings(*args, **kw):
        if kw.get("brand_position"):
            raise ValueError("campaign 'multi' is not open")
        return real(*args, **kw)

    monkeypatch.setattr(store, "start_response", refuse_later_ratings)
    for _ in range(20):
        if page.url.endswith("/thanks"):
            break
        page = person.answer_page(page)
    assert page.url == "/s/multi/thanks"
    [r] = rows(db, multi["id"])
    assert (r["position"], r["status"]) == (1, "complete")


@pytest.mark.parametrize("lang", ["en", "ru", "fa"])
def test_a_customer_of_none_of_the_brands_is_thanked_and_nothing_is_kept(
    client, multi, invitations, db, lang
):
    """ "I am not a customer of any of these" ends the visit with a thank-you page: the
    response started at consent (no answers yet) is erased, no brand choice is kept,
    and an invitation stays used (its link then says it was answered)."""
    [token] = invitations("multi", 1)
    person = Respondent(client, seed=8)
    page = to_brand_page(person, f"/i/{token}?lang={lang}")
    button = {
        "en": "I am not a customer of any of these",
        "ru": "Я не являюсь клиентом ни одной из этих компаний",
        "fa": "مشتری هیچ‌یک از این شرکت‌ها نیستم",
    }[lang]
    assert button in page.text
    assert len(rows(db, multi["id"])) == 1  # started at consent
    # without the CSRF token: refused, nothing erased
    assert client.post(f"/i/{token}/brands", data={"action": "none"}).status_code == 400
    assert len(rows(db, multi["id"])) == 1
    done = person.post(page, {"action": "none", "brand": ["acme"]})  # ticks are ignored
    assert done.status == 200
    thanks = {"en": "we have no questions for you", "ru": "у нас нет к Вам вопросов"}
    assert thanks.get(lang, "پرسشی برای شما نداریم") in done.text
    assert rows(db, multi["id"]) == []
    assert db.execute("SELECT count(*) FROM brand_choices").fetchone()[0] == 0
    used = db.execute("SELECT used_at, response_id FROM invitations").fetchone()
    assert used[0] is not None and used[1] is None
    again = person.get(f"/i/{token}")  # the "already answered" page, no consent form
    assert again.status == 200 and 'name="consent"' not in again.html
    if lang == "en":
        assert "already" in again.text.lower()
    # a public-link visitor who screens out may open the link again and start afresh
    other = Respondent(fresh_client(client), seed=9)
    page = to_brand_page(other, "/s/multi")
    assert other.post(page, {"action": "none"}).status == 200
    assert rows(db, multi["id"]) == []
    assert to_brand_page(other, "/s/multi").status == 200
