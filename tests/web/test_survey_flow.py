"""The respondent flow end to end, through the HTML, with CSRF enabled."""

from __future__ import annotations

import re
import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import pytest
from conftest import Respondent, parse_page

from survey.storage import store

PERSIAN_DIGITS = set("۰۱۲۳۴۵۶۷۸۹")


def response_ids(db, status=None) -> list[int]:
    sql = "SELECT id FROM responses" + (" WHERE status = ?" if status else "") + " ORDER BY id"
    return [r[0] for r in db.execute(sql, [status] if status else []).fetchall()]


def assert_stored_as_chosen(db, response_id: int, chosen: dict[str, str]) -> None:
    saved = store.get_response(db, response_id)
    for item_id, value in chosen.items():
        if value == "na":
            assert item_id in saved["na"] and item_id not in saved["answers"]
        else:
            assert saved["answers"][item_id] == int(value), item_id


# ----- a full walk-through in each language ------------------------------------------
@pytest.mark.parametrize("lang", ["en", "ru", "fa"])
def test_walk_through_in_each_language(app, client, campaign, db, lang):
    campaign()
    inst = store.campaign_instrument(db, store.get_campaign(db, "acme"))
    person = Respondent(client, seed=hash(lang) % 1000)
    final = person.walk(f"/s/acme?lang={lang}&segment=loyal")

    assert final.status == 200 and final.url == "/s/acme/thanks"
    for page in person.pages:
        assert page.lang == lang
        assert page.dir == ("rtl" if lang == "fa" else "ltr")
        assert page.scripts == 0  # no JavaScript at all, inline or not
    question_pages = [p for p in person.pages if p.has_questions]
    # show_if: a page is asked when at least one of its items is shown, given the answers
    answers = {k: int(v) for k, v in person.answers.items() if v != "na"}
    shown = [i for k in range(len(inst.pages)) for i in inst.shown_item_ids(k, answers)]
    asked_pages = [k for k in range(len(inst.pages)) if inst.shown_item_ids(k, answers)]
    assert len(question_pages) == len(asked_pages)
    # every shown item was asked, once, with the instrument's own text in that language
    # ({brand} in its neutral wording: the campaign has no brands)
    choice_shown = [i for i in shown if not inst.item(i).is_text]
    assert sorted(person.answers) == sorted(choice_shown)
    legends = [legend for p in question_pages for legend in p.legends]
    assert sorted(legends) == sorted(inst.item_text(i, lang) for i in choice_shown)
    assert all("{" not in p.text for p in question_pages)
    # page chrome is translated: progress "Page 2 of 5" in the locale's words and digits
    second = question_pages[1].text
    n = str(len(inst.pages))
    expected = {
        "en": f"Page 2 of {n}",
        "ru": f"Страница 2 из {n}",
        "fa": "صفحهٔ ۲ از " + n.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")),
    }[lang]
    assert expected in second
    assert {"en": "Thank you!", "ru": "Спасибо!", "fa": "سپاسگزاریم!"}[lang] in final.text

    [rid] = response_ids(db, "complete")
    saved = store.get_response(db, rid)
    assert saved["language"] == lang
    assert saved["direction"] == ("rtl" if lang == "fa" else "ltr")
    assert saved["params"] == {"segment": "loyal"}
    assert_stored_as_chosen(db, rid, person.answers)
    assert set(saved["answers"]) | set(saved["na"]) == set(choice_shown)


def test_last_page_and_completion_commit_together(client, campaign, db):
    # If completing fails, the last page's answers are rolled back with it: the response
    # stays started, with the last page unanswered, and the respondent is not thanked.
    campaign()
    person = Respondent(client)
    page = person.consent("/s/acme")
    for _ in range(10):  # answer every page but the last ("Page N of N")
        if re.search(r"Page (\d+) of \1\b", page.text):
            break
        page = person.answer_page(page)
    assert page.has_questions and re.search(r"Page (\d+) of \1\b", page.text)
    [rid] = response_ids(db)
    db.execute(
        "CREATE TRIGGER boom BEFORE UPDATE OF status ON responses "
        "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
    )
    chosen = person.fill(page)
    with pytest.raises(sqlite3.IntegrityError, match="injected failure"):
        person.post(page, chosen)
    saved = store.get_response(db, rid)
    assert saved["status"] == "started"
    assert not set(chosen) & (set(saved["answers"]) | set(saved["na"]))
    db.execute("DROP TRIGGER boom")
    assert "/thanks" in person.post(page, chosen).url
    assert store.get_response(db, rid)["status"] == "complete"


def test_persian_pages_use_persian_digits_and_keep_the_codes(app, client, campaign, db):
    campaign()
    person = Respondent(client)
    page = person.consent("/s/acme?lang=fa")
    nps_page = None
    while page.has_questions:
        if "NPS" in page.radio_groups:
            nps_page = page
        page = person.answer_page(page)
    assert nps_page is not None
    # the 0-10 scale shows Persian digits, but submits the same codes 0..10
    assert nps_page.radio_groups["NPS"] == [str(c) for c in range(11)]
    shown = [nps_page.labels[f"NPS-{c}"] for c in range(11)]
    assert [s.split()[0] for s in shown] == list("۰۱۲۳۴۵۶۷۸۹") + ["۱۰"]
    assert not re.search(r"[0-9]", " ".join(s.split()[0] for s in shown))
    [rid] = response_ids(db, "complete")
    assert_stored_as_chosen(db, rid, person.answers)


def test_scale_items_are_labelled_radio_groups(client, campaign, db):
    campaign()
    inst = store.campaign_instrument(db, store.get_campaign(db, "acme"))
    page = Respondent(client).consent("/s/acme")
    item = next(iter(page.radio_groups))
    assert page.radio_groups[item] == [str(c) for c in inst.scale.codes] + ["na"]
    for code in inst.scale.codes:
        assert page.labels[f"{item}-{code}"] == inst.scale.label("en", code)
    assert page.labels[f"{item}-na"] == inst.scale.not_applicable_label["en"]
    assert page.html.count("<fieldset") == len(page.radio_groups)
    assert page.html.count("<legend") == len(page.radio_groups)


def test_item_order_is_randomised_within_pages_and_recorded(app, campaign, db):
    campaign()
    inst = store.campaign_instrument(db, store.get_campaign(db, "acme"))
    pages = [inst.page_item_ids(p) for p in inst.pages]
    orders = []
    for seed in range(4):
        person = Respondent(app.test_client(), seed=seed)
        page = person.consent("/s/acme")
        shown = list(page.radio_groups)
        rid = response_ids(db)[-1]
        recorded = store.get_response(db, rid)["item_order"]
        assert [sorted(p) for p in recorded] == [sorted(p) for p in pages]
        assert shown == recorded[0]  # the page shows the recorded order
        # a reload shows the same order
        assert list(person.get("/s/acme/1").radio_groups) == shown
        orders.append(tuple(shown))
    assert len(set(orders)) > 1


def test_checklist_is_yes_no_and_nps_eleven_points(client, campaign, db):
    campaign()
    inst = store.campaign_instrument(db, store.get_campaign(db, "acme"))
    person = Respondent(client)
    page = person.consent("/s/acme")
    seen = {}
    while page.has_questions:
        seen.update(page.radio_groups)
        if inst.checklist.item_ids[0] in page.radio_groups:
            last = page  # the checklist's page
        page = person.answer_page(page)
    for item_id in inst.checklist.item_ids:
        assert seen[item_id] == ["1", "0"]
        assert last.labels[f"{item_id}-1"] == "Yes" and last.labels[f"{item_id}-0"] == "No"
    assert inst.render(inst.checklist.prompt, "en") in last.text
    assert seen["NPS"] == [str(c) for c in range(11)]


# ----- consent ---------------------------------------------------------------------
def test_consent_is_required(client, campaign, db):
    campaign()
    person = Respondent(client)
    intro = person.get("/s/acme")
    page = person.post(intro, {})
    assert page.status == 400
    assert "Please tick the box to agree before you start." in page.text
    assert 'href="#consent"' in page.html
    assert response_ids(db) == []


def test_consent_over_https_with_same_origin_referer(client, campaign, db):
    # Over HTTPS, Flask-WTF's CSRF check requires a same-origin Referer. Browsers send it
    # only if the page's Referrer-Policy allows it (it is "same-origin"; "no-referrer"
    # made every respondent POST over HTTPS fail with 400).
    campaign()
    base = "https://survey.example"
    intro = client.get("/s/acme", base_url=base)
    assert intro.headers["Referrer-Policy"] == "same-origin"
    token = parse_page(intro).csrf_token
    refused = client.post("/s/acme", base_url=base, data={"csrf_token": token, "consent": "y"})
    assert refused.status_code == 400  # no Referer at all: refused over HTTPS
    r = client.post(
        "/s/acme",
        base_url=base,
        headers={"Referer": f"{base}/s/acme"},
        data={"csrf_token": token, "consent": "y"},
    )
    assert r.status_code == 302 and "/s/acme/1" in r.headers["Location"]
    assert len(response_ids(db)) == 1


# ----- validation ------------------------------------------------------------------
def started(client, url="/s/acme"):
    person = Respondent(client)
    return person, person.consent(url)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("missing", "Please answer this question."),
        ("out_of_range", "Please choose one of the answers shown."),
        ("forged", "Please choose one of the answers shown."),
    ],
)
def test_invalid_answer_rerenders_page_with_message_and_keeps_answers(
    client, campaign, db, change, message
):
    campaign()
    person, page = started(client)
    data = person.fill(page)
    target = sorted(data)[0]
    if change == "missing":
        del data[target]
    else:
        data[target] = {"out_of_range": "99", "forged": "<script>alert(1)</script>"}[change]
    again = person.post(page, data)
    assert again.status == 400
    assert again.url == page.url
    assert message in again.text
    # the message is at the item (inside its fieldset) and in the summary, linked
    fieldset = re.search(rf'<fieldset[^>]*id="q-{target}".*?</fieldset>', again.html, re.S)
    assert message in fieldset.group(0)
    assert f'href="#{target}-' in again.html
    assert "<script>" not in again.html
    # the other answers are kept
    assert again.checked == {k: v for k, v in data.items() if k != target}
    # nothing was saved for the page
    [rid] = response_ids(db)
    assert store.get_response(db, rid)["answers"] == {}
    # correcting it moves on
    data[target] = again.radio_groups[target][0]
    assert person.post(again, data).url == "/s/acme/2"


def test_extra_fields_are_ignored_and_never_stored(client, campaign, db):
    campaign()
    person, page = started(client)
    data = person.fill(page)
    other_item = "CON1" if "CON1" not in data else "REL1"
    data.update({"evil": "1", other_item: "7", "status": "complete", "language": "xx"})
    assert person.post(page, data).url == "/s/acme/2"
    [rid] = response_ids(db)
    saved = store.get_response(db, rid)
    assert set(saved["answers"]) | set(saved["na"]) == set(data) - {
        "evil",
        other_item,
        "status",
        "language",
    }
    assert saved["status"] == "started" and saved["language"] == "en"


def test_wrong_or_missing_csrf_token_is_refused_with_a_translated_page(client, campaign, db):
    campaign()
    person, page = started(client, "/s/acme?lang=ru")
    data = person.fill(page)
    bad = person.post(page, {**data, "csrf_token": "forged"})
    assert bad.status == 400
    assert "Срок действия страницы истёк" in bad.text and bad.lang == "ru"
    missing = person.post(page, data, csrf=False)
    assert missing.status == 400
    [rid] = response_ids(db)
    assert store.get_response(db, rid)["answers"] == {}
    # the consent form is protected too
    intro = Respondent(client).get("/s/acme")
    assert Respondent(client).post(intro, {"consent": "y"}, csrf=False).status == 400


def test_skipping_ahead_is_redirected_to_the_first_unanswered_page(client, campaign, db):
    campaign()
    person, page = started(client)
    assert person.get("/s/acme/4").url == "/s/acme/1"
    skipped = person.post(person.get("/s/acme/4"), {})  # posts to page 1: refused there
    assert skipped.url == "/s/acme/1" and skipped.status == 400
    assert person.get("/s/acme/99").status == 404


def test_a_partial_response_is_never_complete(client, campaign, db):
    campaign()
    person, page = started(client)
    for _ in range(3):
        page = person.answer_page(page)
    [rid] = response_ids(db)
    assert store.get_response(db, rid)["status"] == "started"
    assert person.get("/s/acme/thanks").url == "/s/acme/4"  # no thank-you before the end


# ----- idempotence, resume, reuse -----------------------------------------------
def test_reposting_a_saved_page_changes_nothing(client, campaign, db):
    campaign()
    person, page = started(client)
    data = person.fill(page)
    first = person.post(page, {**data, "csrf_token": page.csrf_token})
    second = person.post(page, data)  # e.g. a double click
    assert first.url == second.url == "/s/acme/2"
    [rid] = response_ids(db)
    saved = store.get_response(db, rid)
    assert saved["status"] == "started"
    assert_stored_as_chosen(db, rid, data)


def test_double_submit_of_the_last_page_stores_one_response(client, campaign, db):
    campaign()
    person, page = started(client)
    while True:
        data = person.fill(page)
        nxt = person.post(page, data)
        if not nxt.has_questions:
            break
        page = nxt
    assert nxt.url == "/s/acme/thanks"
    again = person.post(page, data)
    assert again.status == 409
    assert "You have already answered this survey" in again.text
    assert len(response_ids(db)) == 1 and len(response_ids(db, "complete")) == 1
    # coming back to the public link in the same browser: already answered, no form
    back = person.get("/s/acme")
    assert back.status == 200 and "You have already answered this survey" in back.text
    assert not back.has_form


def test_public_link_resumes_after_reload(client, campaign, db):
    campaign()
    person, page = started(client)
    page = person.answer_page(page)
    page = person.answer_page(page)
    assert page.url == "/s/acme/3"
    # coming back through the link continues on page 3, with the answers kept
    back = person.get("/s/acme")
    assert back.url == "/s/acme/3"
    earlier = person.get("/s/acme/1")
    assert earlier.checked == {k: v for k, v in person.answers.items() if k in earlier.radio_groups}
    page = person.get("/s/acme/3")
    while page.has_questions:
        page = person.answer_page(page)
    assert page.url == "/s/acme/thanks"
    [rid] = response_ids(db, "complete")
    assert_stored_as_chosen(db, rid, person.answers)
    # another browser (no session cookie) starts its own response
    stranger = Respondent(client.application.test_client())
    assert stranger.consent("/s/acme").url == "/s/acme/1"
    assert len(response_ids(db)) == 2


def test_invitation_link_resumes_and_is_single_use(app, client, campaign, invitations, db):
    campaign()
    [token] = invitations("acme", 1, {"segment": "vip"})
    person = Respondent(client)
    page = person.consent(f"/i/{token}")
    assert page.url == f"/i/{token}/1"
    page = person.answer_page(page)
    # a different browser (e.g. the link opened on the phone) resumes the same response
    phone = Respondent(app.test_client())
    resumed = phone.get(f"/i/{token}")
    assert resumed.url == f"/i/{token}/2"
    while resumed.has_questions:
        resumed = phone.answer_page(resumed)
    assert resumed.url == f"/i/{token}/thanks"
    [rid] = response_ids(db)
    saved = store.get_response(db, rid)
    assert saved["status"] == "complete" and saved["params"] == {"segment": "vip"}
    assert store.find_invitation(db, token)["response_id"] == rid
    # the link is used: a second visit or submission gets "already answered"
    for who in (person, Respondent(app.test_client())):
        again = who.get(f"/i/{token}")
        assert again.status == 200 and "You have already answered this survey" in again.text
        assert not again.has_form
    late = person.post(page, person.fill(page))
    assert late.status == 409 and "already answered" in late.text
    assert response_ids(db) == [rid]


def test_unknown_invitation_token_is_not_found(client, campaign):
    campaign()
    for token in ("nope", "x" * 300, "%00", "../acme"):
        assert client.get(f"/i/{token}").status_code == 404
    assert client.get("/s/no-such-campaign").status_code == 404


def test_two_concurrent_submissions_with_one_token_store_one_response(
    app, campaign, invitations, db
):
    campaign()
    [token] = invitations("acme", 1)
    last = f"/i/{token}/{len(store.campaign_instrument(db, store.get_campaign(db, 'acme')).pages)}"
    barrier = threading.Barrier(2, timeout=30)
    results, errors = [], []

    def respond(seed):
        try:
            person = Respondent(app.test_client(), seed=seed)
            page = person.consent(f"/i/{token}")
            while page.has_questions:
                data = person.fill(page)
                if page.url == last:
                    barrier.wait()  # both submit the last page at the same moment
                page = person.post(page, data)
            results.append((page.status, page.url))
        except Exception as e:  # reported below, in the main thread
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=respond, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(results) == 2
    assert all(status < 500 for status, _ in results)
    complete = response_ids(db, "complete")
    assert len(complete) == 1
    assert store.find_invitation(db, token)["response_id"] == complete[0]


# ----- URL parameters ----------------------------------------------------------------
def test_declared_url_params_are_recorded_and_undeclared_ignored(client, campaign, db):
    campaign(params=("segment", "channel"))
    long = "x" * 5000
    url = (
        "/s/acme?segment=%20loyal%00%1b[31m%E2%80%AE&channel="
        + long
        + "&utm_source=mail&password=secret"
    )
    Respondent(client).consent(url)
    [rid] = response_ids(db)
    params = store.get_response(db, rid)["params"]
    assert params == {"segment": "loyal[31m", "channel": "x" * 100}


def test_url_params_survive_the_language_switch(client, campaign):
    campaign()
    intro = Respondent(client).get("/s/acme?segment=new&lang=en")
    assert 'href="/s/acme?segment=new&amp;lang=fa"' in intro.html


# ----- closed campaigns ------------------------------------------------------------
def test_closed_campaign_shows_closed_and_accepts_nothing(client, campaign, db):
    campaign()
    person = Respondent(client)
    intro = person.get("/s/acme")
    page = person.post(intro, {"consent": "y"})
    store.close_campaign(db, "acme")
    closed = person.get("/s/acme")
    assert closed.status == 410 and "This survey has closed" in closed.text
    assert not closed.has_form
    refused = person.post(page, person.fill(page))
    assert refused.status == 410
    assert person.post(intro, {"consent": "y"}).status == 410
    [rid] = response_ids(db)
    assert store.get_response(db, rid)["answers"] == {}


def test_campaign_past_closes_at_or_not_yet_open(client, campaign):
    now = datetime.now(UTC)
    campaign("past", closes_at=now - timedelta(days=2))
    campaign("future", opens_at=now + timedelta(days=2))
    past = client.get("/s/past?lang=fa")
    assert past.status_code == 410
    assert "این نظرسنجی به پایان رسیده است" in past.get_data(as_text=True)
    future = parse_page(client.get("/s/future"))
    assert future.status == 403 and "This survey is not open yet" in future.text


def test_pages_are_not_cached_nor_leak_the_token(client, campaign, invitations):
    campaign()
    [token] = invitations("acme", 1)
    response = client.get(f"/i/{token}")
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_server_error_page_is_friendly_and_translated(tmp_path):
    from survey import create_app

    app = create_app(
        {
            "DATABASE": str(tmp_path / "missing-dir" / "x.db"),
            "SECRET_KEY": "x",
            "PROPAGATE_EXCEPTIONS": False,
        }
    )
    # The error is logged; keep the test output quiet. app.logger is the process-wide
    # "survey" logger, so re-enable it: other tests read its records.
    app.logger.disabled = True
    try:
        response = app.test_client().get("/s/acme", headers={"Accept-Language": "ru"})
    finally:
        app.logger.disabled = False
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Что-то пошло не так" in body and 'lang="ru"' in body
    assert "Traceback" not in body and "missing-dir" not in body
