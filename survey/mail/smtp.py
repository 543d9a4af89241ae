"""Sending over SMTP, configured by ``TRUSTMETER_SMTP_URL``, and what a reply means.

``smtp://host:port`` (STARTTLS when the server offers it, required with ``?starttls=1``)
or ``smtps://host:port`` (TLS from the start); ``user:password@`` in the URL logs in
(percent-encode special characters); ``?timeout=SECONDS`` (default 30).

Classification (one recipient per message):

* the recipient refused with 5xx -> :class:`RecipientRefused` (the contact bounced;
  never retried);
* any other 5xx (sender refused, message refused at DATA) -> :class:`PermanentFailure`;
* 4xx, a refused or dropped connection, a timeout -> :class:`TemporaryFailure`, retried
  with back-off by the outbox.

Every reply or error text is passed through :func:`scrub` (which removes e-mail
addresses) before it is raised, stored or logged.
"""

from __future__ import annotations

import re
import smtplib
import ssl
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from survey.worker import PermanentFailure, TemporaryFailure

ENV_URL = "TRUSTMETER_SMTP_URL"
DEFAULT_TIMEOUT = 30.0
_ADDR = r"[^\s<>@\"',;:()\[\]]+@[^\s<>@\"',;:()\[\]]+"
_ADDRESS = re.compile(rf"<{_ADDR}>|{_ADDR}")


def scrub(text: object) -> str:
    """``text`` with every e-mail address replaced by ``<address>``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return _ADDRESS.sub("<address>", str(text))


class RecipientRefused(PermanentFailure):
    """The server refused the recipient permanently (5xx): the contact bounced."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    tls: bool  # smtps: TLS from the start
    starttls: bool | None  # True: required, None: when offered
    user: str | None
    password: str | None
    timeout: float

    @property
    def display(self) -> str:
        """The URL without the password (for messages)."""
        who = f"{self.user}@" if self.user else ""
        return f"{'smtps' if self.tls else 'smtp'}://{who}{self.host}:{self.port}"


def parse_url(url: str | None) -> SmtpConfig:
    """Parse ``TRUSTMETER_SMTP_URL``; ``ValueError`` names what is wrong."""
    if not url:
        raise ValueError(
            f"{ENV_URL} is not set; e.g. smtp://127.0.0.1:8025 for a local test "
            "server, or smtps://user:password@mail.example.org:465"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise ValueError(f"{ENV_URL} is not a valid URL: {e}") from None
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError(
            f"{ENV_URL} must start with smtp:// or smtps://, got {parts.scheme or 'no scheme'!r}"
        )
    if not parts.hostname:
        raise ValueError(f"{ENV_URL} has no host name")
    query = parse_qs(parts.query)
    unknown = sorted(set(query) - {"starttls", "timeout"})
    if unknown:
        raise ValueError(
            f"{ENV_URL}: unknown option(s) {', '.join(unknown)} (known: starttls, timeout)"
        )
    starttls: bool | None = None
    if "starttls" in query:
        v = query["starttls"][-1].lower()
        if v not in ("0", "1", "true", "false", "yes", "no"):
            raise ValueError(f"{ENV_URL}: starttls must be 1 or 0, got {v!r}")
        starttls = True if v in ("1", "true", "yes") else False
    timeout = DEFAULT_TIMEOUT
    if "timeout" in query:
        try:
            timeout = float(query["timeout"][-1])
        except ValueError:
            raise ValueError(f"{ENV_URL}: timeout must be a number of seconds") from None
        if not timeout > 0:
            raise ValueError(f"{ENV_URL}: timeout must be positive")
    tls = parts.scheme == "smtps"
    return SmtpConfig(
        host=parts.hostname,
        port=port or (465 if tls else 25),
        tls=tls,
        starttls=None if tls else (True if starttls else (False if starttls is False else None)),
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        timeout=timeout,
    )


class SmtpSender:
    """One SMTP connection, opened on first use, reused, reopened after a failure."""

    def __init__(self, config: SmtpConfig):
        self.config = config
        self.conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        try:
            if c.tls:
                conn: smtplib.SMTP = smtplib.SMTP_SSL(
                    c.host, c.port, timeout=c.timeout, context=ssl.create_default_context()
                )
            else:
                conn = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
            conn.ehlo()
            if not c.tls and c.starttls is not False:
                if conn.has_extn("starttls"):
                    conn.starttls(context=ssl.create_default_context())
                    conn.ehlo()
                elif c.starttls:
                    conn.close()
                    raise TemporaryFailure(
                        f"{c.display} does not offer STARTTLS, which the URL requires (?starttls=1)"
                    )
            if c.user:
                conn.login(c.user, c.password or "")
        except smtplib.SMTPAuthenticationError as e:
            raise TemporaryFailure(
                scrub(f"login to {c.display} refused: {e.smtp_code} {_text(e.smtp_error)}")
            ) from None
        except (OSError, smtplib.SMTPException) as e:
            raise TemporaryFailure(
                scrub(f"cannot connect to {c.display}: {type(e).__name__}: {e}")
            ) from None
        return conn

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except (OSError, smtplib.SMTPException):
                self.conn.close()
            self.conn = None

    def _drop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
            self.conn = None

    def send(self, from_addr: str, to_addr: str, data: bytes) -> str:
        """Send one message; return the server's final reply (scrubbed)."""
        if self.conn is None:
            self.conn = self._connect()
        conn = self.conn
        try:
            code, resp = conn.mail(from_addr)
            if code != 250:
                self._reset()
                self._raise(code, resp, "sender")
            code, resp = conn.rcpt(to_addr)
            if code not in (250, 251):
                self._reset()
                self._raise(code, resp, "recipient")
            code, resp = conn.data(data)
            return scrub(f"{code} {_text(resp)}")
        except smtplib.SMTPDataError as e:
            self._reset()
            self._raise(e.smtp_code, e.smtp_error, "message")
        except smtplib.SMTPServerDisconnected as e:
            self._drop()
            raise TemporaryFailure(scrub(f"the server closed the connection: {e}")) from None
        except smtplib.SMTPResponseException as e:
            self._drop()
            self._raise(e.smtp_code, e.smtp_error, "server")
        except (OSError, smtplib.SMTPException) as e:  # timeouts, resets
            self._drop()
            raise TemporaryFailure(scrub(f"{type(e).__name__}: {e}")) from None
        raise AssertionError("unreachable")

    def _reset(self) -> None:
        try:
            self.conn.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()

    @staticmethod
    def _raise(code: int, resp: bytes | str, what: str) -> None:
        reply = scrub(f"{code} {_text(resp)}")
        if 500 <= code < 600:
            if what == "recipient":
                raise RecipientRefused(reply)
            raise PermanentFailure(f"{what} refused: {reply}")
        if code == 421:
            raise TemporaryFailure(f"{reply}")
        raise TemporaryFailure(f"{what}: {reply}")


def _text(resp: bytes | str) -> str:
    if isinstance(resp, bytes):
        return resp.decode("utf-8", "replace")
    return str(resp)


class Throttle:
    """At most ``per_minute`` messages a minute: waits between sends as needed."""

    def __init__(self, per_minute: float):
        if not per_minute > 0:
            raise ValueError(f"the sending rate must be positive, got {per_minute!r}")
        self.interval = 60.0 / per_minute
        self.last: float | None = None

    def wait(self) -> None:
        now = time.monotonic()
        if self.last is not None and now - self.last < self.interval:
            time.sleep(self.interval - (now - self.last))
        self.last = time.monotonic()


def check_reachable(config: SmtpConfig) -> None:
    """Open and close a connection (``ValueError`` with the reason when that fails)."""
    s = SmtpSender(config)
    try:
        s.conn = s._connect()
    except TemporaryFailure as e:
        raise ValueError(str(e)) from None
    finally:
        s.close()
