"""The e-mail panel of the researcher's campaign page: funnel, contacts upload (bad files
import nothing), the send and remind buttons queueing outbox rows that a worker then
delivers to a real SMTP server on loopback, progress with a meta refresh, template
overrides, purge, and roles (viewers see the funnel, cannot act)."""

from __future__ import annotations

import html
import io
import re

import pytest
from admin_support import (  # noqa: F401 (fixtures)
    AdminClient,
    accounts_fixture,
    error_text,
    fast_kdf_fixture,
)
from smtp_support import SmtpServer

from survey.mail.handler import MailConfig, MailHandler
from survey.storage import audit, contacts, outbox, store
from survey.storage.db import open_db
from survey.worker import Worker

CSV = (
    "email,name,language,segment\n"
    "ana@example.org,Ana,en,loyal\n"
    "boris@example.org,Борис,ru,new\n"
    "sara@example.org,سارا,fa,\n"
)


@pytest.fixture
def smtp(monkeypatch):
    server = SmtpServer().start()
    monkeypatch.setenv("TRUSTMETER_SMTP_URL", server.url)
    monkeypatch.setenv("TRUSTMETER_MAIL_FROM", "Survey <survey@example.org>")
    monkeypatch.setenv("TRUSTMETER_BASE_URL", "http://survey.test")
    monkeypatch.setenv("TRUSTMETER_MAIL_RATE", "100000")
    yield server
    server.stop()


@pytest.fixture
def site(app, accounts):
    with open_db(app.config["DATABASE"]) as db:
        store.create_campaign(
            db,
            slug="acme",
            instrument="customer-trust",
            period="2026-Q4",
            params=["segment"],
            title="Acme",
        )
    ac = AdminClient(app.test_client())
    assert ac.login("researcher").status_code == 302
    return ac


def upload(ac, text: str):
    return ac.post(
        "/admin/campaigns/acme/contacts",
        {"contacts-file": (io.BytesIO(text.encode("utf-8")), "contacts.csv")},
        token_from="/admin/campaigns/acme",
        content_type="multipart/form-data",
        follow_redirects=True,
    )


def deliver(app):
    with open_db(app.config["DATABASE"]) as db:
        w = Worker(
            db, kinds=["email"], handlers={"email": lambda: MailHandler(MailConfig.from_env())}
        )
        w.run(until_idle=True)


def funnel_cells(html: str) -> dict[str, int]:
    section = html[html.index('id="mail"') :]
    return {
        k: int(v)
        for k, v in re.findall(r'<th scope="row">([^<]+)</th><td class="num">(\d+)</td>', section)[
            :7
        ]
    }


def test_upload_send_progress_remind_and_funnel(app, site, smtp):
    page = site.get("/admin/campaigns/acme").get_data(as_text=True)
    assert "E-mail invitations" in page and 'http-equiv="refresh"' not in page
    assert funnel_cells(page)["Contacts"] == 0
    # a bad file: every bad row reported, nothing imported
    r = upload(site, 'email,name,segment\nnope,A,x\nb@example.org,"B\r\nBcc: x",x\n')
    text = error_text(r)
    assert "not imported (2 problems)" in text, text
    assert "line 2: email is not a valid" in text
    assert "line 3: name contains a line break" in text
    assert funnel_cells(r.get_data(as_text=True))["Contacts"] == 0
    r = upload(site, CSV)
    assert "Imported 3 contacts." in error_text(r)
    r = site.post(
        "/admin/campaigns/acme/mail/send",
        {},
        token_from="/admin/campaigns/acme",
        follow_redirects=True,
    )
    html = r.get_data(as_text=True)
    assert "3 invitations queued" in error_text(r)
    assert '<meta http-equiv="refresh" content="5">' in html  # progress without script
    assert "3 waiting" in error_text(r)
    deliver(app)
    assert len(smtp.inbox.messages) == 3
    page = site.get("/admin/campaigns/acme").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in page and "3 sent" in page
    assert funnel_cells(page) == {
        "Contacts": 3,
        "Invited": 3,
        "Reminded": 0,
        "Started the survey": 0,
        "Completed": 0,
        "Bounced": 0,
        "Opted out": 0,
    }
    r = site.post(
        "/admin/campaigns/acme/mail/remind",
        {"remind-after": "3 days", "remind-max": "1"},
        token_from="/admin/campaigns/acme",
        follow_redirects=True,
    )
    assert "is not a duration" in error_text(r)
    r = site.post(
        "/admin/campaigns/acme/mail/remind",
        {"remind-after": "0s", "remind-max": "1"},
        token_from="/admin/campaigns/acme",
        follow_redirects=True,
    )
    assert "3 reminders queued" in error_text(r)
    deliver(app)
    assert len(smtp.inbox.messages) == 6
    assert funnel_cells(site.get("/admin/campaigns/acme").get_data(as_text=True))["Reminded"] == 3
    with open_db(app.config["DATABASE"]) as db:
        actions = [e["action"] for e in audit.entries(db, limit=100)]
        log = str(audit.entries(db, limit=100))
    assert {"contacts.import", "mail.send", "mail.remind"} <= set(actions)
    assert "example.org" not in log


def test_template_override_and_reset(app, site, smtp):
    url = "/admin/campaigns/acme/mail/templates/fa"
    page = site.page(url)
    assert page.status == 200
    assert '<html lang="fa" dir="rtl">' in html.unescape(page.html)  # the default, to edit
    r = site.post(
        url,
        {
            "subject": "S",
            "text": "{{ link }} {{ optout_link }} {{ oops }}",
            "html": "<p>{{ optout_link }}</p>",
        },
    )
    assert r.status_code == 400 and "&#39;oops&#39; is undefined" in r.get_data(as_text=True)
    r = site.post(
        url,
        {
            "subject": "سلام {{ name }}",
            "text": "{{ link }} {{ optout_link }}",
            "html": "<p>{{ name }} {{ optout_link }}</p>",
        },
        follow_redirects=True,
    )
    assert "The fa templates are saved." in error_text(r)
    with open_db(app.config["DATABASE"]) as db:
        assert contacts.get_templates(db, "acme")["fa"]["subject"] == "سلام {{ name }}"
    upload(site, "email,name,language\nsara@example.org,سارا,fa\n")
    site.post("/admin/campaigns/acme/mail/send", {}, token_from="/admin/campaigns/acme")
    deliver(app)
    (rec,) = smtp.inbox.messages
    assert rec.message["Subject"] == "سلام سارا"
    r = site.post(
        url, {"reset": "1", "subject": "x", "text": "x", "html": "x"}, follow_redirects=True
    )
    assert "default templates again" in error_text(r)
    with open_db(app.config["DATABASE"]) as db:
        assert contacts.get_templates(db, "acme") == {}
    assert site.get("/admin/campaigns/acme/mail/templates/de").status_code == 404


def test_purge_needs_confirmation(app, site, smtp):
    upload(site, CSV)
    r = site.post(
        "/admin/campaigns/acme/contacts/purge",
        {},
        token_from="/admin/campaigns/acme",
        follow_redirects=True,
    )
    assert "tick the box" in error_text(r)
    r = site.post(
        "/admin/campaigns/acme/contacts/purge",
        {"purge-after_close": "30"},
        token_from="/admin/campaigns/acme",
        follow_redirects=True,
    )
    assert "purged 30 days after the campaign closes" in error_text(r)
    r = site.post(
        "/admin/campaigns/acme/contacts/purge",
        {"purge-confirm": "y"},
        token_from="/admin/campaigns/acme",
        follow_redirects=True,
    )
    assert "personal data of 3 contacts was deleted" in error_text(r)
    with open_db(app.config["DATABASE"]) as db:
        assert all(k["email"] is None for k in contacts.list_contacts(db, "acme"))
        assert outbox.counts(db)["queued"] == 0


def test_viewers_see_the_funnel_but_cannot_act(app, accounts, smtp):
    with open_db(app.config["DATABASE"]) as db:
        store.create_campaign(
            db, slug="acme", instrument="customer-trust", period="2026-Q4", params=[]
        )
    viewer = AdminClient(app.test_client())
    viewer.login("viewer")
    page = viewer.get("/admin/campaigns/acme").get_data(as_text=True)
    assert "E-mail invitations" in page and "Send invitations" not in page
    for url in (
        "/admin/campaigns/acme/mail/send",
        "/admin/campaigns/acme/mail/remind",
        "/admin/campaigns/acme/contacts/purge",
        "/admin/campaigns/acme/contacts",
    ):
        assert viewer.post(url, {}, token_from="/admin/").status_code == 403
    assert viewer.get("/admin/campaigns/acme/mail/templates/en").status_code == 403


def test_large_contact_files_are_accepted(app, site, smtp):
    rows = "".join(
        f"person{i}@example.org,Person number {i},en,segment-{i % 7}\n" for i in range(8000)
    )
    body = "email,name,language,segment\n" + rows
    assert len(body) > 256 * 1024  # larger than the app's limit for other requests
    r = upload(site, body)
    assert "Imported 8000 contacts." in error_text(r)
