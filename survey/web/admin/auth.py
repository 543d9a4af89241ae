"""Signing researchers in and out (``/admin/login``, ``/admin/logout``), as in the
Flask tutorial's ``flaskr/auth.py``, plus what a public server needs.

Sessions
    On login the Flask session is cleared (so nothing from before survives: session
    rotation) and gets a fresh random session id. Only the id's sha256 is stored, in
    ``user_sessions``, with the user; :func:`load_logged_in_user` looks it up on
    every request. Logging out, disabling the user or changing their password deletes
    the row, so a copied cookie stops working at once. Sessions end after
    ``ADMIN_SESSION_IDLE`` seconds without a request (default 2 hours) and
    ``ADMIN_SESSION_MAX`` seconds after login (default 12 hours).
Cookies
    ``HttpOnly`` and ``SameSite=Lax`` always. ``Secure`` is decided per request by
    :class:`SessionInterface`: set on requests that came over HTTPS, or always when
    ``SESSION_COOKIE_SECURE`` is true, which ``$TRUSTMETER_SECURE_COOKIES=1`` sets
    (use it behind a TLS-terminating proxy, where the app itself sees plain HTTP).
CSRF
    Every form, logout included, carries Flask-WTF's CSRF token; logout is POST only.
Failed logins
    Throttled with strikes in the shared rate-limit file (:mod:`survey.web.ratelimit`,
    one for all gunicorn workers). A strike is taken *before* the password is checked
    and taken back on success, so parallel attempts cannot overrun the budget: after
    :data:`MAX_FAILURES` failures for one username from one address, with less than
    :data:`FAILURE_WINDOW` between them, that pair is refused with 429 until
    :data:`FAILURE_WINDOW` after the last failure; an address is also refused after
    :data:`MAX_FAILURES_PER_ADDRESS` failures over any usernames. A success clears the
    pair's failures. Every failure and refusal goes to the audit log and the app logger.

The client IP is ``request.remote_addr``; behind a reverse proxy wrap the app in
:class:`werkzeug.middleware.proxy_fix.ProxyFix` so it is the client's.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from survey.storage import audit, sessions, users
from survey.storage.db import get_db
from survey.web import ratelimit
from survey.web.admin import i18n
from survey.web.admin.i18n import _lt, _t

bp = Blueprint("auth", __name__, url_prefix="/admin")

MAX_FAILURES = 5  # per username and address
MAX_FAILURES_PER_ADDRESS = 50  # per address, whatever the usernames
FAILURE_WINDOW = timedelta(minutes=15)
SESSION_KEY = "admin_sid"
ENV_SECURE = "TRUSTMETER_SECURE_COOKIES"


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds")


def _sid_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode("ascii", "replace")).hexdigest()


def client_ip() -> str:
    """The client's address, honouring ``TRUSTMETER_TRUSTED_PROXIES`` like every limit."""
    return ratelimit.client_ip()


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with ``Secure`` set on HTTPS requests too."""

    def get_cookie_secure(self, app: Flask) -> bool:
        if app.config.get("SESSION_COOKIE_SECURE"):
            return True
        return bool(request) and request.is_secure


class LoginForm(FlaskForm):
    username = StringField(_lt("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(
        _lt("Password"), validators=[DataRequired(), Length(max=users.MAX_PASSWORD_LENGTH)]
    )


class LogoutForm(FlaskForm):
    """Only the CSRF token."""


# ----- who is signed in --------------------------------------------------------------
def _end_session() -> None:
    sid = session.get(SESSION_KEY)
    if isinstance(sid, str):
        sessions.delete_session(get_db(), _sid_hash(sid))
    session.clear()


def load_logged_in_user() -> None:
    """Set ``g.user`` (a dict from :mod:`survey.storage.users`, or ``None``) from the session."""
    g.user = None
    sid = session.get(SESSION_KEY)
    if not isinstance(sid, str):
        return
    db = get_db()
    found = sessions.find_session(db, _sid_hash(sid))
    now = _now()
    cfg = current_app.config
    if (
        found is None
        or now - found[1] > timedelta(seconds=cfg["ADMIN_SESSION_MAX"])
        or now - found[2] > timedelta(seconds=cfg["ADMIN_SESSION_IDLE"])
    ):
        if found is not None:
            sessions.delete_session(db, _sid_hash(sid))
        session.pop(SESSION_KEY, None)
        return
    if now - found[2] > timedelta(minutes=1):  # not a write per click
        sessions.touch_session(db, _sid_hash(sid), _iso(now))
    g.user = users.get_user_by_id(db, found[0])


def current_username() -> str | None:
    user = g.get("user")
    return user["username"] if user else None


def check_role(minimum: str):
    """``None`` when the signed-in user has at least ``minimum``; otherwise a redirect
    to the login page (anonymous) or a 403 (wrong role) is raised/returned."""
    if g.get("user") is None:  # back to this page after login (forms are not re-sent)
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("auth.login", next=target))
    if not users.role_at_least(g.user["role"], minimum):
        abort(403)
    return None


def audit_log(
    action: str, *, target: str | None = None, details: dict | None = None, user: str | None = None
) -> None:
    """Audit an action of the current request's user, with the client IP."""
    audit.log(
        get_db(),
        action,
        user=user or current_username(),
        target=target,
        details=details,
        ip=client_ip(),
    )


# ----- login throttling ---------------------------------------------------------------
def _take_login_strikes(username: str, ip: str) -> int:
    """Take a strike for the username+address pair and one for the address, before the
    password is checked (so parallel attempts cannot all pass); 0, or the seconds to
    wait when either budget is spent."""
    window = FAILURE_WINDOW.total_seconds()
    pair_ok, pair_wait = ratelimit.strike(
        "login", f"{username.casefold()}|{ip}", MAX_FAILURES, window
    )
    if not pair_ok:
        return pair_wait
    ip_ok, ip_wait = ratelimit.strike("login-address", ip, MAX_FAILURES_PER_ADDRESS, window)
    if not ip_ok:
        ratelimit.pardon("login", f"{username.casefold()}|{ip}")  # not this pair's fault
        return ip_wait
    return 0


def _login_succeeded(username: str, ip: str) -> None:
    """A success clears the pair's failures and takes back the address's strike."""
    ratelimit.pardon("login", f"{username.casefold()}|{ip}", all_strikes=True)
    ratelimit.pardon("login-address", ip)


def _safe_next(target: str | None) -> str:
    """Only our own researcher pages are followed after login (no open redirect)."""
    if target:
        parts = urlsplit(target)
        # no control characters: CR/LF would break the Location header (a 500)
        if (
            not parts.scheme
            and not parts.netloc
            and target.startswith("/admin")
            and "\\" not in target
            and target.isprintable()
        ):
            return target
    return url_for("admin.dashboard")


# ----- views -----------------------------------------------------------------------------
@bp.before_request
def _english() -> None:
    g.lang = "en"  # the researcher side is in English (strings are wrapped for later)


def error_page(e: HTTPException):
    """Errors of the researcher pages (login included), in their own layout."""
    code = e.code or 500
    if isinstance(e, CSRFError):
        title, message = (
            _t("This page has expired"),
            _t("The form could not be accepted. Reload the page and try again."),
        )
    else:
        title, message = {
            403: (_t("Not allowed"), _t("Your role does not allow this page.")),
            404: (_t("Not found"), _t("There is no such page, campaign or user.")),
        }.get(code, (e.name, e.description))
    g.lang = "en"
    return (
        render_template("admin/error.html", code=code, title=title, message=message),
        code,
        e.get_headers(),
    )


bp.register_error_handler(HTTPException, error_page)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if g.get("user") is not None and request.method == "GET":
        return redirect(_safe_next(request.args.get("next")))
    if not form.validate_on_submit():
        return render_template(
            "admin/login.html", form=form
        ), 400 if request.method == "POST" else 200
    username = form.username.data.strip()
    ip = client_ip()
    wait = _take_login_strikes(username, ip)
    if wait:
        current_app.logger.warning("login refused for %r from %s: too many failures", username, ip)
        audit_log("login.blocked", target=username, user=None)
        minutes = max(1, -(-wait // 60))
        return (
            render_template(
                "admin/login.html",
                form=form,
                blocked=True,
                error=_lt(
                    "Too many failed attempts. Please wait %(minutes)s minutes and try again.",
                    minutes=minutes,
                ),
            ),
            429,
            {"Retry-After": str(wait)},
        )
    user = users.authenticate(get_db(), username, form.password.data)
    if user is None:
        current_app.logger.warning("failed login for %r from %s", username, ip)
        audit_log("login.failed", target=username, user=None)
        return render_template(
            "admin/login.html", form=form, error=_lt("Wrong username or password.")
        ), 401
    _login_succeeded(username, ip)
    _start_session(user)
    audit_log("login", target=user["username"], user=user["username"])
    return redirect(_safe_next(request.args.get("next")))


def _start_session(user: dict) -> None:
    _end_session()  # rotation: nothing of the previous session survives
    sid = secrets.token_urlsafe(32)
    now = _iso(_now())
    sessions.start_session(get_db(), _sid_hash(sid), user["id"], now, client_ip())
    session[SESSION_KEY] = sid
    g.user = user


@bp.route("/logout", methods=["POST"])
def logout():
    LogoutForm()  # the CSRF token was checked app-wide before this view runs
    name = current_username()
    _end_session()
    if name is not None:
        audit.log(get_db(), "logout", user=name, target=name, ip=client_ip())
    flash(_lt("You have been signed out."), "info")
    return redirect(url_for("auth.login"))


def init_app(app: Flask) -> None:
    """Cookie and session settings, the session interface and the user loader."""
    if os.environ.get(ENV_SECURE, "").strip().lower() in ("1", "true", "yes", "on"):
        app.config["SESSION_COOKIE_SECURE"] = True
    app.config.setdefault("ADMIN_SESSION_IDLE", 2 * 3600)
    app.config.setdefault("ADMIN_SESSION_MAX", 12 * 3600)
    app.session_interface = SessionInterface()
    i18n.init_app(app)
    app.before_request(load_logged_in_user)
    app.register_blueprint(bp)
