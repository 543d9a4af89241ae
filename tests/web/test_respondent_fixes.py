"""Issue 11, item 5: Back keeps answers, consent is the checked value, the header shows
the instrument's title, redirects keep ``lang`` and the declared parameters, and the
0-10 scale carries its end labels for narrow screens."""

from __future__ import annotations

import re

from conftest import Respondent, parse_page

from survey.storage import store


def _header(page) -> str:
    m = re.search(r'<span class="brand">(.*?)</span>', page.html, re.S)
    assert m, "no header"
    return " ".join(m.group(1).split())


def _only_response(db) -> dict:
    [rid] = [r[0] for r in db.execute("SELECT id FROM responses").fetchall()]
    return store.get_response(db, rid)


def test_back_saves_the_current_pages_answers_without_requiring_them(client, campaign, db):
    campaign()
    person = Respondent(client, seed=3)
    first = person.consent("/s/acme")
    second = person.answer_page(first)
    assert "Page 2 of" in second.text
    groups = second.radio_groups
    assert len(groups) >= 2
    names = list(groups)
    answered = {names[0]: [v for v in groups[names[0]] if v != "na"][-1]}
    back = person.post(second, {**answered, "action": "back"})
    # no error, no "please answer": page 1 again, with its own answers still ticked
    assert back.status == 200 and back.url.endswith("/s/acme/1"), back.url
    assert "There is a problem" not in back.text
    assert back.checked == {k: v for k, v in person.answers.items() if k in back.radio_groups}
    saved = _only_response(db)
    assert saved["answers"][names[0]] == int(answered[names[0]])
    assert all(saved["answers"].get(n) is None for n in names[1:])
    # forward again: the partly answered page shows the answer given before Back
    again = person.post(back, back.checked)
    assert again.url.endswith("/s/acme/2")
    assert again.checked == answered


def test_back_ignores_a_forged_value_and_keeps_the_saved_answer(client, campaign, db):
    campaign()
    person = Respondent(client, seed=4)
    second = person.answer_page(person.consent("/s/acme"))
    name = next(iter(second.radio_groups))
    value = [v for v in second.radio_groups[name] if v != "na"][0]
    person.post(second, {name: value, "action": "back"})
    page2 = person.get("/s/acme/2")
    person.post(page2, {name: "99", "action": "back"})  # out of range: ignored
    assert _only_response(db)["answers"][name] == int(value)


def test_next_still_requires_every_answer(client, campaign):
    campaign()
    person = Respondent(client)
    first = person.consent("/s/acme")
    page = person.post(first, {})
    assert page.status == 400 and "There is a problem" in page.text


def test_the_back_control_is_a_submit_button_of_the_form(client, campaign):
    campaign()
    person = Respondent(client)
    second = person.answer_page(person.consent("/s/acme"))
    assert re.search(r'<button type="submit"[^>]*name="action" value="back"', second.html)
    assert 'href="/s/acme/1"' not in second.html


def test_consent_must_be_the_checked_value(client, campaign, db):
    campaign()
    person = Respondent(client)
    for value in ("no", "1", "on", "true", "yes", "y y"):
        intro = person.get("/s/acme")
        page = person.post(intro, {"consent": value})
        assert page.status == 400, value
        assert "Please tick the box" in page.text
        assert 'id="consent" name="consent" value="y"\n' in page.html  # not shown as ticked
    intro = person.get("/s/acme")
    page = person.post(intro, {"consent": ["y", "no"]})
    assert page.status == 400
    assert db.execute("SELECT count(*) FROM responses").fetchone()[0] == 0
    assert person.post(person.get("/s/acme"), {"consent": "y"}).url == "/s/acme/1"


def test_header_shows_the_instruments_title_on_every_page(app, campaign, db):
    campaign()
    inst = store.campaign_instrument(db, store.get_campaign(db, "acme"))
    for lang in inst.languages:
        person = Respondent(app.test_client(), seed=1)  # a new browser per language
        intro = person.get(f"/s/acme?lang={lang}")
        pages = [intro]
        page = person.post(intro, {"consent": "y"})
        while page.has_questions:
            pages.append(page)
            page = person.answer_page(page)
        pages.append(page)  # thank you
        pages.append(person.get("/s/acme"))  # already answered
        for p in pages:
            assert _header(p) == inst.title[lang], (lang, p.url)
        assert "Survey" not in _header(p) or lang == "en"


def test_deep_link_without_a_session_keeps_lang_and_declared_params(client, campaign, db):
    campaign()  # declares segment and channel
    r = client.get("/s/acme/2?lang=fa&segment=loyal&secret=x")
    assert r.status_code == 302
    location = r.headers["Location"]
    assert location.startswith("/s/acme?")
    assert "lang=fa" in location and "segment=loyal" in location
    assert "secret" not in location  # undeclared parameters are not carried
    intro = parse_page(client.get(location))
    assert intro.lang == "fa"
    r = client.get("/s/acme/thanks?lang=ru&channel=web")
    assert r.status_code == 302
    assert "lang=ru" in r.headers["Location"] and "channel=web" in r.headers["Location"]
    # consenting on the intro the deep link led to stores the carried parameter
    person = Respondent(client)
    person.post(intro, {"consent": "y"})
    assert _only_response(db)["params"] == {"segment": "loyal"}
    assert _only_response(db)["language"] == "fa"


def test_nps_shows_its_end_labels_for_the_wrapped_narrow_layout(client, campaign):
    campaign()
    person = Respondent(client, seed=2)
    page = person.consent("/s/acme?lang=fa")
    while page.radio_groups and "kind-numeric" not in page.html:
        page = person.answer_page(page)
    assert "points-11" in page.html
    ends = re.findall(
        r'<p class="scale-end (start|end)" aria-hidden="true">'
        r'<span class="number">([^<]+)</span>\s*([^<]+)</p>',
        page.html,
    )
    assert [(where, number) for where, number, _ in ends] == [("start", "۰"), ("end", "۱۰")]
    assert all(label.strip() for _, _, label in ends)
