"""Brands in Chromium (issue 11, item 1), in English and Persian: after consent the brand
page asks which companies the respondent is a customer of; the respondent ticks 3 of
4 brands (K = 2) by clicking their labels, walks both ratings (every page names its
brand and says "k of 2"; the second begins with "Now about ..."), and the stored
ratings follow the recorded random order; axe-core finds no serious or critical
violation on the brand page (with and without its error) or a rating's first page.
Writes ``artifacts/screenshots/readme/brands-en.png`` (desktop), ``brands-fa-mobile.png``
(390 px phone) and the second rating's first page, ``brands-next-en.png``; with
``TRUSTMETER_UPDATE_SCREENSHOTS=1`` also ``docs/screenshots/``."""

from __future__ import annotations

import csv
import io
import itertools
import os
import random
import shutil

import pytest

pytest.importorskip("selenium", reason="selenium is not installed: pip install -e '.[test]'")
from selenium.webdriver.common.by import By  # noqa: E402

from survey.storage import brands, store  # noqa: E402

from .conftest import ARTIFACTS, ROOT, cli  # noqa: E402
from .helpers import (  # noqa: E402
    answer_by_clicking,
    click,
    consent_by_clicking,
    describe,
    doc_dir,
    open_url,
    path_of,
    questions,
    run_axe,
    screenshot,
    submit,
)
from .test_readme_screenshots import _shrink  # noqa: E402

pytestmark = pytest.mark.browser

DOCS = ROOT / "docs" / "screenshots"
BRANDS = {
    "acme": {"en": "Acme", "fa": "آکمه"},
    "globex": {"en": "Globex", "fa": "گلوبکس"},
    "initech": {"en": "Initech", "fa": "اینیتک"},
    "umbrella": {"en": "Umbrella", "fa": "آمبرلا"},
}
TICKED = ["acme", "globex", "initech"]
TEXTS = {
    "en": {
        "legend": "Which of these companies are you a customer of?",
        "rel1": "{name} keeps the promises it makes to me.",
        "about": "About {name} (1 of 2)",
        "next": "Now about {name} (2 of 2)",
        "of": "(2 of 2)",
        "none": "Please tick at least one company.",
    },
    "fa": {
        "legend": "مشتری کدام‌یک از این شرکت‌ها هستید؟",
        "rel1": "{name} به وعده‌هایی که به من می‌دهد عمل می‌کند.",
        "about": "دربارهٔ {name} (۱ از ۲)",
        "next": "اکنون دربارهٔ {name} (۲ از ۲)",
        "of": "(۲ از ۲)",
        "none": "لطفاً دست‌کم یک شرکت را علامت بزنید.",
    },
}
_slugs = itertools.count(1)


def _campaign(server) -> tuple[str, str]:
    """A campaign with the four brands, K = 2, and one invitation: (slug, link)."""
    slug = f"brands-{next(_slugs)}"
    args = ["campaign", "create", "--db", str(server.db_path), "--instrument", "customer-trust"]
    args += ["--slug", slug, "--period", "2026-Q4", "--brands-per-respondent", "2"]
    for b, names in BRANDS.items():
        args += ["--brand", f"{b}: en={names['en']} | fa={names['fa']}"]
    cli(*args)
    out = cli(
        "invite", "--db", str(server.db_path), slug, "--count", "1", "--base-url", server.base_url
    )
    [row] = list(csv.DictReader(io.StringIO(out)))
    return slug, row["url"]


def _shot(driver, name: str, **size) -> None:
    path = screenshot(driver, ARTIFACTS / "readme" / name, **size)
    _shrink(path, max_width=720 if size.get("mobile") else 1000)
    assert 5_000 < path.stat().st_size < 300 * 1024
    if os.environ.get("TRUSTMETER_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS / name)


def _rating_line(driver) -> str:
    return driver.find_element(By.CSS_SELECTOR, ".rating-brand").text


def _walk_rating(driver, rng) -> list[str]:
    """Answer the pages of one rating; return the brand line of each page. Stops on the
    next rating's first page or the thank-you page."""
    lines = []
    for _ in range(12):
        lines.append(_rating_line(driver))
        if questions(driver):
            answer_by_clicking(driver, rng)
        submit(driver)
        if path_of(driver).endswith("/thanks") or driver.find_elements(
            By.CSS_SELECTOR, ".next-brand"
        ):
            return lines
    raise AssertionError("the rating did not end")


@pytest.mark.parametrize("lang", ["en", "fa"])
def test_brand_page_two_ratings_in_the_recorded_order(server, browser, axe_source, lang):
    driver = browser()
    texts = TEXTS[lang]
    slug, link = _campaign(server)
    open_url(driver, f"{link}?lang={lang}")
    consent_by_clicking(driver)
    assert path_of(driver).endswith("/brands")
    assert doc_dir(driver) == ("rtl" if lang == "fa" else "ltr")
    legend = driver.find_element(By.CSS_SELECTOR, "fieldset.kind-brands legend")
    assert legend.text == texts["legend"]
    labels = driver.find_elements(By.CSS_SELECTOR, ".brand-choices label")
    assert [x.text for x in labels] == [n[lang] for n in BRANDS.values()]
    # nothing ticked: the error summary, focusable, linking to the first box
    submit(driver)
    summary = driver.find_element(By.CSS_SELECTOR, ".error-summary")
    assert texts["none"] in summary.text
    link_to = summary.find_element(By.CSS_SELECTOR, "a").get_attribute("href")
    assert link_to.endswith("#brand-acme")
    assert describe(run_axe(driver, axe_source), f"{lang} brand page, error") == []
    open_url(driver, driver.current_url)  # the page afresh (GET): no error shown
    assert not driver.find_elements(By.CSS_SELECTOR, ".error-summary")
    assert describe(run_axe(driver, axe_source), f"{lang} brand page") == []
    for b in TICKED:
        click(driver, driver.find_element(By.CSS_SELECTOR, f'label[for="brand-{b}"]'))
        assert driver.find_element(By.ID, f"brand-{b}").is_selected()
    labels = driver.find_elements(By.CSS_SELECTOR, ".brand-choices label")
    # the boxes are side by side or stacked, never overlapping, all inside the page
    boxes = [
        driver.execute_script(
            "const r = arguments[0].getBoundingClientRect(); return [r.left, r.right];", x
        )
        for x in labels
    ]
    width = driver.execute_script("return document.documentElement.clientWidth")
    assert all(0 <= left < right <= width for left, right in boxes), (boxes, width)
    if lang == "en":
        _shot(driver, "brands-en.png", width=1000, height=700, full_page=False)
    else:
        _shot(driver, "brands-fa-mobile.png", width=390, height=740, mobile=True, scale=2)
        phone_overflow = driver.execute_script(
            "return document.documentElement.scrollWidth > document.documentElement.clientWidth"
        )
        assert not phone_overflow
    submit(driver)
    assert path_of(driver).endswith("/1")

    rng = random.Random(11)
    shown = []
    for k in (1, 2):
        first_line = _rating_line(driver)
        legend = driver.find_element(By.CSS_SELECTOR, "#q-REL1 legend").text
        name = next(
            n[lang] for n in BRANDS.values() if legend == texts["rel1"].format(name=n[lang])
        )
        shown.append(name)
        expected = texts["about" if k == 1 else "next"].format(name=name)
        assert first_line == expected
        assert describe(run_axe(driver, axe_source), f"{lang} rating {k}") == []
        if k == 2 and lang == "en":
            driver.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
            _shot(driver, "brands-next-en.png", width=1000, height=560, full_page=False)
        lines = _walk_rating(driver, rng)
        assert all(name in line for line in lines)
        if k == 2:
            assert all(texts["of"] in line for line in lines)
    assert path_of(driver).endswith("/thanks")

    with server.db() as db:
        inv = store.find_invitation(db, link.rsplit("/", 1)[1])
        first = store.get_response(db, inv["response_id"])
        choice = brands.get_choices(db, first["respondent"])
        ratings = brands.ratings(db, first["respondent"])
    assert choice["ticked"] == TICKED
    assert [r["brand"] for r in ratings] == choice["rated"]
    assert [r["brand_position"] for r in ratings] == [1, 2]
    assert all(r["status"] == "complete" for r in ratings)
    assert shown == [BRANDS[b][lang] for b in choice["rated"]]
    assert first["brand_position"] == 1
