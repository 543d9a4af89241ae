"""RFC 9457 problem details: every error of ``/api/v1/`` is a JSON object
``{"type", "title", "status", "detail", ...}`` sent as ``application/problem+json``.

:func:`abort_problem` raises one from a view; :func:`problem_from_http` turns any
``HTTPException`` (404 of an unknown path, 413 of a too-large body, 429 of the rate
limiter, ...) into one, keeping headers such as ``Retry-After`` and ``Allow``.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from flask import Response
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

MIMETYPE = "application/problem+json"
#: ``type`` URIs of the problems the API raises itself (documented in the README).
TYPE_BASE = "https://trustmeter.invalid/problems/"


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    type_: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": TYPE_BASE + type_ if type_ else "about:blank",
        "title": title or HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    resp = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=MIMETYPE)
    resp.headers["Cache-Control"] = "no-store"
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


class ProblemException(HTTPException):
    """An ``HTTPException`` carrying a finished problem response."""

    def __init__(self, response: Response):
        super().__init__(response=response)
        self.code = response.status_code


def abort_problem(status: int, detail: str | None = None, **kw: Any) -> NoReturn:
    raise ProblemException(problem_response(status, detail, **kw))


def problem_from_http(e: HTTPException) -> Response:
    if isinstance(e, ProblemException) and e.response is not None:
        return e.response
    code = e.code or 500
    headers = {k: v for k, v in e.get_headers() if k.lower() not in ("content-type",)}
    detail = e.description if code != 500 else "an unexpected error on the server"
    return problem_response(code, detail, headers=headers)
