"""Small security helpers of the respondent side: URL metadata and response headers."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

from flask import Flask, Response

from .store import declared_params

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


def set_headers(response: Response) -> Response:
    """Headers for every response.

    ``Referrer-Policy: no-referrer`` keeps invitation tokens in our URLs from leaking
    to other sites; survey pages carry answers, so they are never cached.
    """
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    app.after_request(set_headers)
