"""Issue 11 in the respondent flow (Flask test client, CSRF on): the service-recovery
follow-up of customer-trust 1.1.0 is shown after a "yes" to a trust breach and absent
after all "no"; a POST naming a hidden question is refused; "not shown" is stored apart
from "not answered"; the open "why" is optional, cleaned and stored apart from the
numeric answers; Back keeps answers across the follow-up page."""

from __future__ import annotations

import pytest
from conftest import Respondent

from survey.storage import item_states, store

FOLLOW_UP = ("REC_RESOLVED", "REC_HANDLING")


def chooser(breach: dict[str, str]):
    def choose(name, values, rng):
        if name in breach:
            return breach[name]
        codes = [v for v in values if v != "na"]
        return rng.choice(codes)

    return choose


def _walk_to_text_page(client, breach: dict[str, str], seed: int = 1):
    person = Respondent(client, seed=seed, choose=chooser(breach))
    page = person.consent("/s/acme")
    for _ in range(10):
        if "<textarea" in page.html:
            return person, page
        page = person.answer_page(page)
    raise AssertionError("no open-text page")


def _rid(db) -> int:
    [rid] = [r[0] for r in db.execute("SELECT id FROM responses").fetchall()]
    return rid


def test_follow_up_shown_after_a_yes(client, campaign, db):
    campaign()
    inst = store.campaign_instrument(db, store.get_campaign(db, "acme"))
    breach = {i: "0" for i in inst.checklist.item_ids}
    breach[inst.checklist.item_ids[1]] = "1"
    person, page = _walk_to_text_page(client, breach)
    follow = [p for p in person.pages if set(FOLLOW_UP) <= set(p.radio_groups)]
    assert len(follow) == 1
    assert "Has this company resolved it?" in follow[0].text  # {brand}: neutral wording
    saved = store.get_response(db, _rid(db))
    assert all(saved["answers"].get(i) is not None for i in FOLLOW_UP)
    assert item_states.not_shown_of(db, _rid(db)) == []


def test_follow_up_absent_after_all_no_and_stored_as_not_shown(client, campaign, db):
    campaign()
    inst = store.campaign_instrument(db, store.get_campaign(db, "acme"))
    person, page = _walk_to_text_page(client, {i: "0" for i in inst.checklist.item_ids})
    assert not any(set(FOLLOW_UP) & set(p.radio_groups) for p in person.pages)
    assert page.url == f"/s/acme/{len(inst.pages)}"  # the follow-up page was skipped
    rid = _rid(db)
    assert item_states.not_shown_of(db, rid) == sorted(FOLLOW_UP)
    # a GET of the hidden page moves on; a POST to a hidden question is refused
    assert client.get(f"/s/acme/{len(inst.pages) - 1}").status_code == 302
    for data in ({"REC_RESOLVED": "2", "REC_HANDLING": "5"}, {"REC_HANDLING": "1"}):
        r = client.post(
            f"/s/acme/{len(inst.pages) - 1}", data={"csrf_token": page.csrf_token, **data}
        )
        assert r.status_code == 400
    assert all(store.get_response(db, rid)["answers"].get(i) is None for i in FOLLOW_UP)
    # finishing: "why" left empty is fine (optional), the response is complete
    final = person.post(page, {"OPEN_REASON": ""})
    assert final.url == "/s/acme/thanks"
    assert store.get_response(db, rid)["status"] == "complete"
    assert item_states.not_shown_of(db, rid) == sorted(FOLLOW_UP)
    assert item_states.texts_of(db, rid) == {}


def test_a_yes_changed_to_no_clears_the_follow_up(client, campaign, db):
    campaign()
    inst = store.campaign_instrument(db, store.get_campaign(db, "acme"))
    first = inst.checklist.item_ids[0]
    breach = {i: "0" for i in inst.checklist.item_ids}
    person, page = _walk_to_text_page(client, {**breach, first: "1"})
    rid = _rid(db)
    assert all(store.get_response(db, rid)["answers"].get(i) is not None for i in FOLLOW_UP)
    checklist_page = inst.page_of(first) + 1
    again = person.get(f"/s/acme/{checklist_page}")
    nxt = person.post(again, {**again.checked, first: "0"})
    assert nxt.url == f"/s/acme/{len(inst.pages)}"  # straight to the open "why"
    saved = store.get_response(db, rid)
    assert all(saved["answers"].get(i) is None for i in FOLLOW_UP)
    assert item_states.not_shown_of(db, rid) == sorted(FOLLOW_UP)


def test_open_text_is_cleaned_limited_and_stored_apart(client, campaign, db):
    campaign()
    inst = store.campaign_instrument(db, store.get_campaign(db, "acme"))
    item = inst.item("OPEN_REASON")
    person, page = _walk_to_text_page(client, {i: "0" for i in inst.checklist.item_ids})
    assert f'maxlength="{item.max_length}"' in page.html
    too_long = person.post(page, {"OPEN_REASON": "x" * (item.max_length + 1)})
    assert too_long.status == 400 and "characters" in too_long.text
    done = person.post(too_long, {"OPEN_REASON": "  =1+1 \u202eevil\u202c\x00 fees  "})
    assert done.url == "/s/acme/thanks"
    rid = _rid(db)
    assert item_states.texts_of(db, rid) == {"OPEN_REASON": "=1+1 evil fees"}
    table = store.answers_table(db, inst)
    cols = [r[1] for r in db.execute(f'PRAGMA table_info("{table}")').fetchall()]
    assert "OPEN_REASON" not in cols  # never in the numeric answers


@pytest.mark.parametrize("lang", ["en", "fa"])
def test_back_from_the_follow_up_keeps_answers(client, campaign, db, lang):
    campaign()
    inst = store.campaign_instrument(db, store.get_campaign(db, "acme"))
    breach = {i: "1" for i in inst.checklist.item_ids}
    person = Respondent(client, seed=2, choose=chooser(breach))
    page = person.consent(f"/s/acme?lang={lang}")
    while not set(FOLLOW_UP) <= set(page.radio_groups):
        page = person.answer_page(page)
    back = person.post(page, {"REC_RESOLVED": "1", "action": "back"})
    assert back.status == 200 and set(inst.checklist.item_ids) <= set(back.radio_groups)
    assert back.checked == breach
    forward = person.post(back, back.checked)
    assert forward.checked == {"REC_RESOLVED": "1"}
    assert store.get_response(db, _rid(db))["answers"]["REC_RESOLVED"] == 1
