"""The README's picture of the campaign page's e-mail funnel, taken with headless Chromium
after a real run: ``trustmeter serve`` (with its outbox worker) sends the invitations and
reminders to an SMTP server on loopback, one address is refused (bounced), one contact opts
out through the one-click link, some respondents start and complete the survey.

Every run writes ``artifacts/screenshots/readme/campaign-funnel.png``;
``TRUSTMETER_UPDATE_SCREENSHOTS=1`` also replaces ``docs/screenshots/campaign-funnel.png``.
"""

from __future__ import annotations

import os
import shutil
import time
import urllib.parse
import urllib.request

import pytest

pytest.importorskip("selenium", reason="selenium is not installed: pip install -e '.[test]'")
from conftest import Respondent  # noqa: E402
from live_server import LiveServer  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from smtp_support import SmtpServer  # noqa: E402

from survey import create_app  # noqa: E402
from survey.storage import contacts, outbox, store  # noqa: E402
from survey.storage.db import open_db  # noqa: E402

from .conftest import ARTIFACTS, ROOT, cli  # noqa: E402
from .helpers import open_url, path_of, submit  # noqa: E402

pytestmark = pytest.mark.browser

DOCS = ROOT / "docs" / "screenshots"
PASSWORD = "funnel-Passw0rd-for-tests"
NAMES = [
    "Ana Müller",
    "Борис Петров",
    "سارا احمدی",
    "Dan Smith",
    "Eva Novak",
    "Фёдор Ким",
    "مریم رضایی",
    "Li Wei",
    "Olga Sokolova",
    "Rahim Karimi",
    "Tom Berg",
    "Zoë Adams",
]


def _wait(predicate, timeout: float = 60, what: str = "") -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _pending(dbpath) -> int:
    with open_db(dbpath) as db:
        c = outbox.counts(db)
    return c["queued"] + c["sending"] + c["retrying"]


def test_campaign_funnel_screenshot(tmp_path, driver):
    dbpath = tmp_path / "funnel.db"
    cli("init", "--db", str(dbpath))
    cli(
        "campaign",
        "create",
        "--db",
        str(dbpath),
        "--instrument",
        "customer-trust",
        "--slug",
        "acme-2026q4",
        "--period",
        "2026-Q4",
        "--param",
        "segment",
        "--title",
        "Acme retail customers, Q4 2026",
        "--closes",
        "2099-12-31",
    )
    cli(
        "user",
        "add",
        "--db",
        str(dbpath),
        "--role",
        "researcher",
        "--password-stdin",
        "ana",
        input=PASSWORD + "\n",
    )
    # a campaign made on the command line is admins' only until granted (issue 14)
    cli("campaign", "grant", "--db", str(dbpath), "acme-2026q4", "ana")
    rows = [
        {
            "line": i + 2,
            "email": f"customer{i}@example.org",
            "name": NAMES[i % len(NAMES)],
            "language": ("en", "ru", "fa")[i % 3],
            "params": {"segment": ("loyal", "new")[i % 2]},
        }
        for i in range(40)
    ]
    smtp = SmtpServer().start()
    smtp.inbox.refuse = {"customer7@example.org", "customer23@example.org"}
    live = LiveServer(
        dbpath,
        tmp_path / "serve.log",
        workers=1,
        env={
            "TRUSTMETER_SMTP_URL": smtp.url,
            "TRUSTMETER_MAIL_FROM": "Acme <survey@example.org>",
            "TRUSTMETER_MAIL_RATE": "100000",
            "TRUSTMETER_OUTBOX_BACKOFF_S": "0.1",
        },
    )
    live.env["TRUSTMETER_BASE_URL"] = live.base
    try:
        live.start()
        with open_db(dbpath) as db:
            contacts.import_contacts(db, store.get_campaign(db, "acme-2026q4"), rows)
            assert contacts.queue_invitations(db, "acme-2026q4") == 40
        _wait(lambda: _pending(dbpath) == 0, what="the invitations")  # serve's worker
        assert len(smtp.inbox.messages) == 38
        # customers answer through their links (in this process, on the same database)
        app = create_app({"TESTING": True, "DATABASE": str(dbpath), "SECRET_KEY": "x"})
        links = {m.rcpt_tos[0]: m.message for m in smtp.inbox.messages}
        for i in range(40):
            msg = links.get(f"customer{i}@example.org")
            if msg is None or i % 5 == 4:
                continue
            text = msg.get_body(("plain",)).get_content()
            path = urllib.parse.urlsplit(next(w for w in text.split() if "/i/" in w)).path
            person = Respondent(app.test_client(), seed=i)
            if i % 3 == 0:
                person.consent(path)  # started, not finished
            else:
                assert person.walk(path).status == 200
        # one opts out with the mail client's one-click POST
        unsub = links["customer4@example.org"]["List-Unsubscribe"].strip().strip("<>")
        req = urllib.request.Request(unsub, data=b"List-Unsubscribe=One-Click", method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
        with open_db(dbpath) as db:
            contacts.queue_reminders(db, "acme-2026q4", after=__import__("datetime").timedelta(0))
        _wait(lambda: _pending(dbpath) == 0, what="the reminders")
        with open_db(dbpath) as db:
            funnel = contacts.campaign_funnel(db, "acme-2026q4")
        assert funnel["contacts"] == 40 and funnel["bounced"] == 2 and funnel["opted_out"] == 1
        assert funnel["completed"] > 0 and funnel["reminded"] > 0

        open_url(driver, f"{live.base}/admin/login")
        form = driver.find_element(By.TAG_NAME, "form")
        form.find_element(By.CSS_SELECTOR, "input[autocomplete=username]").send_keys("ana")
        form.find_element(By.CSS_SELECTOR, "input[type=password]").send_keys(PASSWORD)
        submit(driver)
        assert "/login" not in path_of(driver)
        open_url(driver, f"{live.base}/admin/campaigns/acme-2026q4")
        section = driver.find_element(By.ID, "mail")
        cells = section.find_elements(By.CSS_SELECTOR, "table.funnel td.num")
        assert [int(c.text) for c in cells] == [funnel[k] for k in contacts.FUNNEL_KEYS]
        driver.execute_script(
            "arguments[0].scrollIntoView(); document.activeElement.blur()", section
        )
        out = ARTIFACTS / "readme" / "campaign-funnel.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1024, "height": 1600, "deviceScaleFactor": 1, "mobile": False},
        )
        try:
            out.write_bytes(section.screenshot_as_png)  # the e-mail panel only
        finally:
            driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        assert 10_000 < out.stat().st_size < 400 * 1024
        if os.environ.get("TRUSTMETER_UPDATE_SCREENSHOTS") == "1":
            DOCS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out, DOCS / "campaign-funnel.png")
    finally:
        if live.proc is not None:
            live.kill()
        smtp.stop()
