"""gunicorn's access log without secrets: invitation and opt-out tokens travel in URL
paths (``/i/<token>``, ``/optout/<token>``) and would otherwise be written to the log with
every request line, path and (same-origin) referrer. ``trustmeter serve`` uses
:class:`RedactingLogger`."""

from __future__ import annotations

import re

from gunicorn.glogging import Logger

_TOKEN_PATH = re.compile(r"/(i|optout)/[^/?#\s\"]+")


def redact(text: str | None) -> str | None:
    """``/i/<anything>`` and ``/optout/<anything>`` with the token replaced by ``<token>``."""
    if not text:
        return text
    return _TOKEN_PATH.sub(lambda m: f"/{m.group(1)}/<token>", text)


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "f", "{referer}i"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        return atoms
