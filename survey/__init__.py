"""The trustmeter survey web app (Flask application factory, as in the Flask tutorial)."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

try:
    import fcntl
except ImportError:  # Windows: one waitress process, nothing to share the key with
    fcntl = None  # type: ignore[assignment]

csrf = CSRFProtect()


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create and configure the survey app.

    Configuration, later sources winning: the defaults below, ``config.py`` in the
    instance folder, then ``test_config``. ``DATABASE`` defaults to
    ``$TRUSTMETER_DB`` or ``trustmeter.db``; ``SECRET_KEY`` to
    ``$TRUSTMETER_SECRET_KEY``, else a random key kept in the instance folder.
    """
    from survey.storage import db

    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("TRUSTMETER_SECRET_KEY"),
        DATABASE=db.default_path(),
        # Public-link respondents resume through the signed session cookie.
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Sign and send the session cookie only when the session changed (a response
        # started, a login): re-signing it on every request cost about a tenth of a
        # respondent request's server time. A permanent session then lasts
        # PERMANENT_SESSION_LIFETIME (31 days) from its last change; researchers'
        # sign-ins expire on the server anyway (survey.web.admin.auth).
        SESSION_REFRESH_EACH_REQUEST=False,
        # A respondent may leave a page open for a long time before answering it.
        WTF_CSRF_TIME_LIMIT=24 * 3600,
        MAX_CONTENT_LENGTH=256 * 1024,  # a page of answers is a few hundred bytes
    )
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
    else:
        app.config.from_mapping(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret_key(app)
    from survey.web.accesslog import install_filter

    # tokens (/i/<token>, token=...) never reach the error log ("Exception on /i/...")
    install_filter(app.logger)
    install_filter(logging.getLogger("werkzeug"))  # `flask run`'s request lines

    from survey.web import i18n, respondent, security

    db.init_app(app)
    i18n.init_app(app)
    csrf.init_app(app)
    security.init_app(app)
    app.register_blueprint(respondent.bp)
    from survey.web import admin  # the researcher side at /admin
    from survey.web.admin import auth

    auth.init_app(app)
    admin.init_app(app)
    from survey.web import api  # the REST API at /api/v1 (bearer tokens, no CSRF)

    api.init_app(app)
    _register_error_pages(app)
    return app


def _instance_secret_key(app: Flask) -> str:
    """A random secret key stored in the instance folder, so sessions survive restarts
    and every worker process signs with the same key (see :func:`load_or_create_key`)."""
    path = Path(app.instance_path) / "secret_key"
    try:
        return load_or_create_key(path)
    except OSError as e:
        app.logger.warning(
            "cannot store a secret key in %s (%s); sessions end on restart, "
            "and several workers would not share it",
            path,
            e.strerror or e,
        )
        return secrets.token_hex(32)


def _read_key(path: Path) -> str | None:
    """The key in ``path``, or None when it is missing, empty or unreadable."""
    try:
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return key if key and key.isprintable() else None


def load_or_create_key(path: Path) -> str:
    """The secret key kept in ``path``; made when missing, empty or unreadable.

    A crashed first write leaves an empty file, and workers that each invent a key of
    their own make logins fail at random. So the key is written to a temporary file
    and renamed over ``path`` (atomic), under an exclusive ``flock`` on
    ``path.lock`` that every process starting at once takes: the first one writes,
    the others wait and read its key. Raises ``OSError`` when the key cannot be stored.
    """
    key = _read_key(path)
    if key:
        return key
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    ignore = folder / ".gitignore"  # the instance folder may sit in a checkout
    if not ignore.exists():
        ignore.write_text("*\n", encoding="ascii")
    lock_fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if fcntl is not None:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
        key = _read_key(path)  # another process may have written it while we waited
        if key:
            return key
        key = secrets.token_hex(32)
        tmp = folder / f".{path.name}.{os.getpid()}.tmp"
        from survey.storage.files import private_mode

        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, private_mode())
        try:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(key + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        with contextlib.suppress(OSError):  # the rename itself durable
            dir_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        return key
    finally:
        os.close(lock_fd)  # releases the flock


def secret_key_problem() -> str | None:
    """Why several worker processes would not share one secret key, or None.

    No problem when ``$TRUSTMETER_SECRET_KEY`` or the instance ``config.py`` sets
    ``SECRET_KEY``, or when the key file in the instance folder can be read or made
    (which this makes, so that the workers find it). ``trustmeter serve`` refuses more
    than one worker otherwise."""
    if os.environ.get("TRUSTMETER_SECRET_KEY"):
        return None
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_pyfile("config.py", silent=True)
    if app.config.get("SECRET_KEY"):
        return None
    path = Path(app.instance_path) / "secret_key"
    try:
        load_or_create_key(path)
    except OSError as e:
        return (
            f"cannot store the secret key in {path} ({e.strerror or e}); the workers "
            "would each sign sessions with their own key. Make the instance folder "
            "writable, set TRUSTMETER_SECRET_KEY, or serve with --workers 1"
        )
    return None


def _error_texts(code: int) -> tuple[str, str]:
    """Translated title and explanation of an HTTP error page."""
    texts = {
        400: (
            _("Something went wrong with your answers"),
            _("We could not read what your browser sent. Please go back and try again."),
        ),
        403: (_("Not allowed"), _("You are not allowed to do this.")),
        404: (
            _("Page not found"),
            _("We could not find this page. Please check the link you were sent."),
        ),
        405: (_("Not allowed"), _("This page cannot be used this way.")),
        413: (_("Too much data"), _("What your browser sent is too large.")),
        500: (
            _("Something went wrong"),
            _(
                "Sorry, there was a problem on our side. Your previous answers are saved; "
                "please try again in a few minutes."
            ),
        ),
    }
    return texts.get(code, (_("Something went wrong"), _("Please try again later.")))


def _register_error_pages(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(e: CSRFError):
        return render_template(
            "error.html",
            code=400,
            title=_("This page has expired"),
            message=_(
                "For your security the form could not be accepted. Please go back, "
                "reload the page and submit your answers again."
            ),
        ), 400

    @app.errorhandler(HTTPException)  # also gets unhandled errors, as InternalServerError
    def http_error(e: HTTPException):
        code = e.code or 500
        title, message = _error_texts(code)
        # e.get_headers() keeps e.g. the Allow header of a 405.
        return (
            render_template("error.html", code=code, title=title, message=message),
            code,
            e.get_headers(),
        )
