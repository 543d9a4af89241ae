"""axe-core on every respondent page, in English and in Persian, in headless Chromium.

axe-core comes from the npm registry (``make axe``); without it these tests skip.
A page fails on any violation axe rates ``serious`` or ``critical``; all of them are
printed, for every page, before the test fails.
"""

from __future__ import annotations

import random

import pytest

pytest.importorskip("selenium", reason="selenium is not installed: pip install -e '.[test]'")
from selenium.webdriver.common.by import By  # noqa: E402

from .conftest import ARTIFACTS, DESKTOP, cli  # noqa: E402
from .helpers import (  # noqa: E402
    BLOCKING,
    MOBILE,
    PAGES,
    answer_by_clicking,
    consent_by_clicking,
    describe,
    doc_dir,
    doc_lang,
    h1,
    has_questions,
    open_url,
    pages_expected,
    path_of,
    questions,
    run_axe,
    screenshot,
    submit,
)

pytestmark = pytest.mark.browser

#: Pages outside the respondent flow, checked the same way: (name, path on the server).
OTHER_PAGES: list[tuple[str, str]] = [
    ("not-found", "/s/no-such-campaign"),
]
#: The researcher pages (signed in as an admin; ``{slug}`` is a campaign): add new ones
#: here. Each is checked by ``test_researcher_pages_have_no_serious_violations``.
RESEARCHER_PAGES: list[tuple[str, str]] = [
    ("dashboard", "/admin/"),
    ("campaign", "/admin/campaigns/{slug}"),
    ("new campaign", "/admin/campaigns/new"),
    ("close campaign", "/admin/campaigns/{slug}/close"),
    ("report", "/admin/reports/{slug}"),
    ("users", "/admin/users"),
    ("audit log", "/admin/audit"),
]
ERROR_PREFIX = {"en": "Error: ", "fa": "خطا: "}


def shoot(driver, name: str) -> None:
    screenshot(driver, ARTIFACTS / f"{name}-desktop.png", width=DESKTOP[0], height=DESKTOP[1])
    screenshot(
        driver, ARTIFACTS / f"{name}-mobile.png", width=MOBILE[0], height=MOBILE[1], mobile=True
    )


def check(driver, axe_source, where: str, findings: list[str], seen: list[str]) -> None:
    violations = run_axe(driver, axe_source)
    findings += describe(violations, where)
    minor = sorted(
        f"{v['id']} ({v.get('impact')})" for v in violations if v.get("impact") not in BLOCKING
    )
    seen.append(where + (f" -- not blocking: {', '.join(minor)}" if minor else ""))


@pytest.mark.parametrize("lang", ["en", "fa"])
def test_every_respondent_page_has_no_serious_violations(server, survey, driver, axe_source, lang):
    s = survey(invitations=1)
    [link] = s.invitations
    closed = survey(invitations=0)
    cli("campaign", "close", "--db", str(server.db_path), closed.slug)
    findings: list[str] = []
    seen: list[str] = []

    def page_check(where: str, *, mobile_too: bool = False) -> None:
        assert doc_lang(driver) == lang and doc_dir(driver) == ("rtl" if lang == "fa" else "ltr")
        check(driver, axe_source, f"{lang} {where} {path_of(driver)}", findings, seen)
        if mobile_too:  # the same page laid out for a phone (the scale becomes a list)
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": MOBILE[0], "height": MOBILE[1], "deviceScaleFactor": 1, "mobile": True},
            )
            try:
                check(
                    driver, axe_source, f"{lang} {where} (phone) {path_of(driver)}", findings, seen
                )
            finally:
                driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    open_url(driver, f"{link}?lang={lang}")
    page_check("intro")
    # the intro with its error: "Start" without ticking the consent box
    submit(driver)
    assert driver.find_elements(By.CSS_SELECTOR, ".error-summary")
    # the title says so first: it is what a screen reader announces after the reload
    assert driver.title.startswith(ERROR_PREFIX[lang]), driver.title
    page_check("intro with an error")
    screenshot(
        driver, ARTIFACTS / f"{lang}-0-intro-error-desktop.png", width=DESKTOP[0], height=DESKTOP[1]
    )
    consent_by_clicking(driver)

    rng = random.Random(f"axe-{lang}")
    number = 0
    answers: dict[str, str] = {}
    while has_questions(driver):
        items = questions(driver)
        number += 1
        assert number <= PAGES, "the questionnaire does not end (a redirect loop?)"
        page_check(f"page {number}", mobile_too=True)
        if number == 1:  # a page with validation errors: two questions left unanswered
            answer_by_clicking(driver, rng, items[2:])
            submit(driver)
            assert len(driver.find_elements(By.CSS_SELECTOR, "fieldset.has-error")) == 2
            assert driver.title.startswith(ERROR_PREFIX[lang]), driver.title
            page_check("page 1 with errors", mobile_too=True)
            screenshot(
                driver,
                ARTIFACTS / f"{lang}-1-page-errors-desktop.png",
                width=DESKTOP[0],
                height=DESKTOP[1],
            )
        answers.update(answer_by_clicking(driver, rng))
        submit(driver)
    assert number == pages_expected(answers)
    assert path_of(driver).endswith("/thanks")
    page_check("thank you")
    open_url(driver, link)  # the used invitation again
    assert not driver.find_elements(By.TAG_NAME, "form")
    page_check("already answered")
    shoot(driver, f"{lang}-7-already")
    open_url(driver, f"{closed.public_url}?lang={lang}")
    assert not driver.find_elements(By.TAG_NAME, "form")
    page_check("closed")
    shoot(driver, f"{lang}-8-closed")
    for name, path in OTHER_PAGES:
        open_url(driver, f"{server.base_url}{path}?lang={lang}")
        page_check(name)
        shoot(driver, f"{lang}-9-{name}")

    print(f"axe-core checked {len(seen)} pages:", *seen, sep="\n  ")
    assert not findings, "serious or critical accessibility violations:\n" + "\n".join(findings)


def test_researcher_pages_have_no_serious_violations(server, survey, driver, axe_source):
    s = survey(invitations=0)
    password = "a11y-Passw0rd-for-tests"
    cli(
        "user",
        "add",
        "--db",
        str(server.db_path),
        "--role",
        "admin",
        "--password-stdin",
        f"a11y{s.slug}",
        input=password + "\n",
    )
    findings: list[str] = []
    seen: list[str] = []
    open_url(driver, f"{server.base_url}/admin/login")
    check(driver, axe_source, "sign in", findings, seen)
    form = driver.find_element(By.TAG_NAME, "form")
    form.find_element(By.CSS_SELECTOR, "input[autocomplete=username]").send_keys(f"a11y{s.slug}")
    form.find_element(By.CSS_SELECTOR, "input[type=password]").send_keys("wrong password")
    submit(driver)
    check(driver, axe_source, "sign in, wrong password", findings, seen)
    form = driver.find_element(By.TAG_NAME, "form")
    form.find_element(By.CSS_SELECTOR, "input[type=password]").send_keys(password)
    username = form.find_element(By.CSS_SELECTOR, "input[autocomplete=username]")
    if not username.get_attribute("value"):
        username.send_keys(f"a11y{s.slug}")
    submit(driver)
    assert "/login" not in path_of(driver), "could not sign in"
    for name, path in RESEARCHER_PAGES:
        open_url(driver, server.base_url + path.format(slug=s.slug))
        assert "/login" not in path_of(driver), f"{name}: sent to the sign-in page"
        check(driver, axe_source, f"{name} {path_of(driver)} ({h1(driver)})", findings, seen)
        screenshot(
            driver,
            ARTIFACTS / f"admin-{name.replace(' ', '-')}-desktop.png",
            width=DESKTOP[0],
            height=DESKTOP[1],
        )
    print(f"axe-core checked {len(seen)} pages:", *seen, sep="\n  ")
    assert not findings, "serious or critical accessibility violations:\n" + "\n".join(findings)


def test_axe_finds_what_it_should(server, driver, axe_source):
    """The check can fail: a page with an unlabelled radio and low-contrast text fails."""
    driver.get(
        "data:text/html;charset=utf-8,<!doctype html><html lang=en><title>t</title>"
        "<body><main><input type=radio name=x>"
        "<p style='color:%23ccc;background:%23fff'>faint</p></main></body></html>"
    )
    findings = describe(run_axe(driver, axe_source), "bad page")
    ids = " ".join(findings)
    assert "label" in ids and "color-contrast" in ids, findings
