"""The trustmeter survey web app (Flask application factory, as in the Flask tutorial)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

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
    """A random secret key stored in the instance folder, so sessions survive restarts."""
    path = Path(app.instance_path) / "secret_key"
    try:
        key = path.read_text(encoding="ascii").strip()
        if key:
            return key
    except OSError:
        pass
    key = secrets.token_hex(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        ignore = path.parent / ".gitignore"  # the instance folder may sit in a checkout
        if not ignore.exists():
            ignore.write_text("*\n", encoding="ascii")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(key)
    except FileExistsError:  # another process wrote one first: use theirs
        return path.read_text(encoding="ascii").strip() or key
    except OSError:
        app.logger.warning("cannot store a secret key in %s; sessions end on restart", path)
    return key


def _error_texts(code: int) -> tuple[str, str]:
    """Translated title and explanation of an HTTP error page."""
    texts = {
        400: (_("Something went wrong with your answers"),
              _("We could not read what your browser sent. Please go back and try again.")),
        403: (_("Not allowed"), _("You are not allowed to do this.")),
        404: (_("Page not found"),
              _("We could not find this page. Please check the link you were sent.")),
        405: (_("Not allowed"), _("This page cannot be used this way.")),
        413: (_("Too much data"), _("What your browser sent is too large.")),
        500: (_("Something went wrong"),
              _("Sorry, there was a problem on our side. Your previous answers are saved; "
                "please try again in a few minutes.")),
    }
    return texts.get(code, (_("Something went wrong"), _("Please try again later.")))


def _register_error_pages(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(e: CSRFError):
        return render_template(
            "error.html", code=400, title=_("This page has expired"),
            message=_("For your security the form could not be accepted. Please go back, "
                      "reload the page and submit your answers again.")), 400

    @app.errorhandler(HTTPException)  # also gets unhandled errors, as InternalServerError
    def http_error(e: HTTPException):
        code = e.code or 500
        title, message = _error_texts(code)
        # e.get_headers() keeps e.g. the Allow header of a 405.
        return (render_template("error.html", code=code, title=title, message=message), code,
                e.get_headers())
