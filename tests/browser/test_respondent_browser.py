"""The respondent flow in a real browser: headless Chromium against ``trustmeter serve``.

Answers are given the way a person gives them (clicking labels, or the keyboard
alone); what the database holds afterwards is compared with what was clicked.
"""

from __future__ import annotations

import random
import re

import pytest

pytest.importorskip("selenium", reason="selenium is not installed: pip install -e '.[test]'")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

from survey.storage import item_states, store  # noqa: E402

from .conftest import ARTIFACTS, DESKTOP  # noqa: E402
from .helpers import (  # noqa: E402
    MOBILE,
    PAGES,
    PERSIAN_DIGITS,
    answer_by_clicking,
    checked,
    click,
    consent_by_clicking,
    doc_dir,
    doc_lang,
    fonts_used,
    h1,
    has_questions,
    label,
    navigating,
    open_url,
    option_values,
    pages_expected,
    path_of,
    persian_font_families,
    questions,
    rect,
    screenshot,
    stored_as_chosen,
    submit,
)

pytestmark = pytest.mark.browser

THANKS = {"en": "Thank you!", "fa": "سپاسگزاریم!"}
DIRECTION = {"en": "ltr", "fa": "rtl"}


def token_of(invitation_url: str) -> str:
    return invitation_url.rsplit("/", 1)[1]


def stored_response(server, invitation_url: str) -> dict:
    with server.db() as db:
        inv = store.find_invitation(db, token_of(invitation_url))
        assert inv is not None, "unknown invitation"
        response = store.response_for_invitation(db, inv)
        assert response is not None, "no response started"
        return store.get_response(db, response["id"])


def all_item_ids(server, slug: str) -> list[str]:
    with server.db() as db:
        return list(store.campaign_instrument(db, store.get_campaign(db, slug)).item_ids)


def shoot(driver, name: str) -> None:
    """Every page, as a test artifact: desktop and phone."""
    screenshot(driver, ARTIFACTS / f"{name}-desktop.png", width=DESKTOP[0], height=DESKTOP[1])
    screenshot(
        driver, ARTIFACTS / f"{name}-mobile.png", width=MOBILE[0], height=MOBILE[1], mobile=True
    )


# ----- the whole survey by mouse, in English and in Persian ---------------------------------
@pytest.mark.parametrize("lang", ["en", "fa"])
def test_complete_survey_by_clicking(server, survey, driver, lang):
    s = survey(invitations=1)
    [link] = s.invitations
    token = token_of(link)
    open_url(driver, link)  # the browser asks for English (Accept-Language en-US)
    assert doc_lang(driver) == "en"
    if lang != "en":  # choose the language with the switcher, as a respondent would
        switch = driver.find_element(By.CSS_SELECTOR, f'nav.languages a[hreflang="{lang}"]')
        navigating(driver, lambda: click(driver, switch))
    assert (doc_lang(driver), doc_dir(driver)) == (lang, DIRECTION[lang])
    shoot(driver, f"{lang}-0-intro")
    consent_by_clicking(driver)

    rng = random.Random(f"click-{lang}")
    answers: dict[str, str] = {}
    number = 0
    while has_questions(driver):
        number += 1
        assert number <= PAGES, "the questionnaire does not end (a redirect loop?)"
        if number == PAGES - 1 and not pages_expected(answers) == PAGES:
            number += 1  # the follow-up page was skipped: no breach
        assert path_of(driver) == f"/i/{token}/{number}"
        assert (doc_lang(driver), doc_dir(driver)) == (lang, DIRECTION[lang])
        chosen = answer_by_clicking(driver, rng)
        assert not set(chosen) & set(answers), "an item was asked twice"
        answers.update(chosen)
        shoot(driver, f"{lang}-{number}-page")
        submit(driver)
    assert number == pages_expected(answers)
    assert path_of(driver) == f"/i/{token}/thanks"
    assert h1(driver) == THANKS[lang]
    assert (doc_lang(driver), doc_dir(driver)) == (lang, DIRECTION[lang])
    shoot(driver, f"{lang}-6-thanks")

    with server.db() as db:
        counts = store.campaign_counts(db, s.slug)
    assert (counts["started"], counts["completed"]) == (1, 1)
    saved = stored_response(server, link)
    assert saved["status"] == "complete"
    assert saved["language"] == lang and saved["direction"] == DIRECTION[lang]
    assert sorted(answers) == sorted(all_item_ids(server, s.slug))
    assert stored_as_chosen(saved, answers) == answers
    assert set(saved["answers"]) | set(saved["na"]) == set(answers)


# ----- right to left ------------------------------------------------------------------------
def centre_x(driver, element) -> float:
    r = rect(driver, element)
    return r["x"] + r["width"] / 2


def test_persian_layout_is_mirrored_and_stores_the_same_codes(server, survey, driver):
    s = survey(invitations=2)
    seen = {}
    for lang, link in zip(("en", "fa"), s.invitations, strict=True):
        open_url(driver, f"{link}?lang={lang}")
        consent_by_clicking(driver)
        assert doc_dir(driver) == DIRECTION[lang]
        assert (
            driver.execute_script("return getComputedStyle(document.body).direction")
            == DIRECTION[lang]
        )
        items = questions(driver)
        for item in items:
            one, seven = label(driver, item, "1"), label(driver, item, "7")
            assert abs(rect(driver, one)["y"] - rect(driver, seven)["y"]) < 1, (
                "the 7-point scale is not one row at desktop width"
            )
            x1, x7 = centre_x(driver, one), centre_x(driver, seven)
            if lang == "fa":
                assert x1 > x7, f"{item}: code 1 is not right of code 7 in Persian"
            else:
                assert x1 < x7, f"{item}: code 1 is not left of code 7 in English"
            # the radio sits in its own tile, so the radios mirror too
            radio1 = driver.find_element(By.ID, f"{item}-1")
            radio7 = driver.find_element(By.ID, f"{item}-7")
            assert (centre_x(driver, radio1) > centre_x(driver, radio7)) == (lang == "fa")
        if lang == "fa":  # Persian text is drawn with a font that has Persian glyphs
            persian_fonts = persian_font_families()
            if persian_fonts is not None:
                for selector in ("h1", "legend", "label"):
                    used = fonts_used(driver, selector)
                    main_font = max(used, key=used.get)
                    assert main_font in persian_fonts, (
                        f"{selector} drawn mainly with {main_font} ({used}); fonts with "
                        f"Persian: {sorted(persian_fonts) or 'none: install fonts-noto-core'}"
                    )
        progress = driver.find_element(By.ID, "progress-label").text
        seen[lang] = progress
        if lang == "fa":
            assert set(progress) & set(PERSIAN_DIGITS) and not re.search(r"[0-9]", progress)
            assert "۱" in progress and "۷" in progress
        else:
            assert progress == f"Page 1 of {PAGES}"

        # Click the option shown first in reading order (rightmost in fa, leftmost in en):
        # it is "strongly disagree", code 1, in both languages.
        for item in items:
            tiles = [label(driver, item, v) for v in option_values(driver, item) if v != "na"]
            xs = [centre_x(driver, t) for t in tiles]
            first = tiles[xs.index(max(xs) if lang == "fa" else min(xs))]
            click(driver, first)
        assert checked(driver) == dict.fromkeys(items, "1")
        submit(driver)
        assert path_of(driver).endswith("/2")
        saved = stored_response(server, link)
        assert saved["language"] == lang and saved["direction"] == DIRECTION[lang]
        assert saved["answers"] == dict.fromkeys(items, 1)

        if lang == "fa":  # on to the NPS page: Persian digits on a mirrored 0-10 row
            rng = random.Random(7)
            for _ in range(PAGES):
                if "NPS" in questions(driver):
                    break
                answer_by_clicking(driver, rng)
                submit(driver)
            numbers = [
                label(driver, "NPS", str(c)).find_element(By.CLASS_NAME, "number")
                for c in range(11)
            ]
            assert all(n.is_displayed() for n in numbers)
            assert [n.text for n in numbers] == list(PERSIAN_DIGITS) + ["۱۰"]
            assert centre_x(driver, numbers[0]) > centre_x(driver, numbers[10])
            page_text = driver.find_element(By.TAG_NAME, "main").text
            assert not re.search(r"[0-9]", page_text), "Latin digits on a Persian page"
    assert seen["fa"] != seen["en"]


# ----- keyboard only ------------------------------------------------------------------------
def press(driver, *keys) -> None:
    ActionChains(driver).send_keys(*keys).perform()


def active(driver) -> dict:
    return driver.execute_script("""
        const a = document.activeElement;
        return {tag: a.tagName.toLowerCase(), type: a.type || null, id: a.id || null,
                name: a.name || null, value: a.value || null,
                focusVisible: a.matches(':focus-visible')};""")


def tab_to(driver, predicate, *, limit: int = 12, back: bool = False) -> dict:
    """Press Tab (Shift+Tab with ``back``) until the focused element satisfies ``predicate``."""
    for _ in range(limit):
        if back:
            ActionChains(driver).key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(
                Keys.SHIFT
            ).perform()
        else:
            press(driver, Keys.TAB)
        a = active(driver)
        if predicate(a):
            return a
    raise AssertionError(f"Tab never reached the element; focus is on {active(driver)}")


def focus_ring(driver, element_id: str) -> str:
    """The outline the focused radio's label shows (keyboard focus must be visible)."""
    return driver.execute_script(
        "const l = document.querySelector(`label[for='${arguments[0]}']`);"
        "const s = getComputedStyle(l); return s.outlineStyle + ' ' + s.outlineWidth;",
        element_id,
    )


def test_complete_survey_by_keyboard_only(server, survey, driver):
    s = survey(invitations=1)
    [link] = s.invitations
    open_url(driver, link)
    consent = tab_to(driver, lambda a: a["id"] == "consent")
    assert consent["focusVisible"]
    press(driver, Keys.SPACE)
    assert driver.find_element(By.ID, "consent").is_selected()
    tab_to(driver, lambda a: a["tag"] == "button" and a["type"] == "submit", limit=3)
    navigating(driver, lambda: press(driver, Keys.ENTER))

    rng = random.Random("keyboard")
    answers: dict[str, str] = {}
    number = 0
    while has_questions(driver):
        items = questions(driver)  # none on the open-text page (optional: left empty)
        number += 1
        assert number <= PAGES, "the questionnaire does not end (a redirect loop?)"
        if number == PAGES - 1 and pages_expected(answers) < PAGES:
            number += 1  # no breach: the follow-up page is skipped
        assert path_of(driver).endswith(f"/{number}")
        for i, item in enumerate(items):
            values = option_values(driver, item)
            target = rng.choice(values)
            a = tab_to(driver, lambda a, item=item: a["type"] == "radio" and a["name"] == item)
            assert a["value"] == values[0], "Tab should enter an unanswered group at its first"
            steps = values.index(target)
            if steps == 0:
                press(driver, Keys.SPACE)
            else:  # arrows move through the group and select as they go
                press(driver, *([Keys.ARROW_DOWN] * steps))
            a = active(driver)
            assert (a["name"], a["value"]) == (item, target)
            assert a["focusVisible"] and focus_ring(driver, a["id"]).startswith("solid")
            assert checked(driver).get(item) == target
            answers[item] = target
            if i == 1:  # Shift+Tab goes back to the previous question's chosen answer
                b = tab_to(driver, lambda a: a["type"] == "radio", back=True, limit=1)
                assert (b["name"], b["value"]) == (items[0], answers[items[0]])
                f = tab_to(driver, lambda a: a["type"] == "radio", limit=1)
                assert (f["name"], f["value"]) == (item, target)
        assert checked(driver) == {k: answers[k] for k in items}
        tab_to(driver, lambda a: a["tag"] == "button" and a["type"] == "submit", limit=6)
        navigating(driver, lambda: press(driver, Keys.ENTER))
    assert number == pages_expected(answers)
    assert h1(driver) == THANKS["en"]
    saved = stored_response(server, link)
    assert saved["status"] == "complete"
    assert stored_as_chosen(saved, answers) == answers
    with server.db() as db:
        hidden = item_states.not_shown_of(db, saved["id"])
    assert sorted(answers) == sorted(set(all_item_ids(server, s.slug)) - set(hidden))


# ----- resuming -------------------------------------------------------------------------------
def test_resume_after_reload_and_in_a_new_browser(server, survey, browser):
    s = survey(invitations=1)
    [link] = s.invitations
    token = token_of(link)
    rng = random.Random("resume")
    first = browser()
    open_url(first, link)
    consent_by_clicking(first)
    page1 = answer_by_clicking(first, rng)
    submit(first)
    assert path_of(first) == f"/i/{token}/2"
    page2_items = questions(first)
    answer_by_clicking(first, rng, page2_items[:3])  # part of page 2, not submitted

    first.refresh()
    assert path_of(first) == f"/i/{token}/2"
    assert questions(first) == page2_items  # same questions, same order
    saved = stored_response(server, link)
    assert saved["status"] == "started"
    assert stored_as_chosen(saved, page1) == page1
    assert not set(saved["answers"]) & set(page2_items)  # nothing of page 2 saved yet
    # page 1 shows the saved answers; Back saves the part of page 2 given so far
    partial = answer_by_clicking(first, rng, page2_items[:3])
    back = first.find_element(By.CSS_SELECTOR, 'button[name="action"][value="back"]')
    navigating(first, lambda: click(first, back))
    assert path_of(first) == f"/i/{token}/1"
    assert checked(first) == page1

    # The invitation link opened in another browser (no cookies): continues on page 2.
    second = browser()
    open_url(second, link)
    assert path_of(second) == f"/i/{token}/2"
    assert questions(second) == page2_items
    assert checked(second) == partial  # saved by Back
    answers = dict(page1)
    for _ in range(PAGES):
        if not has_questions(second):
            break
        answers.update(answer_by_clicking(second, rng))
        submit(second)
    assert h1(second) == THANKS["en"]
    saved = stored_response(server, link)
    assert saved["status"] == "complete"
    assert stored_as_chosen(saved, answers) == answers
    # the first browser, coming back, is told it is done
    open_url(first, link)
    assert "already answered" in h1(first)
    with server.db() as db:
        assert store.campaign_counts(db, s.slug)["started"] == 1


def test_public_link_resumes_after_reload(server, survey, driver):
    s = survey(invitations=0)
    open_url(driver, s.public_url)
    consent_by_clicking(driver)
    answer_by_clicking(driver, random.Random(3))
    submit(driver)
    assert path_of(driver) == f"/s/{s.slug}/2"
    driver.refresh()
    assert path_of(driver) == f"/s/{s.slug}/2"
    open_url(driver, s.public_url)  # the link again, same browser: back on page 2
    assert path_of(driver) == f"/s/{s.slug}/2"
    with server.db() as db:
        assert store.campaign_counts(db, s.slug)["started"] == 1
