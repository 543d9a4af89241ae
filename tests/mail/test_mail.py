"""E-mail invitations and reminders (issue 9) against a real SMTP server on loopback
(aiosmtpd), messages parsed with the ``email`` package: per-language subjects and bodies,
working single-use links, encoded non-ASCII headers, reminders only to who has not
completed, a second send sending nothing, 550 refusals marking exactly those contacts
bounced, a dropped connection and 451s resumed without loss, opt-out, purge, the funnel."""

from __future__ import annotations

import email.policy
import re
import sqlite3
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from conftest import Respondent
from smtp_support import SmtpServer

from survey.cli import main
from survey.storage import contacts, outbox, store
from survey.storage.db import open_db

BASE = "http://survey.test"
PEOPLE = [  # email, name, language, segment
    ("ana@example.org", "Ana Müller", "en", "loyal"),
    ("boris@example.org", "Борис Петров", "ru", "new"),
    ("sara@example.org", "سارا احمدی", "fa", "loyal"),
    ("dan@example.org", "", "en", ""),
]
SUBJECTS = {
    "en": "How much do you trust us?",
    "ru": "Насколько вы нам доверяете?",
    "fa": "چقدر به ما اعتماد دارید؟",
}


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def mail_env(monkeypatch, smtp_server):
    monkeypatch.setenv("TRUSTMETER_SMTP_URL", smtp_server.url)
    monkeypatch.setenv("TRUSTMETER_MAIL_FROM", "Trust Team <survey@example.org>")
    monkeypatch.setenv("TRUSTMETER_BASE_URL", BASE)
    monkeypatch.setenv("TRUSTMETER_MAIL_RATE", "100000")
    monkeypatch.setenv(outbox.BACKOFF_ENV, "0.05")
    return smtp_server


@pytest.fixture
def dbpath(app):
    with open_db(app.config["DATABASE"]) as db:
        store.create_campaign(
            db,
            slug="acme",
            instrument="customer-trust",
            period="2026-Q4",
            params=["segment"],
            title="Acme Q4 trust",
            closes_at="2099-12-31",
        )
    return app.config["DATABASE"]


def cli(*args: str, ok: bool = True) -> str:
    result = CliRunner().invoke(main, list(args))
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code != 0, result.output
    return result.output


def write_csv(tmp_path, rows, header="email,name,language,segment", name="c.csv"):
    path = tmp_path / name
    lines = [header] + [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def link_of(msg) -> str:
    text = msg.get_body(("plain",)).get_content()
    (link,) = re.findall(rf"{re.escape(BASE)}/i/[A-Za-z0-9_-]+", text)
    return link


def funnel(dbpath):
    with open_db(dbpath) as db:
        return contacts.campaign_funnel(db, "acme")


def test_send_invitations_in_three_languages(mail_env, dbpath, tmp_path, app):
    inbox = mail_env.inbox
    out = cli("contacts", "import", "acme", write_csv(tmp_path, PEOPLE), "--db", dbpath)
    assert "imported 4 contacts" in out
    out = cli("send", "acme", "--db", dbpath)
    assert "sent 4" in out
    assert len(inbox.messages) == 4
    links = set()
    for addr, name, lang, _ in PEOPLE:
        (rec,) = inbox.to(addr)
        msg = rec.message
        assert rec.mail_from == "survey@example.org"
        assert msg.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        assert msg["Subject"] == f"{SUBJECTS[lang]} Acme Q4 trust"
        assert msg["To"].addresses[0].display_name == name
        assert msg["To"].addresses[0].addr_spec == addr
        assert msg["Content-Language"] == lang
        # non-ASCII headers travel RFC 2047 encoded: the raw header block is pure ASCII
        head = rec.raw.split(b"\r\n\r\n", 1)[0]
        head.decode("ascii")
        if lang != "en" or name != name.encode("ascii", "ignore").decode():
            assert b"=?utf-8?" in head.lower()
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        link = link_of(msg)
        links.add(link)
        assert link in html
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        unsub = msg["List-Unsubscribe"].strip().strip("<>")
        assert unsub.startswith(f"{BASE}/optout/") and unsub in text and unsub in html
        assert ("December 31, 2099" in text) == (lang == "en")  # the last open day
        assert "2099" in text or "۲۰۹۹" in text
        if name:
            assert name in text
        if lang == "fa":
            assert 'dir="rtl"' in html
        # the link works: it opens this contact's survey in their language
        full = re.search(rf"{re.escape(link)}\S*", text).group(0)
        assert full == f"{link}?lang={lang}"
        parts = urlsplit(full)
        page = app.test_client().get(f"{parts.path}?{parts.query}")
        assert page.status_code == 200
        assert f'<html lang="{lang}"' in page.get_data(as_text=True)
    assert len(links) == 4
    assert funnel(dbpath) == {
        "contacts": 4,
        "invited": 4,
        "reminded": 0,
        "started": 0,
        "completed": 0,
        "bounced": 0,
        "opted_out": 0,
    }
    # a second send sends nothing
    out = cli("send", "acme", "--db", dbpath)
    assert "queued 0" in out
    assert len(inbox.messages) == 4
    # nothing personal in the outbox
    with open_db(dbpath) as db:
        dump = "\n".join(str(r) for r in outbox.rows(db))
    for addr, name, *_ in PEOPLE:
        assert addr not in dump and (not name or name not in dump)


def test_remind_reaches_only_contacts_who_have_not_completed(mail_env, dbpath, tmp_path, app):
    inbox = mail_env.inbox
    cli("contacts", "import", "acme", write_csv(tmp_path, PEOPLE[:3]), "--db", dbpath)
    cli("send", "acme", "--db", dbpath)
    # Ana completes the survey through her link, Boris only starts it
    final = Respondent(app.test_client()).walk(
        urlsplit(link_of(inbox.to(PEOPLE[0][0])[0].message)).path
    )
    assert final.status == 200
    assert (
        Respondent(app.test_client())
        .consent(urlsplit(link_of(inbox.to(PEOPLE[1][0])[0].message)).path)
        .status
        == 200
    )
    # too early: the last message is younger than a day
    out = cli("remind", "acme", "--after", "1d", "--db", dbpath)
    assert "queued 0" in out
    out = cli("remind", "acme", "--after", "0s", "--max", "2", "--db", dbpath)
    assert "queued 2" in out
    assert len(inbox.to(PEOPLE[0][0])) == 1
    for addr in (PEOPLE[1][0], PEOPLE[2][0]):
        invitation, reminder = inbox.to(addr)
        assert reminder.message["Subject"].startswith(("Напоминание", "یادآوری"))
        assert link_of(reminder.message) == link_of(invitation.message)
    cli("remind", "acme", "--after", "0s", "--max", "2", "--db", dbpath)
    out = cli("remind", "acme", "--after", "0s", "--max", "2", "--db", dbpath)
    assert "queued 0" in out  # at most 2 reminders
    assert [len(inbox.to(p[0])) for p in PEOPLE[:3]] == [1, 3, 3]
    assert funnel(dbpath) == {
        "contacts": 3,
        "invited": 3,
        "reminded": 2,
        "started": 2,
        "completed": 1,
        "bounced": 0,
        "opted_out": 0,
    }
    header, row = cli("campaign", "list", "--db", dbpath).splitlines()[:2]
    listed = dict(zip(header.split("\t"), row.split("\t"), strict=True))
    assert [
        listed[k]
        for k in (
            "contacts",
            "invited",
            "reminded",
            "contacts_started",
            "contacts_completed",
            "bounced",
            "opted_out",
        )
    ] == ["3", "3", "2", "2", "1", "0", "0"]


def test_refused_recipients_are_marked_bounced_and_the_batch_goes_on(mail_env, dbpath, tmp_path):
    inbox = mail_env.inbox
    rows = [(f"p{i}@example.org", f"P {i}", "en", "") for i in range(8)]
    inbox.refuse = {"p2@example.org", "p5@example.org"}
    cli("contacts", "import", "acme", write_csv(tmp_path, rows), "--db", dbpath)
    out = cli("send", "acme", "--db", dbpath)
    assert "sent 6, bounced 2" in out
    assert sorted(r for m in inbox.messages for r in m.rcpt_tos) == sorted(
        a for a, *_ in rows if a not in inbox.refuse
    )
    with open_db(dbpath) as db:
        bounced = {c["email"] for c in contacts.list_contacts(db, "acme") if c["bounced_at"]}
        failed = outbox.rows(db, state="failed")
    assert bounced == inbox.refuse
    assert len(failed) == 2 and all(r["attempts"] == 1 for r in failed)
    for r in failed:  # the SMTP reply is kept, without the address
        assert r["reply"].startswith("recipient refused (bounced): 550 5.1.1 <address>")
        assert "@" not in r["reply"]
    assert funnel(dbpath)["bounced"] == 2
    # never retried, and not sent again
    inbox.refuse = set()
    cli("send", "acme", "--db", dbpath)
    cli("remind", "acme", "--after", "0s", "--db", dbpath)
    assert all(len(inbox.to(a)) == 0 for a in ("p2@example.org", "p5@example.org"))


def test_a_dropped_connection_and_greylisting_are_resumed_without_loss(mail_env, dbpath, tmp_path):
    inbox = mail_env.inbox
    rows = [(f"p{i}@example.org", "", "en", "") for i in range(10)]
    inbox.drop_at = 4
    inbox.defer_once = {"p7@example.org"}
    cli("contacts", "import", "acme", write_csv(tmp_path, rows), "--db", dbpath)
    out = cli("send", "acme", "--db", dbpath)
    assert "sent 10" in out and "temporary failures retried 2" in out
    assert sorted(r for m in inbox.messages for r in m.rcpt_tos) == sorted(a for a, *_ in rows)
    with open_db(dbpath) as db:
        states = outbox.counts(db)
        retried = [r for r in outbox.rows(db) if r["attempts"] == 2]
    assert states["sent"] == 10 and states["failed"] == 0
    assert len(retried) == 2
    assert any("closed the connection" in r["last_error"] for r in retried)
    assert any(r["last_error"].startswith("recipient: 451 4.7.1 <address>") for r in retried)


def test_unreachable_server_is_retried_later_not_lost(mail_env, dbpath, tmp_path, monkeypatch):
    cli("contacts", "import", "acme", write_csv(tmp_path, PEOPLE[:2]), "--db", dbpath)
    monkeypatch.setenv("TRUSTMETER_SMTP_URL", "smtp://127.0.0.1:1?timeout=2")
    out = cli("send", "acme", "--no-wait", "--db", dbpath)
    assert "sent 0" in out and "2 still waiting for a retry" in out
    with open_db(dbpath) as db:
        rows = outbox.rows(db)
    assert {r["state"] for r in rows} == {"retrying"}
    assert all("cannot connect" in r["last_error"] for r in rows)
    monkeypatch.setenv("TRUSTMETER_SMTP_URL", mail_env.url)
    out = cli("send", "acme", "--db", dbpath)
    assert "sent 2" in out and len(mail_env.inbox.messages) == 2


def test_opt_out_get_then_one_click_post_stops_reminders_and_suppresses(
    mail_env, dbpath, tmp_path, app
):
    inbox = mail_env.inbox
    cli("contacts", "import", "acme", write_csv(tmp_path, PEOPLE[:2]), "--db", dbpath)
    cli("send", "acme", "--db", dbpath)
    msg = inbox.to(PEOPLE[1][0])[0].message  # Boris, Russian
    path = urlsplit(msg["List-Unsubscribe"].strip().strip("<>")).path
    client = app.test_client()
    page = client.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'lang="ru"' in html and "<form" in html
    assert funnel(dbpath)["opted_out"] == 0  # GET alone changes nothing (RFC 8058)
    # the mail client's one-click POST: no CSRF token, no cookie
    r = app.test_client().post(path, data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    assert funnel(dbpath)["opted_out"] == 1
    again = app.test_client().post(path, data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200
    out = cli("remind", "acme", "--after", "0s", "--db", dbpath)
    assert "queued 1" in out
    assert len(inbox.to(PEOPLE[1][0])) == 1 and len(inbox.to(PEOPLE[0][0])) == 2
    # a later import of the same address, even in another campaign, is suppressed
    with open_db(dbpath) as db:
        store.create_campaign(
            db, slug="acme2", instrument="customer-trust", period="2027-Q1", params=["segment"]
        )
    out = cli(
        "contacts",
        "import",
        "acme2",
        write_csv(
            tmp_path, [("BORIS@example.org", "B", "ru", "x"), ("new@example.org", "", "en", "")]
        ),
        "--db",
        dbpath,
    )
    assert "imported 1 contacts" in out and "line 2: this address opted out earlier" in out
    assert "boris" not in out.lower()
    # an unknown opt-out token is a plain 404 page, not an error
    assert app.test_client().get("/optout/" + "x" * 43).status_code == 404


def test_import_rejects_a_bad_file_whole_and_reports_each_row(mail_env, dbpath, tmp_path):
    rows = [
        ("ok@example.org", "Ok", "en", "a"),
        ("not-an-address", "X", "en", "a"),
        ("b@example.org", "Y", "de", "a"),
        ('"c@example.org"', '"Evil\r\nBcc: x@evil.test"', "en", "a"),
        ("ok@example.org", "dup", "en", "a"),
    ]
    out = cli("contacts", "import", "acme", write_csv(tmp_path, rows), "--db", dbpath, ok=False)
    assert "line 3: email is not a valid address" in out
    assert "line 4: language 'de' is not one of the campaign's" in out
    assert "line 5: name contains a line break" in out
    assert "evil" not in out.lower()
    assert funnel(dbpath)["contacts"] == 0
    out = cli(
        "contacts",
        "import",
        "acme",
        write_csv(
            tmp_path, [("a@example.org", "A", "en", "x")], header="email,name,language,region"
        ),
        "--db",
        dbpath,
        ok=False,
    )
    assert "column 'region' is not email, name, language or a declared parameter" in out
    # duplicates within the file and against existing contacts are skipped, not errors
    cli("contacts", "import", "acme", write_csv(tmp_path, rows[:1]), "--db", dbpath)
    out = cli(
        "contacts",
        "import",
        "acme",
        write_csv(
            tmp_path,
            [
                ("OK@example.org", "", "en", ""),
                ("n@example.org", "", "", ""),
                ("n@example.org", "", "", ""),
            ],
        ),
        "--db",
        dbpath,
    )
    assert "line 2: already a contact of this campaign; skipped" in out
    assert "line 4: the same address as line 3; skipped" in out
    assert funnel(dbpath)["contacts"] == 2


def test_purge_deletes_personal_data_keeps_counts_and_cancels_pending(mail_env, dbpath, tmp_path):
    cli("contacts", "import", "acme", write_csv(tmp_path, PEOPLE), "--db", dbpath)
    cli("send", "acme", "--db", dbpath)
    with open_db(dbpath) as db:
        contacts.queue_reminders(db, "acme", after=__import__("datetime").timedelta(0))
    out = cli("contacts", "purge", "acme", "--db", dbpath)
    assert "purged the personal data of 4 contacts" in out
    conn = sqlite3.connect(dbpath)
    try:
        raw = "\n".join(
            str(r)
            for t in ("contacts", "outbox", "audit_log")
            for r in conn.execute(f"SELECT * FROM {t}")
        )
    finally:
        conn.close()
    for addr, name, *_ in PEOPLE:
        assert addr not in raw and (not name or name not in raw)
    f = funnel(dbpath)
    assert f["contacts"] == 4 and f["invited"] == 4
    with open_db(dbpath) as db:
        assert outbox.counts(db)["queued"] == 0
    assert "queued 0" in cli("remind", "acme", "--after", "0s", "--db", dbpath)


def test_automatic_purge_after_close(dbpath, tmp_path):
    from datetime import timedelta

    with open_db(dbpath) as db:
        c = store.get_campaign(db, "acme")
        contacts.import_contacts(
            db,
            c,
            [{"line": 2, "email": "a@example.org", "name": "A", "language": "en", "params": {}}],
        )
    cli("contacts", "purge", "acme", "--after-close", "3", "--db", dbpath)
    cli("campaign", "close", "acme", "--db", dbpath)
    with open_db(dbpath) as db:
        now = outbox.now_utc()
        assert contacts.auto_purge(db, now) == []  # starts the clock
        assert contacts.auto_purge(db, now + timedelta(days=2)) == []
        assert contacts.auto_purge(db, now + timedelta(days=3, seconds=1)) == ["acme"]
        (k,) = contacts.list_contacts(db, "acme")
    assert k["email"] is None and k["name"] is None and k["purged_at"]


def test_preview_prints_one_message_per_language(mail_env, dbpath):
    out = cli("send", "acme", "--preview", "--db", dbpath)
    for lang, subject in SUBJECTS.items():
        assert f"===== {lang} =====" in out
        assert subject in out
    assert out.count("----- text/html -----") == 3
    assert len(mail_env.inbox.messages) == 0


def test_campaign_template_override_from_files(mail_env, dbpath, tmp_path):
    d = tmp_path / "tpl"
    d.mkdir()
    (d / "subject.txt").write_text("Hi {{ name }}", encoding="utf-8")
    (d / "body.txt").write_text("Go: {{ link }} / stop: {{ optout_link }}", encoding="utf-8")
    (d / "body.html").write_text(
        "<p>{{ name }} <a href='{{ optout_link }}'>x</a></p>", encoding="utf-8"
    )
    cli("mail-template", "set", "acme", "en", str(d), "--db", dbpath)
    cli(
        "contacts",
        "import",
        "acme",
        write_csv(tmp_path, [("x@example.org", "<b>Tom & Jerry</b>", "en", "")]),
        "--db",
        dbpath,
    )
    cli("send", "acme", "--db", dbpath)
    (rec,) = mail_env.inbox.messages
    assert rec.message["Subject"] == "Hi <b>Tom & Jerry</b>"  # plain text: not escaped
    html = rec.message.get_body(("html",)).get_content()
    assert "&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;" in html  # HTML: autoescaped
    (d / "body.txt").write_text("no link here {{ optout_link }}", encoding="utf-8")
    out = cli("mail-template", "set", "acme", "en", str(d), "--db", dbpath, ok=False)
    assert "must contain the personal link" in out
    (d / "body.txt").write_text("{{ link }} {{ optout_link }} {{ nmae }}", encoding="utf-8")
    out = cli("mail-template", "set", "acme", "en", str(d), "--db", dbpath, ok=False)
    assert "'nmae' is undefined" in out


@pytest.mark.parametrize(
    "url, problem",
    [
        (None, "TRUSTMETER_SMTP_URL is not set"),
        ("http://x:25", "must start with smtp:// or smtps://"),
        ("smtp://x:25?tls=1", "unknown option(s) tls"),
        ("smtp://x:notaport", "not a valid URL"),
    ],
)
def test_bad_smtp_configuration_is_a_clear_error(mail_env, dbpath, monkeypatch, url, problem):
    if url is None:
        monkeypatch.delenv("TRUSTMETER_SMTP_URL")
    else:
        monkeypatch.setenv("TRUSTMETER_SMTP_URL", url)
    out = cli("send", "acme", "--db", dbpath, ok=False)
    assert problem in out and "Traceback" not in out


def test_missing_base_url_and_bad_duration(mail_env, dbpath, monkeypatch):
    out = cli("remind", "acme", "--after", "3 days", "--db", dbpath, ok=False)
    assert "is not a duration such as 0s, 90m" in out
    monkeypatch.delenv("TRUSTMETER_BASE_URL")
    out = cli("send", "acme", "--db", dbpath, ok=False)
    assert "TRUSTMETER_BASE_URL is not set" in out


def test_smtp_url_parsing():
    from survey.mail.smtp import parse_url

    c = parse_url("smtps://us%40er:p%3Ass@mail.example.org")
    assert (c.host, c.port, c.tls, c.user, c.password) == (
        "mail.example.org",
        465,
        True,
        "us@er",
        "p:ss",
    )
    assert "p:ss" not in c.display
    c = parse_url("smtp://localhost:2525?starttls=1&timeout=5")
    assert (c.port, c.starttls, c.timeout) == (2525, True, 5.0)
    assert parse_url("smtp://h").starttls is None and parse_url("smtp://h").port == 25


def test_durations():
    from datetime import timedelta

    from survey.mail.durations import parse_duration

    assert parse_duration("0s") == timedelta(0)
    assert parse_duration("90m") == timedelta(minutes=90)
    assert parse_duration("3d") == timedelta(days=3)
    assert parse_duration("1d12h") == timedelta(hours=36)
    for bad in ("", "3", "-1d", "1y", "d3"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_message_headers_never_carry_line_breaks():
    from email.headerregistry import Address

    from survey.mail import message

    kw = dict(
        sender=Address("T", "t", "example.org"),
        to_email="a@example.org",
        to_name="A",
        subject="S",
        text="t",
        html="<p>h</p>",
        language="en",
        optout_link="http://x/optout/t",
        msg_id="<1@example.org>",
    )
    raw = message.build(**kw).as_bytes(policy=email.policy.SMTP)
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw
    for field in ("subject", "to_name"):
        with pytest.raises(ValueError, match="line break"):
            message.build(**{**kw, field: "x\r\nBcc: evil@example.org"})
