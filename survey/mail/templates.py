"""Message templates: per language a subject, a plain-text body and an HTML body, written
in Jinja. They run sandboxed (a campaign's own templates come from researchers), the HTML
body is autoescaped, and an unknown placeholder is an error, so a typo is caught when the
template is saved. Defaults for en, ru and fa ship in ``defaults/<lang>/``.

Placeholders: ``name`` (may be empty), ``link`` (the personal survey link), ``title``
(the campaign's title), ``closes`` (its close date, or empty), ``optout_link``, and
``reminder`` (true in reminders).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cache
from importlib import resources

from babel.dates import format_date
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

PARTS = ("subject", "text", "html")
FILES = {"subject": "subject.txt", "text": "body.txt", "html": "body.html"}
DEFAULT_LANGUAGES = ("en", "ru", "fa")
MAX_TEMPLATE = 100_000

_text_env = SandboxedEnvironment(
    autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True
)
_html_env = SandboxedEnvironment(
    autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True
)


@cache
def default_templates(language: str) -> dict[str, str]:
    """The shipped templates for ``language`` (English for a language without its own)."""
    lang = language if language in DEFAULT_LANGUAGES else "en"
    base = resources.files("survey.mail") / "defaults" / lang
    return {part: (base / name).read_text(encoding="utf-8") for part, name in FILES.items()}


def templates_for(language: str, overrides: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The campaign's templates for ``language``: its override, else the default."""
    return dict(overrides.get(language) or default_templates(language))


def close_date(closes_at: str | None, language: str) -> str:
    """The last day a campaign is open, in the language's long date format."""
    if not closes_at:
        return ""
    last = datetime.fromisoformat(closes_at) - timedelta(milliseconds=1)
    try:
        return format_date(last.date(), format="long", locale=language.replace("-", "_"))
    except (ValueError, LookupError):
        return last.date().isoformat()


def render(templates: Mapping[str, str], context: Mapping[str, object]) -> dict[str, str]:
    """Render subject, text and html. The subject is one line (whitespace collapsed)."""
    try:
        subject = _text_env.from_string(templates["subject"]).render(context)
        text = _text_env.from_string(templates["text"]).render(context)
        html = _html_env.from_string(templates["html"]).render(context)
    except TemplateError as e:
        raise ValueError(f"the message template cannot be rendered: {e}") from None
    subject = re.sub(r"\s+", " ", subject).strip()
    if not subject:
        raise ValueError("the message template gives an empty subject")
    return {"subject": subject, "text": text, "html": html}


SAMPLE = {
    "name": "Ana Example",
    "link": "https://survey.example.org/i/TOKEN",
    "title": "Sample campaign",
    "closes": "31 December 2026",
    "optout_link": "https://survey.example.org/optout/TOKEN",
    "reminder": False,
}


def check_templates(subject: str, text: str, html: str) -> None:
    """Raise ``ValueError`` naming the problem when templates cannot be used."""
    for part, value in (("subject", subject), ("text", text), ("html", html)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"the {part} template is empty")
        if len(value) > MAX_TEMPLATE:
            raise ValueError(f"the {part} template is longer than {MAX_TEMPLATE} characters")
    if "{{ link }}" not in text.replace("{{link}}", "{{ link }}"):
        raise ValueError("the text template must contain the personal link {{ link }}")
    if "optout_link" not in text or "optout_link" not in html:
        raise ValueError("both bodies must contain the opt-out link {{ optout_link }}")
    for reminder in (False, True):
        render({"subject": subject, "text": text, "html": html}, {**SAMPLE, "reminder": reminder})
