"""What a respondent does in a real browser, and what the tests look at."""

from __future__ import annotations

import base64
import json
import random
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

PERSIAN_DIGITS = "۰۱۲۳۴۵۶۷۸۹"
MOBILE = (390, 844)  # a phone in portrait
PAGES = 7  # pages of customer-trust 1.1.0; the 6th (follow-up) only after a breach "yes"
BREACH_ITEMS = ("BR_PROMISE", "BR_FEE", "BR_COMPLAINT", "BR_TERMS", "BR_ADS", "BR_QUALITY")


def pages_expected(answers: dict[str, str]) -> int:
    """Pages a respondent sees: all, less the follow-up when every breach item is "no"."""
    return PAGES if any(answers.get(i) == "1" for i in BREACH_ITEMS) else PAGES - 1


def has_questions(driver: WebDriver) -> bool:
    """A questionnaire page: choice questions (fieldsets) or an open-text question."""
    return bool(driver.find_elements(By.CSS_SELECTOR, ".question"))


def wait_loaded(driver: WebDriver) -> None:
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def navigating(driver: WebDriver, action) -> None:
    """Do ``action()`` (a click or key press that submits or follows a link) and wait
    until the next page has loaded: the old page's window marker is gone."""
    driver.execute_script("window.__trustmeterOldPage = true")
    action()

    def next_page_loaded(d: WebDriver) -> bool:
        try:
            return d.execute_script(
                "return !window.__trustmeterOldPage && document.readyState === 'complete'"
            )
        except WebDriverException:  # mid-navigation
            return False

    WebDriverWait(driver, 20).until(next_page_loaded)


def open_url(driver: WebDriver, url: str) -> None:
    driver.get(url)
    wait_loaded(driver)


def path_of(driver: WebDriver) -> str:
    return driver.execute_script("return location.pathname")


def doc_dir(driver: WebDriver) -> str:
    return driver.execute_script("return document.documentElement.dir")


def doc_lang(driver: WebDriver) -> str:
    return driver.execute_script("return document.documentElement.lang")


def h1(driver: WebDriver) -> str:
    return driver.find_element(By.TAG_NAME, "h1").text


def questions(driver: WebDriver) -> list[str]:
    """Item ids of the questions on this page, in the order shown."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('fieldset.question'),"
        " f => f.id.replace(/^q-/, ''))"
    )


def option_values(driver: WebDriver, item: str) -> list[str]:
    """Form values of an item's radios, in document order (codes, then ``na``)."""
    return driver.execute_script(
        "return Array.from(document.getElementsByName(arguments[0]), r => r.value)", item
    )


def checked(driver: WebDriver) -> dict[str, str]:
    return driver.execute_script("""
        const out = {};
        for (const r of document.querySelectorAll('input[type=radio]:checked')) {
            out[r.name] = r.value;
        }
        return out;""")


def label(driver: WebDriver, item: str, value: str) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, f'label[for="{item}-{value}"]')


def rect(driver: WebDriver, element: WebElement) -> dict:
    return driver.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return {x: r.x, y: r.y, width: r.width, height: r.height};",
        element,
    )


def click(driver: WebDriver, element: WebElement) -> None:
    """A real mouse click on an element, after scrolling it to the middle of the view."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def pick(values: list[str], rng: random.Random) -> str:
    """A random answer: a code, now and then "not applicable"."""
    if "na" in values and rng.random() < 0.15:
        return "na"
    return rng.choice([v for v in values if v != "na"])


def submit_button(driver: WebDriver) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, 'form button[type="submit"]')


def consent_by_clicking(driver: WebDriver) -> None:
    """On the intro page: tick the consent box by its label, press "Start"."""
    click(driver, driver.find_element(By.CSS_SELECTOR, 'label[for="consent"]'))
    assert driver.find_element(By.ID, "consent").is_selected()
    navigating(driver, lambda: click(driver, submit_button(driver)))


def answer_by_clicking(
    driver: WebDriver, rng: random.Random, items: list[str] | None = None
) -> dict[str, str]:
    """Click a label for each question (or the given ones); return what was chosen."""
    chosen = {}
    for item in questions(driver) if items is None else items:
        value = pick(option_values(driver, item), rng)
        click(driver, label(driver, item, value))
        chosen[item] = value
    assert {k: v for k, v in checked(driver).items() if k in chosen} == chosen
    return chosen


def submit(driver: WebDriver) -> None:
    navigating(driver, lambda: click(driver, submit_button(driver)))


@dataclass
class Walk:
    """What a respondent clicked through: the answers and each page seen."""

    answers: dict[str, str] = field(default_factory=dict)
    pages: list[str] = field(default_factory=list)  # paths of question pages


# ----- what was stored -----------------------------------------------------------------
def stored_as_chosen(saved: dict, chosen: dict[str, str]) -> dict[str, str]:
    """The stored answers in form values (codes as text, ``na``) for the chosen items."""
    out = {}
    for item in chosen:
        if item in saved["na"]:
            out[item] = "na"
        elif item in saved["answers"]:
            out[item] = str(saved["answers"][item])
    return out


# ----- screenshots -------------------------------------------------------------------------
def screenshot(
    driver: WebDriver,
    path: Path,
    *,
    width: int,
    height: int,
    mobile: bool = False,
    full_page: bool = True,
    scale: float = 1,
) -> Path:
    """A PNG of the page at a viewport of ``width`` x ``height`` CSS pixels (a phone's with
    ``mobile``: its viewport meta tag applies), the whole page with ``full_page``."""
    metrics = {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        if full_page:
            full = driver.execute_script("return Math.ceil(document.documentElement.scrollHeight)")
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride", {**metrics, "height": max(height, full)}
            )
        data = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})["data"]
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(data))
    return path


# ----- axe-core ------------------------------------------------------------------------------
BLOCKING = ("serious", "critical")


def run_axe(driver: WebDriver, axe_source: str) -> list[dict]:
    """axe-core's violations on the current page."""
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(axe_source)
    result = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        axe.run(document, {resultTypes: ['violations']})
           .then(r => done({violations: r.violations}))
           .catch(e => done({error: String(e)}));""")
    assert "error" not in result, result.get("error")
    return result["violations"]


def describe(violations: list[dict], where: str) -> list[str]:
    """One line per serious or critical violation, with the elements it was found on."""
    lines = []
    for v in violations:
        if v.get("impact") in BLOCKING:
            targets = [json.dumps(n.get("target")) for n in v.get("nodes", [])][:5]
            summary = (v.get("nodes") or [{}])[0].get("failureSummary", "").replace("\n", " ")
            lines.append(
                f"{where}: [{v['impact']}] {v['id']}: {v.get('help')} "
                f"on {', '.join(targets)} -- {summary}"
            )
    return lines


# ----- fonts -----------------------------------------------------------------------------------
def fonts_used(driver: WebDriver, selector: str) -> dict[str, int]:
    """The platform fonts Chromium rendered the text of the first ``selector`` with:
    family name -> number of glyphs."""
    driver.execute_cdp_cmd("DOM.enable", {})
    driver.execute_cdp_cmd("CSS.enable", {})
    try:
        root = driver.execute_cdp_cmd("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
        node = driver.execute_cdp_cmd("DOM.querySelector", {"nodeId": root, "selector": selector})[
            "nodeId"
        ]
        fonts = driver.execute_cdp_cmd("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    finally:
        driver.execute_cdp_cmd("CSS.disable", {})
        driver.execute_cdp_cmd("DOM.disable", {})
    return {f["familyName"]: f["glyphCount"] for f in fonts}


def persian_font_families() -> set[str] | None:
    """Installed font families that cover Persian, per fontconfig (None without fc-list)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    out = subprocess.run(
        [fc_list, ":lang=fa", "family"], capture_output=True, text=True, check=True
    ).stdout
    return {name.strip() for line in out.splitlines() for name in line.split(",") if name.strip()}
