"""Mail over TLS against a real SMTP server on loopback (aiosmtpd) with a certificate
from a test CA: STARTTLS when offered, required with ``?starttls=1``, implicit TLS with
``smtps://``, login only after STARTTLS, and a certificate the system does not trust
refused without falling back to plain text. The sender uses ``ssl.create_default_context()``,
so a private CA is trusted through ``SSL_CERT_FILE`` (as the README says)."""

from __future__ import annotations

import shutil
import ssl
import subprocess

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from smtp_support import SmtpServer

from survey.mail import smtp
from survey.worker import TemporaryFailure

MESSAGE = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: t\r\n\r\nhello\r\n"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A test CA and a server certificate for 127.0.0.1 signed by it (openssl CLI)."""
    openssl = shutil.which("openssl")
    assert openssl, "the openssl command is needed to make the test certificates"
    d = tmp_path_factory.mktemp("pki")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=trustmeter test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (d / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")  # fmt: skip
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(d / "server.pem", d / "server.key")
    return {"ca": d / "ca.pem", "server_ctx": ctx}


@pytest.fixture
def trusting(pki, monkeypatch):
    """The sender's default context trusts the test CA (and nothing else)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(pki["ca"]))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    return pki


def _send(url: str) -> str:
    sender = smtp.SmtpSender(smtp.parse_url(url))
    try:
        return sender.send("a@example.org", "b@example.org", MESSAGE)
    finally:
        sender.close()


@pytest.mark.parametrize(
    "url, implicit",
    [
        ("smtp://127.0.0.1:{port}", False),  # STARTTLS offered: used
        ("smtp://127.0.0.1:{port}?starttls=1", False),  # required and offered
        ("smtps://127.0.0.1:{port}?timeout=10", True),  # TLS from the start
    ],
)
def test_tls_is_used(trusting, url, implicit):
    ctx = trusting["server_ctx"]
    kw = {"ssl_context": ctx} if implicit else {"tls_context": ctx, "require_starttls": True}
    server = SmtpServer(**kw).start()
    try:
        assert _send(url.format(port=server.port)).startswith("250")
        assert [(m.rcpt_tos, m.tls) for m in server.inbox.messages] == [(["b@example.org"], True)]
    finally:
        server.stop()


def test_login_happens_inside_starttls(trusting):
    """A server that accepts AUTH only over TLS (aiosmtpd's default, and real relays')."""
    seen = []

    def auth(server, session, envelope, mechanism, data):
        seen.append(session.ssl is not None)
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"u", b"pw")
        return AuthResult(success=ok)

    server = SmtpServer(
        tls_context=trusting["server_ctx"], authenticator=auth, auth_require_tls=True
    ).start()
    try:
        assert _send(f"smtp://u:pw@127.0.0.1:{server.port}").startswith("250")
        assert seen == [True] and [m.tls for m in server.inbox.messages] == [True]
    finally:
        server.stop()


@pytest.mark.parametrize("scheme", ["smtp", "smtps"])
def test_an_untrusted_certificate_is_refused_without_plain_fallback(pki, monkeypatch, scheme):
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")  # no CA trusts the test CA
    monkeypatch.setenv("SSL_CERT_DIR", "/nonexistent")
    if scheme == "smtps":
        server = SmtpServer(ssl_context=pki["server_ctx"]).start()
    else:
        server = SmtpServer(tls_context=pki["server_ctx"]).start()
    try:
        with pytest.raises(
            TemporaryFailure, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"
        ):
            _send(f"{scheme}://127.0.0.1:{server.port}?timeout=10")
        assert server.inbox.messages == []
    finally:
        server.stop()


def test_a_server_without_tls_gets_plain_text():
    """(What the TLS checks above tell apart: the same server without a certificate.)"""
    server = SmtpServer().start()
    try:
        assert _send(f"smtp://127.0.0.1:{server.port}").startswith("250")
        assert [m.tls for m in server.inbox.messages] == [False]
    finally:
        server.stop()
