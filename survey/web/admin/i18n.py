"""Translation of the researcher side: its own gettext domain, ``admin``.

The researcher pages are in English for now, with every string wrapped so that
they can be translated later. They use the domain ``admin`` (a catalogue
``translations/<lang>/LC_MESSAGES/admin.mo``, extracted from ``survey/admin*.py``,
``survey/auth.py`` and ``survey/templates/admin/`` with the keywords ``_t``, ``_lt``
and ``t``), kept apart from the respondent catalogue ``messages``, which must stay
complete in every survey language. Without an ``admin`` catalogue the English
source strings are shown.

In Python: ``_t("text")`` (now) and ``_lt("text")`` (lazy, for form labels); in the
admin templates: ``t("text", name=value)``.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import Domain

DOMAIN = Domain(domain="admin")
_t = DOMAIN.gettext
_lt = DOMAIN.lazy_gettext


def init_app(app: Flask) -> None:
    app.jinja_env.globals["t"] = _t
