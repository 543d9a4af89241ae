"""Issue 11 in Chromium, in English and Persian: the service-recovery follow-up appears
after a "yes" to a trust breach and not after all "no"; Back from the follow-up keeps
the answers; the open "why" is stored. Writes ``artifacts/screenshots/readme/
followup-{en,fa}.png`` (phone width); with ``TRUSTMETER_UPDATE_SCREENSHOTS=1`` also
``docs/screenshots/``."""

from __future__ import annotations

import base64
import os
import random
import shutil

import pytest

pytest.importorskip("selenium", reason="selenium is not installed: pip install -e '.[test]'")
from selenium.webdriver.common.by import By  # noqa: E402

from survey.storage import item_states, store  # noqa: E402

from .conftest import ARTIFACTS, ROOT  # noqa: E402
from .helpers import (  # noqa: E402
    checked,
    click,
    consent_by_clicking,
    doc_dir,
    label,
    navigating,
    open_url,
    option_values,
    questions,
    submit,
)
from .test_readme_screenshots import _shrink  # noqa: E402

pytestmark = pytest.mark.browser

DOCS = ROOT / "docs" / "screenshots"
FOLLOW_UP = ["REC_HANDLING", "REC_RESOLVED"]
BREACH = ("BR_PROMISE", "BR_FEE", "BR_COMPLAINT", "BR_TERMS", "BR_ADS", "BR_QUALITY")


def _answer_page(driver, rng, breach_yes: bool) -> dict[str, str]:
    chosen = {}
    for item in questions(driver):
        if item in BREACH:
            value = "1" if breach_yes and item == "BR_FEE" else "0"
        else:
            value = rng.choice([v for v in option_values(driver, item) if v != "na"])
        click(driver, label(driver, item, value))
        chosen[item] = value
    return chosen


def _until_open_text(driver, rng, breach_yes: bool) -> list[list[str]]:
    seen = []
    for _ in range(10):
        if driver.find_elements(By.CSS_SELECTOR, "textarea"):
            return seen
        seen.append(sorted(questions(driver)))
        if sorted(questions(driver)) == FOLLOW_UP:
            return seen
        _answer_page(driver, rng, breach_yes)
        submit(driver)
    raise AssertionError("never reached the open question")


def _phone_shot(driver, name: str) -> None:
    phone = {"width": 390, "height": 700, "deviceScaleFactor": 2, "mobile": True}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", phone)
    try:
        driver.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
        path = ARTIFACTS / "readme" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            base64.b64decode(
                driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})["data"]
            )
        )
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    _shrink(path, max_width=720)
    assert 10_000 < path.stat().st_size < 300 * 1024
    if os.environ.get("TRUSTMETER_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS / name)


@pytest.mark.parametrize("lang", ["en", "fa"])
def test_follow_up_after_a_yes_and_back(server, survey, browser, lang):
    driver = browser()
    s = survey(invitations=1)
    rng = random.Random(3)
    open_url(driver, f"{s.invitations[0]}?lang={lang}")
    consent_by_clicking(driver)
    seen = _until_open_text(driver, rng, breach_yes=True)
    assert seen[-1] == FOLLOW_UP  # the follow-up page is shown, in the instrument's order
    assert questions(driver) == ["REC_RESOLVED", "REC_HANDLING"]
    assert doc_dir(driver) == ("rtl" if lang == "fa" else "ltr")
    legend = driver.find_element(By.CSS_SELECTOR, "#q-REC_RESOLVED legend").text
    assert "{" not in legend
    click(driver, label(driver, "REC_RESOLVED", "1"))
    _phone_shot(driver, f"followup-{lang}.png")
    back = driver.find_element(By.CSS_SELECTOR, 'button[name="action"][value="back"]')
    navigating(driver, lambda: click(driver, back))
    assert set(BREACH) <= set(questions(driver))
    assert checked(driver)["BR_FEE"] == "1"
    submit(driver)
    assert checked(driver) == {"REC_RESOLVED": "1"}  # kept by Back
    click(driver, label(driver, "REC_HANDLING", "4"))
    submit(driver)
    box = driver.find_element(By.CSS_SELECTOR, "textarea#OPEN_REASON")
    box.send_keys("+ prices rose")
    submit(driver)
    assert "/thanks" in driver.current_url
    with server.db() as db:
        token = s.invitations[0].rsplit("/", 1)[1]
        saved = store.response_for_invitation(db, store.find_invitation(db, token))
        assert saved["status"] == "complete"
        assert saved["answers"]["REC_RESOLVED"] == 1 and saved["answers"]["REC_HANDLING"] == 4
        assert item_states.texts_of(db, saved["id"]) == {"OPEN_REASON": "+ prices rose"}
        assert item_states.not_shown_of(db, saved["id"]) == []


@pytest.mark.parametrize("lang", ["en", "fa"])
def test_no_follow_up_after_all_no(server, survey, browser, lang):
    driver = browser()
    s = survey(invitations=1)
    open_url(driver, f"{s.invitations[0]}?lang={lang}")
    consent_by_clicking(driver)
    seen = _until_open_text(driver, random.Random(4), breach_yes=False)
    assert FOLLOW_UP not in seen
    assert driver.find_elements(By.CSS_SELECTOR, "textarea#OPEN_REASON")
    submit(driver)  # the open "why" is optional
    assert "/thanks" in driver.current_url
    with server.db() as db:
        token = s.invitations[0].rsplit("/", 1)[1]
        saved = store.response_for_invitation(db, store.find_invitation(db, token))
        assert item_states.not_shown_of(db, saved["id"]) == FOLLOW_UP
