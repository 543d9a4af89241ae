"""The outbox handler for kind ``email``: render the contact's message at send time (so a
template changed after queueing is used), send it, and record the outcome on the contact.

Configuration (environment): ``TRUSTMETER_SMTP_URL`` (see :mod:`survey.mail.smtp`),
``TRUSTMETER_MAIL_FROM`` (``Name <address>``), ``TRUSTMETER_BASE_URL`` (the public
address links point to) and ``TRUSTMETER_MAIL_RATE`` (messages per minute, default 60).

Before sending, the contact is checked again: a contact who opted out, bounced, was
purged or is suppressed gets nothing, nor does a completed contact get a reminder (the
row ends ``failed`` with the reason ``skipped: ...``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from urllib.parse import quote

from sqlite_utils import Database

from survey import worker
from survey.mail import message, smtp, templates
from survey.storage import contacts, outbox
from survey.storage.store import get_campaign

log = logging.getLogger("trustmeter.mail")

ENV_FROM = "TRUSTMETER_MAIL_FROM"
ENV_BASE = "TRUSTMETER_BASE_URL"
ENV_RATE = "TRUSTMETER_MAIL_RATE"
DEFAULT_RATE = 60.0


def base_url_from(value: str | None) -> str:
    if not value:
        raise ValueError(
            f"{ENV_BASE} is not set: the public address the links point to, "
            "e.g. https://survey.example.org"
        )
    if not value.startswith(("http://", "https://")) or any(c in value for c in ' \r\n<>"'):
        raise ValueError(f"{ENV_BASE} must be an http:// or https:// address, got {value!r}")
    return value.rstrip("/")


def rate_from(value: str | None) -> float:
    if not value:
        return DEFAULT_RATE
    try:
        rate = float(value)
    except ValueError:
        raise ValueError(
            f"{ENV_RATE} must be a number of messages per minute, got {value!r}"
        ) from None
    if not rate > 0:
        raise ValueError(f"{ENV_RATE} must be positive, got {value!r}")
    return rate


@dataclass(frozen=True)
class MailConfig:
    smtp: smtp.SmtpConfig
    sender: Address
    base_url: str
    rate: float

    @classmethod
    def from_env(cls, *, rate: float | None = None, base_url: str | None = None) -> MailConfig:
        return cls(
            smtp=smtp.parse_url(os.environ.get(smtp.ENV_URL)),
            sender=message.parse_from(os.environ.get(ENV_FROM, "")),
            base_url=base_url_from(base_url or os.environ.get(ENV_BASE)),
            rate=rate if rate is not None else rate_from(os.environ.get(ENV_RATE)),
        )


def links(
    base_url: str, key: bytes, contact_id: int, language: str | None = None
) -> tuple[str, str]:
    """The contact's personal survey link (opening in ``language``) and opt-out link."""
    lang = f"?lang={quote(language)}" if language else ""
    return (
        f"{base_url}/i/{contacts.invitation_token(key, contact_id)}{lang}",
        f"{base_url}/optout/{contacts.optout_token(key, contact_id)}",
    )


def compose(
    db: Database,
    campaign: Mapping,
    contact: Mapping,
    *,
    purpose: str,
    sender: Address,
    base_url: str,
    key: bytes,
    link: str,
    optout_link: str,
    idempotency_key: str,
) -> EmailMessage:
    """The message for ``contact`` (a dict with email, name, language)."""
    lang = contact["language"]
    tpl = templates.templates_for(lang, contacts.get_templates(db, campaign))
    parts = templates.render(
        tpl,
        {
            "name": contact.get("name") or "",
            "link": link,
            "optout_link": optout_link,
            "title": campaign.get("title") or campaign["slug"],
            "closes": templates.close_date(campaign.get("closes_at"), lang),
            "reminder": purpose == "reminder",
        },
    )
    return message.build(
        sender=sender,
        to_email=contact["email"],
        to_name=contact.get("name"),
        subject=parts["subject"],
        text=parts["text"],
        html=parts["html"],
        language=lang,
        optout_link=optout_link,
        msg_id=message.message_id(key, idempotency_key, sender.domain),
    )


class MailHandler:
    """Sends e-mail rows of the outbox over one reused SMTP connection, throttled."""

    def __init__(self, config: MailConfig):
        self.config = config
        self.sender = smtp.SmtpSender(config.smtp)
        self.throttle = smtp.Throttle(config.rate)

    def deliver(self, db: Database, job: outbox.Job) -> str:
        m = contacts.message_for(db, job.id)
        if m is None:
            raise worker.PermanentFailure("no contact message for this outbox row")
        contact = contacts.get_contact(db, m["contact_id"])
        if contact is None:
            raise worker.PermanentFailure("the contact no longer exists")
        skip = self._skip_reason(db, contact, m["purpose"])
        if skip:
            raise worker.PermanentFailure(f"skipped: {skip}")
        campaign = _campaign_by_id(db, contact["campaign_id"])
        key = contacts.app_key(db)
        link, optout_link = links(self.config.base_url, key, contact["id"], contact["language"])
        try:
            msg = compose(
                db,
                campaign,
                contact,
                purpose=m["purpose"],
                sender=self.config.sender,
                base_url=self.config.base_url,
                key=key,
                link=link,
                optout_link=optout_link,
                idempotency_key=job.idempotency_key,
            )
            data = msg.as_bytes()
        except ValueError as e:
            raise worker.PermanentFailure(smtp.scrub(f"cannot build the message: {e}")) from None
        self.throttle.wait()
        try:
            return self.sender.send(self.config.sender.addr_spec, contact["email"], data)
        except smtp.RecipientRefused as e:
            contacts.mark_bounced(db, contact["id"])
            raise worker.PermanentFailure(f"recipient refused (bounced): {e}") from None

    @staticmethod
    def _skip_reason(db: Database, contact: Mapping, purpose: str) -> str | None:
        if contact["purged_at"] or not contact["email"]:
            return "contacts purged"
        if contact["opted_out_at"]:
            return "opted out"
        if contact["bounced_at"]:
            return "address bounced earlier"
        if contacts.is_suppressed(db, contact["email_hmac"]):
            return "address opted out (suppressed)"
        if purpose == "reminder" and contacts.contact_completed(db, contact):
            return "already completed"
        return None

    def on_sent(self, db: Database, job: outbox.Job, reply: str) -> None:
        m = contacts.message_for(db, job.id)
        if m is not None:
            contacts.mark_message_sent(db, m["contact_id"], m["purpose"])

    def close(self) -> None:
        self.sender.close()


def _campaign_by_id(db: Database, campaign_id: int) -> dict:
    slug = contacts.campaign_slug(db, campaign_id)
    c = get_campaign(db, slug) if slug else None
    if c is None:
        raise worker.PermanentFailure("the campaign no longer exists")
    return c


worker.register(contacts.KIND, lambda: MailHandler(MailConfig.from_env()))
worker.register_periodic(300, contacts.auto_purge)
