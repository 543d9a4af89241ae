"""Rate limiting shared by all server processes: a sliding-window counter in SQLite.

gunicorn runs several worker processes, so counters kept in one process would let a
client through ``workers`` times more often. The counters live in a small SQLite
file of their own next to the database (``RATELIMIT_STORAGE``, default
``<database>.ratelimit.db``), so they are shared by every worker and never contend
for the survey database's write lock. They need no durability (``synchronous=OFF``):
after a crash a client may get a fresh allowance, nothing else. Should the counter
file fail (locked for seconds, disk full), requests are let through and a warning
is logged: the limiter protects the survey, it must not take it down.

The estimate is the usual sliding-window counter: the current fixed window's count
plus the previous window's count weighted by how much of it still overlaps the
sliding window. It never lets more than ``limit`` hits through in any ``window``
aligned to the fixed windows, and at most about ``2 * limit`` in an unaligned one
(in practice much less, since the previous window is counted in proportion).

Use it anywhere (e.g. the researchers' login)::

    from survey.web import ratelimit
    ratelimit.check("login", f"{ratelimit.client_ip()}:{username}", limit=10, window=300)

:func:`check` raises ``werkzeug.exceptions.TooManyRequests`` (HTTP 429, with a
``Retry-After`` header) once the key has used its allowance; the app's error
handler renders the translated 429 page. :func:`hit` is the same without raising.

Configuration (app config):

``RATELIMIT_ENABLED``
    Default: on, except in ``TESTING`` mode. When off, :func:`check` allows all.
``RATELIMIT_POSTS`` / ``RATELIMIT_WINDOW``
    Respondent POSTs (consent and answer pages) per client address and link within
    ``RATELIMIT_WINDOW`` seconds: default 60 per 60 s; ``RATELIMIT_POSTS`` defaults to
    ``$TRUSTMETER_RATELIMIT_POSTS`` when set; 0 turns that limit off.
``RATELIMIT_STORAGE``
    Path of the counter file; ``":memory:"`` keeps the counters in this process
    only (then each gunicorn worker counts for itself: a weaker limit).
``RATELIMIT_TRUSTED_PROXIES``
    Number of reverse proxies in front of the app that append to
    ``X-Forwarded-For`` (default ``$TRUSTMETER_TRUSTED_PROXIES``, else 0: the TCP peer
    is the client). Behind a proxy with 0, every respondent shares the proxy's address
    and thus one allowance, so set it to 1 behind one nginx/Caddy; never set it
    without a proxy, or clients choose their own address.
"""

from __future__ import annotations

import os

from flask import Flask, current_app, request
from werkzeug.exceptions import TooManyRequests

from survey.storage.ratelimit import RateLimiter, default_storage

ENV_POSTS = "TRUSTMETER_RATELIMIT_POSTS"
ENV_PROXIES = "TRUSTMETER_TRUSTED_PROXIES"
DEFAULT_POSTS = 60
DEFAULT_WINDOW = 60


def limiter(app: Flask | None = None) -> RateLimiter:
    """The app's limiter, created on first use (after the server has forked)."""
    app = app or current_app
    lim = app.extensions.get("ratelimit")
    if lim is None:
        storage = app.config.get("RATELIMIT_STORAGE") or default_storage(app.config["DATABASE"])
        lim = app.extensions["ratelimit"] = RateLimiter(storage)
    return lim


def client_ip() -> str:
    """The client's address: the TCP peer, or the address the trusted proxies report."""
    proxies = int(current_app.config.get("RATELIMIT_TRUSTED_PROXIES") or 0)
    if proxies > 0:
        forwarded = [
            a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",") if a.strip()
        ]
        if len(forwarded) >= proxies:  # the rightmost ones were added by our proxies
            return forwarded[-proxies][:64]
    return request.remote_addr or "unknown"


def hit(rule: str, key: str, limit: int, window: float) -> tuple[bool, int]:
    """Count a hit of ``rule`` for ``key``: ``(allowed, retry_after_seconds)``."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return True, 0
    return limiter().hit(f"{rule}:{key}", int(limit), float(window))


def check(rule: str, key: str, limit: int, window: float) -> None:
    """Count a hit; raise ``TooManyRequests`` (429, ``Retry-After``) when over the limit."""
    allowed, retry_after = hit(rule, key, limit, window)
    if not allowed:
        raise TooManyRequests(retry_after=retry_after)


def strike(rule: str, key: str, limit: int, window: float) -> tuple[bool, int]:
    """Take a strike (see :meth:`RateLimiter.strike`): ``(allowed, retry_after)``.
    Strikes guard logins, so they count even where ``RATELIMIT_ENABLED`` is off."""
    return limiter().strike(f"{rule}:{key}", int(limit), float(window))


def pardon(rule: str, key: str, *, all_strikes: bool = False) -> None:
    """Take back a strike of ``rule`` on ``key`` (or all)."""
    limiter().pardon(f"{rule}:{key}", all_strikes=all_strikes)


def init_app(app: Flask) -> None:
    """Configuration defaults (see the module docstring)."""
    app.config.setdefault("RATELIMIT_ENABLED", not app.testing)
    env = os.environ.get(ENV_POSTS, "").strip()
    app.config.setdefault("RATELIMIT_POSTS", int(env) if env.isdigit() else DEFAULT_POSTS)
    app.config.setdefault("RATELIMIT_WINDOW", DEFAULT_WINDOW)
    app.config.setdefault("RATELIMIT_STORAGE", None)
    proxies = os.environ.get(ENV_PROXIES, "").strip()
    app.config.setdefault("RATELIMIT_TRUSTED_PROXIES", int(proxies) if proxies.isdigit() else 0)
