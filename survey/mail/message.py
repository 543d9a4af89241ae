"""Building one message with the standard library's ``email`` package.

multipart/alternative (plain text first, then HTML), UTF-8 bodies, and headers under
``email.policy.SMTP``: a non-ASCII display name or subject is RFC 2047 encoded (readable by
every server; RFC 6532 raw UTF-8 headers would need SMTPUTF8 from the server, and the
addresses themselves are ASCII, see :mod:`survey.mail.contacts`). Every message carries
``List-Unsubscribe`` and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058).
"""

from __future__ import annotations

import email.policy
import hashlib
import hmac
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, getaddresses


def parse_from(value: str) -> Address:
    """``TRUSTMETER_MAIL_FROM`` (``addr`` or ``Name <addr>``) as an Address."""
    if not value or "\r" in value or "\n" in value:
        raise ValueError(
            "TRUSTMETER_MAIL_FROM must be one address, e.g. 'Survey team <survey@example.org>'"
        )
    pairs = getaddresses([value])
    if len(pairs) != 1 or "@" not in pairs[0][1]:
        raise ValueError(f"TRUSTMETER_MAIL_FROM is not an e-mail address: {value!r}")
    name, addr = pairs[0]
    local, _, domain = addr.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


def message_id(key: bytes, idempotency_key: str, domain: str) -> str:
    """A Message-ID fixed by the outbox row: a message sent twice after a crash carries
    the same id, so receiving systems can tell it is one message."""
    digest = hmac.new(
        key, b"message-id:" + idempotency_key.encode("utf-8"), hashlib.sha256
    ).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def build(
    *,
    sender: Address,
    to_email: str,
    to_name: str | None,
    subject: str,
    text: str,
    html: str,
    language: str,
    optout_link: str,
    msg_id: str,
) -> EmailMessage:
    """The message, ready for ``as_bytes()``; raises ``ValueError`` for a header that
    would carry a line break."""
    for what, value in (
        ("subject", subject),
        ("name", to_name or ""),
        ("address", to_email),
        ("opt-out link", optout_link),
    ):
        if "\r" in value or "\n" in value:
            raise ValueError(f"the {what} contains a line break")
    if to_name and "=?" in to_name:
        raise ValueError("the name contains '=?', which mail programs would decode")
    local, _, domain = to_email.rpartition("@")
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = sender
    msg["To"] = Address(display_name=to_name or "", username=local, domain=domain)
    msg["Subject"] = subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = msg_id
    msg["List-Unsubscribe"] = f"<{optout_link}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text, charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    # after the parts exist: making the message multipart moves Content-* headers into them
    msg["Content-Language"] = language
    return msg
