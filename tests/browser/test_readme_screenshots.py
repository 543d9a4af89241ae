"""The README's screenshots: one question page in English and in Persian (desktop), and
in Persian on a phone.

Every run writes them to ``artifacts/screenshots/readme/``; ``make screenshots``
(``TRUSTMETER_UPDATE_SCREENSHOTS=1``) also replaces the ones in ``docs/screenshots/``.
"""

from __future__ import annotations

import io
import json
import os
import shutil

import pytest

pytest.importorskip("selenium", reason="selenium is not installed: pip install -e '.[test]'")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from survey.storage import store  # noqa: E402

from .conftest import ARTIFACTS, ROOT  # noqa: E402
from .helpers import (  # noqa: E402
    click,
    consent_by_clicking,
    doc_dir,
    label,
    open_url,
    questions,
    screenshot,
)

pytestmark = pytest.mark.browser

DOCS = ROOT / "docs" / "screenshots"
MAX_BYTES = 300 * 1024
#: The same answers in both languages, so the pictures match.
ANSWERS = ("6", "5", "7")


def _shrink(path, max_width: int | None = None) -> None:
    """Make a PNG small enough for the README (Pillow, when installed)."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as im:
        im.load()
    if max_width and im.width > max_width:
        im = im.resize((max_width, round(im.height * max_width / im.width)), Image.LANCZOS)
    # 256 colours are plenty for flat UI and keep antialiased text crisp.
    im = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=0)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    path.write_bytes(buf.getvalue())


def _start(driver, link: str, lang: str) -> None:
    open_url(driver, f"{link}?lang={lang}")
    consent_by_clicking(driver)


def test_readme_screenshots(server, survey, driver):
    s = survey(invitations=2)
    en_link, fa_link = s.invitations
    _start(driver, en_link, "en")
    order = questions(driver)
    _start(driver, fa_link, "fa")
    # Show the Persian page with the questions in the English page's order (the order is
    # shuffled per response and recorded with it), so the two pictures match.
    with server.db() as db:
        response = store.response_for_invitation(
            db, store.find_invitation(db, fa_link.rsplit("/", 1)[1])
        )
        recorded = response["item_order"]
        assert sorted(recorded[0]) == sorted(order)
        recorded[0] = order
        db.execute(
            "UPDATE responses SET item_order = ? WHERE id = ?",
            [json.dumps(recorded), response["id"]],
        )
        db.conn.commit()

    out = ARTIFACTS / "readme"
    shots = {}
    for lang, link in (("en", en_link), ("fa", fa_link)):
        open_url(driver, f"{link}/1?lang={lang}")
        assert doc_dir(driver) == ("rtl" if lang == "fa" else "ltr")
        assert questions(driver) == order
        for item, value in zip(questions(driver), ANSWERS, strict=False):
            click(driver, label(driver, item, value))
        driver.execute_script("window.scrollTo(0, 0); document.activeElement.blur()")
        # the pointer rests on the header, so no tile shows its hover border
        ActionChains(driver).move_to_element(
            driver.find_element(By.CSS_SELECTOR, ".site-header")
        ).perform()
        shots[f"survey-{lang}.png"] = screenshot(
            driver, out / f"survey-{lang}.png", width=1024, height=860, full_page=False
        )
        if lang == "fa":
            shots["survey-fa-mobile.png"] = screenshot(
                driver,
                out / "survey-fa-mobile.png",
                width=390,
                height=844,
                mobile=True,
                full_page=False,
                scale=2,
            )
    assert driver.find_elements(By.CSS_SELECTOR, "input[type=radio]:checked")

    for name, path in shots.items():
        _shrink(path, max_width=720 if "mobile" in name else None)
        size = path.stat().st_size
        assert 10_000 < size < MAX_BYTES, f"{name}: {size} bytes"
    if os.environ.get("TRUSTMETER_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        for name, path in shots.items():
            shutil.copyfile(path, DOCS / name)
