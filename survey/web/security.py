"""Small security helpers of the respondent side: URL metadata, response headers
(Content-Security-Policy and friends) and the rate limit on respondent POSTs.

The request size limit is Flask's ``MAX_CONTENT_LENGTH`` (set in
:func:`survey.create_app`; a larger body gets the 413 page).
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping

from flask import Flask, Response, current_app, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import TooManyRequests

from survey.storage.store import declared_params
from survey.web import ratelimit

MAX_PARAM_LENGTH = 100  # characters kept of a URL parameter's value
MAX_TOKEN_LENGTH = 128  # longer "invitation tokens" are not looked up at all


def clean_text(value: str, limit: int = MAX_PARAM_LENGTH) -> str:
    """``value`` without control/format/unassigned characters, trimmed and cut to ``limit``.

    Category ``C*`` covers ASCII controls, NUL, bidi overrides (which could disguise
    a value in a report) and lone surrogates.
    """
    kept = "".join(ch for ch in value if not unicodedata.category(ch).startswith("C"))
    return kept.strip()[:limit].strip()


def url_params(campaign: Mapping, args: Mapping[str, str]) -> dict[str, str]:
    """The campaign's declared URL parameters in ``args``, cleaned (respondent metadata).

    Undeclared parameters are ignored (``store.declared_params``); values are cut to
    :data:`MAX_PARAM_LENGTH` characters without control characters, and dropped when
    nothing is left. Only the first value of a repeated parameter counts.
    """
    kept = {name: clean_text(value) for name, value in declared_params(campaign, args).items()}
    return {name: value for name, value in kept.items() if value}


#: No inline script or style at all (the templates have none: no ``<script>``,
#: ``<style>`` or ``style=``; tests/test_security.py checks), no framing, forms post
#: only to us. ``img-src data:`` allows CSS data-URI images.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def set_headers(response: Response) -> Response:
    """Headers for every response.

    ``Referrer-Policy: same-origin`` keeps invitation tokens in our URLs from leaking
    to other sites, while our own pages still get the same-origin ``Referer`` that
    Flask-WTF's CSRF check demands on HTTPS (``no-referrer`` made every POST over HTTPS
    fail with 400). Survey pages carry answers, so they are never cached.
    """
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def limit_respondent_posts() -> None:
    """At most ``RATELIMIT_POSTS`` respondent POSTs (consent, answer pages) per
    ``RATELIMIT_WINDOW`` seconds from one client address to one link, else the 429
    page.

    A complete response takes one POST per page plus the consent (about 6 for the
    built-in instrument), so the default 60 a minute lets about ten respondents
    behind one address (an office) start and finish per minute on a public link.
    Each invitation link counts for itself: it can only ever write its one response,
    and invited colleagues behind one office address must not share an allowance. A
    forged link is refused (404) without writing anything. GETs are not limited:
    they store nothing.
    """
    if request.method != "POST" or request.blueprint != "respondent":
        return
    limit = int(current_app.config.get("RATELIMIT_POSTS") or 0)
    if limit <= 0:
        return
    args = request.view_args or {}
    key = str(args.get("key", ""))
    link = f"{args.get('kind')}/{hashlib.sha256(key.encode('utf-8', 'replace')).hexdigest()[:24]}"
    ratelimit.check(
        "respondent-post",
        f"{ratelimit.client_ip()}|{link}",
        limit,
        current_app.config.get("RATELIMIT_WINDOW") or ratelimit.DEFAULT_WINDOW,
    )


def too_many_requests(e: TooManyRequests):
    """The translated 429 page, keeping the ``Retry-After`` header."""
    return (
        render_template(
            "error.html",
            code=429,
            title=_("Too many requests"),
            message=_(
                "You have sent a lot of answers in a short time. Please wait a minute, "
                "then go back and submit the page again."
            ),
        ),
        429,
        e.get_headers(),
    )


def init_app(app: Flask) -> None:
    ratelimit.init_app(app)
    app.register_error_handler(TooManyRequests, too_many_requests)
    # First of all before_request functions: a refused POST costs no CSRF check or
    # form parsing.
    app.before_request_funcs.setdefault(None, []).insert(0, limit_respondent_posts)
    app.after_request(set_headers)
