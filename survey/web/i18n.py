"""Languages of the survey: which one a request gets, its direction and its digits.

Page chrome (buttons, messages, progress) is translated with Flask-Babel from the
gettext catalogues in ``survey/translations``; questionnaire texts come from the
instrument itself. Both use the language chosen here, stored on ``g.lang`` by the
respondent views.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from babel import Locale, UnknownLocaleError
from flask import Flask, g, request, session
from flask_babel import Babel
from werkzeug.urls import urlencode

#: Languages with a chrome catalogue (English is the source language).
CHROME_LANGUAGES = ("en", "ru", "fa")

#: Native digits for locales whose everyday numbers are not Latin digits. Babel's
#: ``format_decimal`` gives Latin digits for ``fa``, so we map them ourselves.
NATIVE_DIGITS = {"fa": "۰۱۲۳۴۵۶۷۸۹"}

_LATIN = "0123456789"


def _base(lang: str) -> str:
    return lang.split("-")[0].split("_")[0].lower()


@cache
def direction(lang: str) -> str:
    """``"rtl"`` for right-to-left scripts (fa, ar, he ...), else ``"ltr"``."""
    try:
        order = Locale.parse(lang.replace("-", "_")).character_order
    except (ValueError, UnknownLocaleError):
        return "ltr"
    return "rtl" if order == "right-to-left" else "ltr"


@cache
def language_name(lang: str) -> str:
    """A language's name in that language (``فارسی`` for fa), for the switcher."""
    try:
        name = Locale.parse(lang.replace("-", "_")).display_name or lang
    except (ValueError, UnknownLocaleError):
        return lang
    return name[:1].upper() + name[1:]


def local_digits(value: object, lang: str | None = None) -> str:
    """``value`` as text, with Latin digits replaced by the language's own digits."""
    text = str(value)
    digits = NATIVE_DIGITS.get(_base(lang or current_language()))
    if digits is None:
        return text
    return text.translate(str.maketrans(_LATIN, digits))


def choose_language(available: Sequence[str], default: str | None = None) -> str:
    """The request's language among ``available``.

    ``?lang=`` wins when it names an available language, then the best match for the
    browser's Accept-Language header, then ``default`` (the instrument's first
    language), then the first available language.
    """
    available = list(available)
    asked = request.args.get("lang", "")
    if asked in available:
        return asked
    best = request.accept_languages.best_match(available)
    if best:
        return best
    if default in available:
        return default
    return available[0] if available else "en"


def current_language() -> str:
    """The language of this request.

    The respondent views set ``g.lang`` (and remember it in the session). Pages
    rendered before or without them - a CSRF failure, a 404 - use ``?lang=``, then
    the respondent's remembered language, then the Accept-Language header.
    """
    lang = g.get("lang") if g else None
    if lang:
        return lang
    if not request:
        return "en"
    if request.args.get("lang") not in CHROME_LANGUAGES and session.get("lang") in CHROME_LANGUAGES:
        return session["lang"]
    return choose_language(CHROME_LANGUAGES)


def use_language(lang: str) -> None:
    """Render this request in ``lang`` and remember it for the respondent's next pages."""
    g.lang = lang
    if session.get("lang") != lang:
        session["lang"] = lang


def switch_url(lang: str) -> str:
    """This page's URL in another language: its query string with ``lang`` replaced."""
    args = request.args.copy()
    args["lang"] = lang
    return f"{request.path}?{urlencode(args)}"


def _locale_selector() -> str:
    """Flask-Babel's locale: the chrome catalogue closest to the current language."""
    lang = _base(current_language())
    return lang if lang in CHROME_LANGUAGES else "en"


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=_locale_selector)
    app.jinja_env.filters["digits"] = local_digits
    app.jinja_env.globals.update(
        language_name=language_name, switch_url=switch_url, chrome_languages=CHROME_LANGUAGES
    )

    @app.context_processor
    def _language_context() -> dict:
        lang = current_language()
        return {"lang": lang, "direction": direction(lang)}
