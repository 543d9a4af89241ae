"""A floor for the survey benchmark: the smallest survey that uses the stack the client
named (Flask with its signed-cookie session, Flask-WTF/WTForms with CSRF, Jinja) and
keeps every answer as the real one does (SQLite in WAL mode, ``synchronous=FULL``, one
write transaction per page), served by gunicorn exactly as ``trustmeter serve`` serves
the survey (``gunicorn_settings`` and the same ``ActiveLimit``).

It has none of the product: no instrument model, languages, brands, show_if, resume
logic, careless-response flags, rate limit, security headers or error pages. Its
URLs, forms and redirects have the real flow's shape (consent at ``/s/<slug>``, pages
``/s/<slug>/<n>`` of radio questions, ``/s/<slug>/thanks``), so ``benchmarks.web``'s
client walks it unchanged: 5 pages of 8, 9, 8, 7 and 6 questions on a 7-point scale
(the customer-trust instrument's first five pages).

:func:`create_bare_app` is the same flow without Flask or WTForms (bare Werkzeug and
prerendered pages).

``python -m benchmarks.floor_app --db PATH --port 5082 --workers 2 [--prerendered]
[--bare [--synchronous NORMAL]]``
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading

from flask import Flask, abort, redirect, render_template, request, session, url_for
from flask_wtf import CSRFProtect, FlaskForm
from flask_wtf.csrf import generate_csrf
from jinja2 import DictLoader
from wtforms import BooleanField, RadioField
from wtforms.validators import DataRequired, InputRequired

PAGES = (8, 9, 8, 7, 6)
CHOICES = [(str(c), f"{c} label") for c in range(1, 8)]

_BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{% block title %}{% endblock %}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/survey.css"></head>
<body><header><p class="brand">Survey</p></header>
<main>{% block content %}{% endblock %}</main>
<footer><p>Your answers are saved page by page.</p></footer></body></html>"""

_INTRO = """{% extends "base.html" %}{% block title %}Customer trust{% endblock %}
{% block content %}<h1>Customer trust</h1><p>About ten minutes.</p>
<form method="post" novalidate>{{ form.csrf_token }}
<p>{{ form.consent() }} {{ form.consent.label }}</p>
{% for e in form.consent.errors %}<p class="error">{{ e }}</p>{% endfor %}
<button type="submit">Start</button></form>{% endblock %}"""

_PAGE = """{% extends "base.html" %}{% block title %}Page {{ n }} of {{ total }}{% endblock %}
{% block content %}<h1>Customer trust</h1>
<p id="progress">Page {{ n }} of {{ total }}</p>
<progress max="{{ total }}" value="{{ n }}"></progress>
<form method="post" novalidate>{{ form.csrf_token }}
{% for field in form if field.type == "RadioField" %}
<fieldset><legend>{{ field.label.text }}</legend>
{% for e in field.errors %}<p class="error">{{ e }}</p>{% endfor %}
{% for option in field %}<label>{{ option() }} {{ option.label.text }}</label>{% endfor %}
</fieldset>{% endfor %}
<button type="submit">{% if n < total %}Next{% else %}Submit my answers{% endif %}</button>
</form>{% endblock %}"""

_THANKS = """{% extends "base.html" %}{% block title %}Thank you{% endblock %}
{% block content %}<h1>Thank you</h1><p>Your answers are saved.</p>{% endblock %}"""


class ConsentForm(FlaskForm):
    consent = BooleanField("I agree to take part.", validators=[DataRequired()])


def _page_form(n: int) -> type[FlaskForm]:
    fields = {
        f"q{n}_{i}": RadioField(
            f"Question {i} of page {n}", choices=CHOICES, validators=[InputRequired()]
        )
        for i in range(1, PAGES[n - 1] + 1)
    }
    return type(f"Page{n}", (FlaskForm,), fields)


FORMS = {n: _page_form(n) for n in range(1, len(PAGES) + 1)}


#: Writers queue as in the product (survey.storage.db.write_transaction): on a lock
#: between the threads of a process, then on an flock shared by the processes, so that
#: no writer waits in SQLite's busy handler, which sleeps.
_WRITE_LOCK = threading.Lock()


@contextlib.contextmanager
def _flock(fd: int):
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


class _Store:
    """The floor's answers: one ``responses`` row per respondent (answers as JSON), a
    connection per thread, one ``BEGIN IMMEDIATE`` write transaction per save, writers
    queued as in the product."""

    def __init__(self, db_path: str, synchronous: str = "FULL"):
        self.path, self.synchronous = db_path, synchronous
        self.local = threading.local()
        self.lock_fd = os.open(f"{db_path}-writelock", os.O_RDWR | os.O_CREAT, 0o600)
        with sqlite3.connect(db_path) as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS responses (id INTEGER PRIMARY KEY, slug TEXT, "
                "status TEXT, page INTEGER, answers TEXT)"
            )

    def db(self) -> sqlite3.Connection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            self.local.conn = conn
        return conn

    def write(self, sql: str, args: list) -> int:
        conn = self.db()
        with _WRITE_LOCK, _flock(self.lock_fd):
            conn.execute("BEGIN IMMEDIATE")
            try:
                cur = conn.execute(sql, args)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return cur.lastrowid

    def start(self, slug: str) -> int:
        return self.write(
            "INSERT INTO responses (slug, status, page, answers) VALUES (?, 'started', 1, '{}')",
            [slug],
        )

    def get(self, rid, slug: str):
        """``(id, status, page, answers JSON)`` of the response, or None."""
        if not isinstance(rid, int):
            return None
        return (
            self.db()
            .execute(
                "SELECT id, status, page, answers FROM responses WHERE id = ? AND slug = ?",
                [rid, slug],
            )
            .fetchone()
        )

    def save(self, row, n: int, given: dict[str, int]) -> None:
        answers = json.loads(row[3])
        answers.update(given)
        last = n == len(PAGES)
        self.write(
            "UPDATE responses SET answers = ?, page = ?, status = ? WHERE id = ?",
            [json.dumps(answers), max(row[2], n + 1), "complete" if last else "started", row[0]],
        )


def create_app(db_path: str, *, prerendered: bool = False) -> Flask:
    """The floor app on ``db_path``. With ``prerendered``, a page's HTML is rendered
    once and a GET only puts in its CSRF token (no form object, no template): what the
    flow costs without rendering (the session, CSRF, the POSTs' validation, SQLite and
    the redirects remain)."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY="floor", SESSION_REFRESH_EACH_REQUEST=False)
    app.jinja_loader = DictLoader(
        {"base.html": _BASE, "intro.html": _INTRO, "page.html": _PAGE, "thanks.html": _THANKS}
    )
    CSRFProtect(app)
    store = _Store(db_path)

    @app.route("/s/<slug>", methods=["GET", "POST"])
    def intro(slug: str):
        form = ConsentForm()
        if not form.validate_on_submit():
            return render_template("intro.html", form=form)
        session["rid"] = store.start(slug)
        return redirect(url_for("page", slug=slug, n=1))

    @app.route("/s/<slug>/<int:n>", methods=["GET", "POST"])
    def page(slug: str, n: int):
        row = store.get(session.get("rid"), slug)
        if row is None:
            return redirect(url_for("intro", slug=slug))
        if not 1 <= n <= len(PAGES):
            abort(404)
        if row[1] == "complete":
            return redirect(url_for("thanks", slug=slug))
        if n > row[2]:
            return redirect(url_for("page", slug=slug, n=row[2]))
        if prerendered and request.method == "GET":  # no form object either
            return _with_token(pages, n, generate_csrf())
        form = FORMS[n]()
        if not form.validate_on_submit():
            return render_template("page.html", form=form, n=n, total=len(PAGES))
        store.save(row, n, {f.name: int(f.data) for f in form if f.type == "RadioField"})
        if n == len(PAGES):
            return redirect(url_for("thanks", slug=slug))
        return redirect(url_for("page", slug=slug, n=n + 1))

    @app.get("/s/<slug>/thanks")
    def thanks(slug: str):
        return render_template("thanks.html")

    pages = _rendered_pages(db_path) if prerendered else {}
    return app


def _rendered_pages(db_path: str) -> dict:
    """The Flask floor's pages, rendered once: ``{0: intro, n: page n}`` as ``(html,
    the CSRF token in it)``, and ``"thanks"``."""
    app = create_app(db_path)
    pages: dict = {}
    with app.test_request_context("/s/floor"):
        form = ConsentForm()
        pages[0] = (render_template("intro.html", form=form), form.csrf_token.current_token)
        for n, cls in FORMS.items():
            form = cls()
            pages[n] = (
                render_template("page.html", form=form, n=n, total=len(PAGES)),
                form.csrf_token.current_token,
            )
        pages["thanks"] = render_template("thanks.html")
    return pages


def _with_token(pages: dict, key: int, token: str) -> str:
    """Prerendered page ``key`` with ``token`` in place of the one it was rendered with
    (the token is in the HTML once)."""
    html, rendered_with = pages[key]
    return html.replace(rendered_with, token)


def create_bare_app(db_path: str, *, synchronous: str = "FULL"):
    """The floor without Flask or WTForms: a WSGI function on Werkzeug's request and
    response objects, the same prerendered pages, a session cookie signed with
    itsdangerous (a random nonce and the response id), a CSRF token that is the HMAC of
    the nonce, and the POSTs checked by hand (one of the 7 codes per question). What is
    left is the request cycle and SQLite's durable commits; ``synchronous="NORMAL"``
    (which the issue does not allow: an acknowledged answer could be lost in a power
    cut) shows what the per-commit fsync costs."""
    from itsdangerous import BadData, URLSafeSerializer
    from werkzeug.utils import redirect as redirect_to
    from werkzeug.wrappers import Request, Response

    pages = _rendered_pages(db_path)
    store = _Store(db_path, synchronous)
    cookie = URLSafeSerializer("floor", salt="session")
    codes = {c for c, _ in CHOICES}
    names = {n: [f"q{n}_{i}" for i in range(1, k + 1)] for n, k in enumerate(PAGES, 1)}

    def html(key, token: str | None = None) -> Response:
        body = pages[key] if token is None else _with_token(pages, key, token)
        return Response(body, mimetype="text/html")

    def respond(req: Request, sess: dict) -> Response:
        parts = req.path.strip("/").split("/")
        if len(parts) not in (2, 3) or parts[0] != "s":
            return Response("not found", 404)
        slug = parts[1]
        token = hmac.new(b"floor", sess["nonce"].encode(), hashlib.sha256).hexdigest()
        if req.method == "POST" and not hmac.compare_digest(req.form.get("csrf_token", ""), token):
            return Response("the CSRF token is missing or wrong", 400)
        if len(parts) == 2:
            if req.method == "GET":
                return html(0, token)
            if req.form.get("consent") != "y":
                return Response("please tick the box", 400)
            sess["rid"] = store.start(slug)
            return redirect_to(f"/s/{slug}/1")
        if parts[2] == "thanks":
            return html("thanks")
        if not parts[2].isdigit() or not 1 <= int(parts[2]) <= len(PAGES):
            return Response("not found", 404)
        n = int(parts[2])
        row = store.get(sess.get("rid"), slug)
        if row is None:
            return redirect_to(f"/s/{slug}")
        if row[1] == "complete":
            return redirect_to(f"/s/{slug}/thanks")
        if n > row[2]:
            return redirect_to(f"/s/{slug}/{row[2]}")
        if req.method == "GET":
            return html(n, token)
        given = {}
        for name in names[n]:
            values = req.form.getlist(name)
            if len(values) != 1 or values[0] not in codes:
                return Response(f"{name}: choose one of the answers", 400)
            given[name] = int(values[0])
        store.save(row, n, given)
        return redirect_to(f"/s/{slug}/thanks" if n == len(PAGES) else f"/s/{slug}/{n + 1}")

    def app(environ, start_response):
        req = Request(environ)
        try:
            sess = cookie.loads(req.cookies.get("s", ""))
        except BadData:
            sess = {}
        before = dict(sess)
        if not isinstance(sess.get("nonce"), str):
            sess = {"nonce": secrets.token_hex(16)}
        resp = respond(req, sess)
        if sess != before:
            resp.set_cookie("s", cookie.dumps(sess), httponly=True, samesite="Lax")
        return resp(environ, start_response)

    return app


def main() -> None:
    from benchmarks.trivial_app import serve
    from survey.cli.server import ACTIVE_PER_WORKER, ActiveLimit

    p = argparse.ArgumentParser()
    p.add_argument("--db", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--prerendered", action="store_true")
    p.add_argument("--bare", action="store_true", help="no Flask or WTForms (create_bare_app)")
    p.add_argument("--synchronous", default="FULL", choices=("FULL", "NORMAL"))
    a = p.parse_args()

    def load():
        if a.bare:
            return ActiveLimit(create_bare_app(a.db, synchronous=a.synchronous), ACTIVE_PER_WORKER)
        app = create_app(a.db, prerendered=a.prerendered)
        app.wsgi_app = ActiveLimit(app.wsgi_app, ACTIVE_PER_WORKER)
        return app

    serve(load, a.host, a.port, a.workers, "trustmeter-bench-floor")


if __name__ == "__main__":
    main()
