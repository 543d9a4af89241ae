"""Sending the periodic report by e-mail: ``trustmeter report --mail-to ADDR``.

The report goes out at once (a cron line does the periodic reporting), through the same
SMTP settings as invitations (``TRUSTMETER_SMTP_URL``, ``TRUSTMETER_MAIL_FROM``): one
multipart/alternative message per recipient, the one-line summary as text and the
self-contained HTML report as the HTML part and as an attachment. A refused recipient
or an unreachable server is an error naming it; the other recipients still get theirs.
"""

from __future__ import annotations

import email.policy
import os
import re
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from survey.mail.message import parse_from
from survey.mail.smtp import SmtpSender, parse_url
from survey.worker import PermanentFailure, TemporaryFailure

_ADDRESS = re.compile(r"[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+")


def check_recipients(addresses: Sequence[str]) -> list[str]:
    """The addresses, each checked: plain ``local@domain``, no line breaks."""
    out = []
    for a in addresses:
        if not _ADDRESS.fullmatch(a or ""):
            raise ValueError(f"--mail-to {a!r} is not an e-mail address (local@domain)")
        out.append(a)
    return out


def _masked(addr: str) -> str:
    """``a***@example.org``: enough to tell recipients apart in cron's mail, no more."""
    local, _, domain = addr.rpartition("@")
    return f"{local[:1]}***@{domain}"


def report_message(
    sender: Address, to: str, subject: str, summary: str, html: str, filename: str
) -> EmailMessage:
    if "\r" in subject or "\n" in subject:
        raise ValueError("the subject contains a line break")
    local, _, domain = to.rpartition("@")
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = sender
    msg["To"] = Address(username=local, domain=domain)
    msg["Subject"] = subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=sender.domain or None)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(summary + "\n\nThe full report is attached (HTML).\n", charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    msg.add_attachment(html.encode("utf-8"), maintype="text", subtype="html", filename=filename)
    return msg


def send_report(
    recipients: Sequence[str], *, subject: str, summary: str, html: str, filename: str
) -> list[str]:
    """Send the report to each recipient; return the server's replies. Raises
    ``ValueError`` for missing settings and ``RuntimeError`` naming every recipient
    that could not be reached (after trying all of them)."""
    to = check_recipients(recipients)
    config = parse_url(os.environ.get("TRUSTMETER_SMTP_URL"))
    sender = parse_from(os.environ.get("TRUSTMETER_MAIL_FROM", ""))
    smtp = SmtpSender(config)
    replies, failed = [], []
    try:
        for addr in to:
            msg = report_message(sender, addr, subject, summary, html, filename)
            try:
                replies.append(smtp.send(sender.addr_spec, addr, msg.as_bytes()))
            except (PermanentFailure, TemporaryFailure) as e:
                failed.append(f"{_masked(addr)}: {e}")
    finally:
        smtp.close()
    if failed:
        raise RuntimeError("the report could not be sent to " + "; ".join(failed))
    return replies
