"""gunicorn's access log without secrets: invitation and opt-out tokens travel in URL
paths (``/i/<token>``, ``/optout/<token>``) and would otherwise be written to the log with
every request line, path and (same-origin) referrer; a ``token=`` query parameter too.
``trustmeter serve`` uses :class:`RedactingLogger` (access and error log), and the Flask
app's logger has :class:`RedactingFilter` (survey.create_app)."""

from __future__ import annotations

import logging
import re

try:
    from gunicorn.glogging import Logger
except ImportError:  # Windows: waitress serves; only the filter is used
    Logger = object  # type: ignore[assignment,misc]

_TOKEN_PATH = re.compile(r"/(i|optout)/[^/?#\s\"]+")
# token=, access_token=, ... in a query string or form body, and a bearer token
_TOKEN_PARAM = re.compile(r"(?i)\b([a-z_]*token)=[^&\s\"#;]+")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")


def redact(text: str | None) -> str | None:
    """``/i/<anything>`` and ``/optout/<anything>`` with the token replaced by ``<token>``."""
    if not text:
        return text
    text = _TOKEN_PATH.sub(lambda m: f"/{m.group(1)}/<token>", text)
    text = _TOKEN_PARAM.sub(lambda m: f"{m.group(1)}=<token>", text)
    return _BEARER.sub(lambda m: f"{m.group(1)} <token>", text)


class RedactingFilter(logging.Filter):
    """Rewrites a log record's message (and its traceback text) through :func:`redact`:
    "Exception on /i/<token> [GET]" instead of the real token."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_filter(logger: logging.Logger) -> None:
    """Add one :class:`RedactingFilter` to ``logger`` (once)."""
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())


class RedactingLogger(Logger):
    def setup(self, cfg):
        super().setup(cfg)
        install_filter(self.error_log)  # gunicorn's error log: tracebacks name the URL

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "q", "f", "{referer}i"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        return atoms
