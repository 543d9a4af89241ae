"""A real SMTP server on loopback for the mail tests (aiosmtpd in a thread), recording what
it accepts as parsed ``email`` messages, and able to refuse recipients (550), answer
451 (try later) or drop the connection, like real servers do."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from live_server import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: email.message.EmailMessage
    tls: bool = False  # the message came over TLS (STARTTLS or implicit)


@dataclass
class Inbox:
    """The server's behaviour and what it received."""

    messages: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # recipients answered 550
    defer_once: set[str] = field(default_factory=set)  # recipients answered 451 once
    drop_at: int | None = None  # close the connection at the DATA of message n (1-based)
    data_seen: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        a = address.lower()
        if a in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if a in self.defer_once:
            self.defer_once.discard(a)
            return f"451 4.7.1 <{address}>: greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.data_seen += 1
            drop = self.drop_at is not None and self.data_seen == self.drop_at
        if drop:
            server.transport.close()  # the message is not accepted
            return "421 closing"
        msg = email.message_from_bytes(
            envelope.original_content or envelope.content, policy=email.policy.default
        )
        with self.lock:
            self.messages.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    envelope.original_content or envelope.content,
                    msg,
                    # STARTTLS sets session.ssl; implicit TLS only the transport's
                    tls=session.ssl is not None
                    or server.transport.get_extra_info("ssl_object") is not None,
                )
            )
        return "250 2.0.0 Ok: queued"

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address.lower() in (r.lower() for r in m.rcpt_tos)]

    def wait_for(self, n: int, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while len(self.messages) < n:
            if time.monotonic() > end:
                raise AssertionError(f"only {len(self.messages)} of {n} messages arrived")
            time.sleep(0.02)


class SmtpServer:
    def __init__(self, **smtp_options):
        """``smtp_options`` go to aiosmtpd's SMTP (e.g. an ``authenticator``)."""
        self.inbox = Inbox()
        self.port = free_port()
        self.controller = Controller(
            self.inbox, hostname="127.0.0.1", port=self.port, **smtp_options
        )

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
