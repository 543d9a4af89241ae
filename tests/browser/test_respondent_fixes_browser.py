"""Issue 11, item 5 in Chromium, in English and Persian: the 0-10 scale on a phone (one
line, or 0-5 over 6-10 with both ends labelled, at 320 px and up, ltr and rtl), and Back
keeping the answers of the page it leaves.

Writes ``artifacts/screenshots/readme/nps-phone-{en,fa}.png``; with
``TRUSTMETER_UPDATE_SCREENSHOTS=1`` also ``docs/screenshots/`` (the README shows them).
"""

from __future__ import annotations

import base64
import os
import random
import shutil

import pytest

pytest.importorskip("selenium", reason="selenium is not installed: pip install -e '.[test]'")
from selenium.webdriver.common.by import By  # noqa: E402

from survey.storage import store  # noqa: E402

from .conftest import ARTIFACTS, ROOT  # noqa: E402
from .helpers import (  # noqa: E402
    answer_by_clicking,
    checked,
    click,
    consent_by_clicking,
    doc_dir,
    label,
    navigating,
    open_url,
    option_values,
    path_of,
    questions,
    submit,
)
from .test_readme_screenshots import _shrink  # noqa: E402

pytestmark = pytest.mark.browser

DOCS = ROOT / "docs" / "screenshots"


def _to_nps_page(driver, rng) -> str:
    """Answer pages until the one with the 0-10 question; returns that item's id."""
    for _ in range(10):
        numeric = driver.find_elements(By.CSS_SELECTOR, "fieldset.kind-numeric")
        if numeric:
            return numeric[0].get_attribute("id").removeprefix("q-")
        answer_by_clicking(driver, rng)
        submit(driver)
    raise AssertionError("no page with the 0-10 question")


def _layout(driver, item: str) -> dict:
    return driver.execute_script(
        """
        const f = document.getElementById('q-' + arguments[0]);
        const box = e => { const r = e.getBoundingClientRect();
          return {left: r.left, right: r.right, top: r.top, bottom: r.bottom,
                  width: r.width, height: r.height}; };
        const ends = Array.from(f.querySelectorAll('.scale-end'), e => ({
          where: e.classList.contains('start') ? 'start' : 'end', text: e.textContent.trim(),
          shown: getComputedStyle(e).display !== 'none', box: box(e)}));
        return {points: Array.from(f.querySelectorAll('.scale .point label'), box),
                ends: ends, viewport: document.documentElement.clientWidth,
                scroll: document.documentElement.scrollWidth};
    """,
        item,
    )


def _check_nps_layout(layout: dict, rtl: bool, width: int) -> str:
    points = layout["points"]
    assert len(points) == 11
    assert layout["scroll"] <= layout["viewport"], f"{width} px: the page scrolls sideways"
    for p in points:
        assert p["left"] >= 0 and p["right"] <= layout["viewport"] + 0.5, (width, p)
        assert p["width"] >= 24 and p["height"] >= 24, (width, p)  # WCAG 2.5.8 target size
    tops = [round(p["top"]) for p in points]

    # reading order: left to right in ltr, right to left in rtl
    def before(a, b):
        return a["right"] <= b["left"] + 0.5 if not rtl else a["left"] >= b["right"] - 0.5

    if len(set(tops)) == 1:
        assert all(before(points[i], points[i + 1]) for i in range(10)), width
        return "one line"
    assert len(set(tops[:6])) == 1 and len(set(tops[6:])) == 1 and tops[6] > tops[0], tops
    assert all(before(points[i], points[i + 1]) for i in (0, 1, 2, 3, 4, 6, 7, 8, 9))
    # 6 is not under 0: the second row is 6..10 under 1..5, so 10 ends it under 5
    assert abs(points[6]["left"] - points[1]["left"]) < 1, (width, points[6], points[1])
    assert abs(points[10]["left"] - points[5]["left"]) < 1
    shown = {e["where"]: e for e in layout["ends"] if e["shown"]}
    assert set(shown) == {"start", "end"}, f"{width} px: wrapped without both end labels"
    start, end = shown["start"]["box"], shown["end"]["box"]
    assert start["bottom"] <= points[0]["top"] + 0.5  # above 0
    assert end["top"] >= points[10]["bottom"] - 0.5  # below 10
    return "two rows"


@pytest.mark.parametrize("lang", ["en", "fa"])
def test_nps_on_phones(server, survey, browser, lang):
    driver = browser()
    s = survey(invitations=1)
    open_url(driver, f"{s.invitations[0]}?lang={lang}")
    consent_by_clicking(driver)
    item = _to_nps_page(driver, random.Random(7))
    assert doc_dir(driver) == ("rtl" if lang == "fa" else "ltr")
    seen = {}
    for width in (320, 360, 390, 430, 600, 800, 1024):
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": width < 600},
        )
        try:
            seen[width] = _check_nps_layout(_layout(driver, item), lang == "fa", width)
        finally:
            driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert seen[1024] == "one line"
    assert seen[320] == "two rows"

    click(driver, label(driver, item, "8"))
    name = f"nps-phone-{lang}.png"
    phone = {"width": 390, "height": 560, "deviceScaleFactor": 2, "mobile": True}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", phone)
    try:  # scrolled at the phone's width, so the 0-10 question is what the picture shows
        driver.execute_script(
            "document.activeElement.blur();"
            "window.scrollTo(0, document.getElementById('q-' + arguments[0])"
            ".getBoundingClientRect().top + window.scrollY - 16)",
            item,
        )
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
def test_back_keeps_the_answers_in_chromium(server, survey, browser, lang):
    driver = browser()
    s = survey(invitations=1)
    rng = random.Random(11)
    open_url(driver, f"{s.invitations[0]}?lang={lang}")
    consent_by_clicking(driver)
    first = answer_by_clicking(driver, rng)
    submit(driver)
    assert path_of(driver).endswith("/2")
    items = questions(driver)
    part = answer_by_clicking(driver, rng, items[:1])  # one of this page's questions only
    back = driver.find_element(By.CSS_SELECTOR, 'button[name="action"][value="back"]')
    navigating(driver, lambda: click(driver, back))
    assert path_of(driver).endswith("/1")
    assert not driver.find_elements(By.CSS_SELECTOR, ".error-summary")
    assert checked(driver) == first
    submit(driver)  # Next, with page 1 as it was
    assert path_of(driver).endswith("/2")
    assert checked(driver) == part
    with server.db() as db:
        token = s.invitations[0].rsplit("/", 1)[1]
        saved = store.response_for_invitation(db, store.find_invitation(db, token))
    [(item, value)] = part.items()
    assert str(saved["answers"][item]) == value if value != "na" else item in saved["na"]
    assert all(saved["answers"].get(i) is None for i in items[1:])
    assert option_values(driver, items[0])
