"""The SMTP side on its own: login from the URL, STARTTLS required but not offered, the
throttle, and what is kept of a reply."""

from __future__ import annotations

import time

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from smtp_support import SmtpServer

from survey.mail import smtp
from survey.worker import PermanentFailure, TemporaryFailure

MESSAGE = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: t\r\n\r\nhello\r\n"


def _auth(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"u@x", b"p:w")
    return AuthResult(success=ok)


@pytest.fixture
def auth_server():
    s = SmtpServer(authenticator=_auth, auth_require_tls=False).start()
    yield s
    s.stop()


def test_login_with_credentials_from_the_url(auth_server):
    sender = smtp.SmtpSender(
        smtp.parse_url(f"smtp://u%40x:p%3Aw@127.0.0.1:{auth_server.port}?timeout=5")
    )
    try:
        reply = sender.send("a@example.org", "b@example.org", MESSAGE)
    finally:
        sender.close()
    assert reply.startswith("250")
    assert [m.rcpt_tos for m in auth_server.inbox.messages] == [["b@example.org"]]


def test_wrong_password_is_a_temporary_failure_without_the_password(auth_server):
    sender = smtp.SmtpSender(
        smtp.parse_url(f"smtp://u%40x:secret-pw@127.0.0.1:{auth_server.port}?timeout=2")
    )
    with pytest.raises(TemporaryFailure) as e:
        sender.send("a@example.org", "b@example.org", MESSAGE)
    # (aiosmtpd answers a wrong password slowly: a 535 or our timeout, both temporary)
    assert "535" in str(e.value) or "timed out" in str(e.value)
    assert "secret-pw" not in str(e.value)
    assert auth_server.inbox.messages == []


def test_required_starttls_not_offered_is_refused():
    server = SmtpServer().start()
    try:
        sender = smtp.SmtpSender(smtp.parse_url(f"smtp://127.0.0.1:{server.port}?starttls=1"))
        with pytest.raises(TemporaryFailure, match="does not offer STARTTLS"):
            sender.send("a@example.org", "b@example.org", MESSAGE)
        assert server.inbox.messages == []
        # without ?starttls=1, plain SMTP is used when the server offers no STARTTLS
        plain = smtp.SmtpSender(smtp.parse_url(f"smtp://127.0.0.1:{server.port}"))
        assert plain.send("a@example.org", "b@example.org", MESSAGE).startswith("250")
        plain.close()
    finally:
        server.stop()


def test_refusals_are_classified_and_scrubbed():
    server = SmtpServer().start()
    server.inbox.refuse = {"gone@example.org"}
    server.inbox.defer_once = {"later@example.org"}
    sender = smtp.SmtpSender(smtp.parse_url(f"smtp://127.0.0.1:{server.port}"))
    try:
        with pytest.raises(smtp.RecipientRefused) as refused:
            sender.send("a@example.org", "gone@example.org", MESSAGE)
        assert isinstance(refused.value, PermanentFailure)
        assert str(refused.value).startswith("550 5.1.1 <address>")
        with pytest.raises(TemporaryFailure, match=r"^recipient: 451 4\.7\.1 <address>"):
            sender.send("a@example.org", "later@example.org", MESSAGE)
        # the connection is still usable after both refusals (RSET)
        assert sender.send("a@example.org", "later@example.org", MESSAGE).startswith("250")
    finally:
        sender.close()
        server.stop()


def test_throttle_spaces_messages():
    t = smtp.Throttle(per_minute=600)  # one per 0.1 s
    start = time.monotonic()
    for _ in range(4):
        t.wait()
    assert time.monotonic() - start >= 0.3
    with pytest.raises(ValueError):
        smtp.Throttle(0)
