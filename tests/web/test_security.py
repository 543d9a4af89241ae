"""Security headers, request size limit, rate limiting, and the researcher routes role by
role (from ``survey.web.admin.ROUTE_ROLES``)."""

from __future__ import annotations

import io
import re
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from conftest import Respondent, parse_page

from survey import create_app
from survey.storage import ratelimit, store
from survey.storage.db import get_db, init_db, open_db
from survey.web import ratelimit as web_ratelimit
from survey.web.security import CONTENT_SECURITY_POLICY

TEMPLATES = Path(__file__).resolve().parents[2] / "survey" / "templates"
STATIC = TEMPLATES.parent / "static"


def assert_security_headers(response) -> None:
    h = response.headers
    assert h["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["X-Frame-Options"] == "DENY"
    assert h["Referrer-Policy"] == "same-origin"


def test_csp_forbids_inline_script_and_style():
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'" and directives["form-action"] == "'self'"


# ----- headers on every kind of response ------------------------------------------------
def test_headers_on_every_respondent_page(client, campaign, invitations):
    campaign()
    [token] = invitations()
    person = Respondent(client)
    final = person.walk("/s/acme?lang=fa")
    assert final.url == "/s/acme/thanks"
    responses = [
        client.get("/s/acme"),
        client.get("/s/acme/1"),
        client.get("/s/acme/thanks"),
        client.get(f"/i/{token}"),
        client.get("/no/such/page"),
        client.delete("/s/acme"),
        client.get("/static/survey.css"),
        client.post("/s/acme", data={"consent": "y"}),
    ]  # no CSRF token: 400
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 404, 405, 200, 400]
    for r in responses:
        assert_security_headers(r)
        assert r.headers["Referrer-Policy"] == "same-origin"  # tokens never leave our origin
    for r in responses:
        if r.mimetype == "text/html":
            assert r.headers["Cache-Control"] == "no-store"
            assert_no_inline_code(r.get_data(as_text=True))
    for page in person.pages:
        assert_no_inline_code(page.html)
    for r in responses:
        r.close()  # the stylesheet is a file


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> block"),
    (re.compile(r"""\sstyle\s*=""", re.I), "style= attribute"),
    (re.compile(r"""\son[a-z]+\s*=""", re.I), "on...= event handler"),
    (re.compile(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", re.I), "javascript: URL"),
]


def assert_no_inline_code(html: str, where: str = "page") -> None:
    for pattern, what in INLINE:
        match = pattern.search(html)
        assert match is None, f"{where}: {what} (blocked by the CSP): {match.group(0)!r}"


@pytest.mark.parametrize(
    "path", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES))
)
def test_templates_have_no_inline_script_or_style(path):
    """The CSP blocks inline code: a template using it would break in browsers."""
    assert_no_inline_code(path.read_text(encoding="utf-8"), str(path.relative_to(TEMPLATES)))


def test_stylesheets_load_nothing_from_elsewhere():
    for css in STATIC.glob("*.css"):
        text = css.read_text(encoding="utf-8")
        assert not re.search(r"url\(\s*['\"]?\s*(https?:)?//", text), css.name
        assert "@import" not in text, css.name


# ----- request size ---------------------------------------------------------------------
def test_request_size_limit_gives_the_413_page(app, client, campaign, db):
    campaign()
    person = Respondent(client)
    page = person.consent("/s/acme?lang=ru")
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert limit == 256 * 1024
    big = parse_page(
        client.post("/s/acme/1", data={"csrf_token": page.csrf_token, "x": "7" * limit})
    )
    assert big.status == 413 and "Слишком много данных" in big.text and big.lang == "ru"
    assert "Traceback" not in big.html
    # the same with a body that claims no length (chunked): still refused, not stored
    chunked = client.post(
        "/s/acme/1",
        input_stream=io.BytesIO(b"x=" + b"7" * (limit + 10)),
        content_type="application/x-www-form-urlencoded",
        headers={"Transfer-Encoding": "chunked"},
    )
    assert chunked.status_code in (400, 413)
    # a normal page still goes through afterwards
    assert person.answer_page(page).status == 200
    rid = db.execute("SELECT max(id) FROM responses").fetchone()[0]
    assert store.get_response(db, rid)["current_page"] == 1


# ----- rate limiting ----------------------------------------------------------------------
@pytest.fixture
def limited_app(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "DATABASE": str(tmp_path / "t.db"),
            "SECRET_KEY": "k",
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_POSTS": 5,
            "RATELIMIT_WINDOW": 60,
        }
    )
    with app.app_context():
        db = get_db()
        init_db(db)
        for slug in ("acme", "beta"):
            store.create_campaign(
                db, slug=slug, instrument="customer-trust", period="2026-Q4", params=["segment"]
            )
    return app


def test_rate_limit_is_off_in_tests_and_configurable(app, limited_app):
    assert app.config["RATELIMIT_ENABLED"] is False  # TESTING
    assert limited_app.config["RATELIMIT_POSTS"] == 5
    assert limited_app.config["RATELIMIT_STORAGE"] is None  # next to the database
    assert web_ratelimit.limiter(limited_app).path.endswith("t.ratelimit.db")


def test_public_link_posts_are_limited_per_address_and_link(limited_app):
    client = limited_app.test_client()
    person = Respondent(client)
    intro = person.get("/s/acme?lang=fa")
    statuses = [person.post(intro, {"consent": "y"}).status for _ in range(5)]
    assert statuses == [200] * 5  # consent, then resumes page 1 (same session)
    refused = client.post("/s/acme", data={"consent": "y", "csrf_token": intro.csrf_token})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    page = parse_page(refused)
    assert page.lang == "fa" and "درخواست‌ها بیش از حد است" in page.text
    assert_security_headers(refused)
    # refused before the CSRF check or any form parsing: a forged POST is refused too
    assert client.post("/s/acme/1", data={"x": "y"}).status_code == 429
    # GETs are not limited; another link, or another address, has its own allowance
    assert client.get("/s/acme/1").status_code == 200
    assert client.post("/s/beta", data={}).status_code == 400  # CSRF, not 429
    other = limited_app.test_client()
    assert (
        other.post("/s/acme", data={}, environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 400
    )
    # a spoofed X-Forwarded-For does not escape the limit (no trusted proxy configured)
    assert (
        client.post("/s/acme", data={}, headers={"X-Forwarded-For": "1.2.3.4"}).status_code == 429
    )
    # ... and nothing more was stored than the one response
    with open_db(limited_app.config["DATABASE"]) as db:
        assert db.execute("SELECT count(*) FROM responses").fetchone()[0] == 1


def test_each_invitation_link_has_its_own_allowance(limited_app):
    """Invited colleagues behind one office address do not share an allowance."""
    with limited_app.app_context():
        first, *others = [i["token"] for i in store.create_invitations(get_db(), "acme", 6)]
    client = limited_app.test_client()
    codes = [client.post(f"/i/{first}", data={}).status_code for _ in range(6)]
    assert codes == [400] * 5 + [429]  # 400: no CSRF token
    assert [client.post(f"/i/{t}", data={}).status_code for t in others] == [400] * 5


def test_trusted_proxy_address(limited_app):
    limited_app.config["RATELIMIT_TRUSTED_PROXIES"] = 1
    client = limited_app.test_client()
    for n in range(5):
        r = client.post("/s/acme", data={}, headers={"X-Forwarded-For": f"9.9.9.9, 10.0.0.{n}"})
        assert r.status_code == 400  # each respondent behind the proxy counts alone
    for _ in range(5):
        client.post("/s/acme", data={}, headers={"X-Forwarded-For": "10.0.0.7"})
    assert (
        client.post("/s/acme", data={}, headers={"X-Forwarded-For": "10.0.0.7"}).status_code == 429
    )
    assert (
        client.post("/s/acme", data={}, headers={"X-Forwarded-For": "10.0.0.8"}).status_code == 400
    )


def test_rate_limit_settings_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TRUSTMETER_RATELIMIT_POSTS", "7")
    monkeypatch.setenv("TRUSTMETER_TRUSTED_PROXIES", "1")
    app = create_app({"DATABASE": str(tmp_path / "e.db"), "SECRET_KEY": "k"})
    assert app.config["RATELIMIT_ENABLED"] is True  # not TESTING
    assert app.config["RATELIMIT_POSTS"] == 7 and app.config["RATELIMIT_TRUSTED_PROXIES"] == 1


def test_rate_limit_can_be_switched_off(limited_app):
    limited_app.config["RATELIMIT_POSTS"] = 0
    client = limited_app.test_client()
    assert {client.post("/s/acme", data={}).status_code for _ in range(20)} == {400}


@pytest.mark.parametrize("storage", ["file", ":memory:"])
def test_sliding_window(tmp_path, storage):
    lim = ratelimit.RateLimiter(tmp_path / "rl.db" if storage == "file" else storage)
    t0 = 6000.0  # the start of a 60 s window
    assert [lim.hit("k", 3, 60, now=t0 + i)[0] for i in range(4)] == [True] * 3 + [False]
    allowed, retry = lim.hit("k", 3, 60, now=t0 + 10)
    assert not allowed and retry == 50 + 60 * 0  # 3 hits in this window: wait for the next
    assert lim.hit("other", 3, 60, now=t0 + 10)[0]  # keys are separate
    # next window, 30 s in: the previous 3 count half (1.5), so two more hits (3.5 > 3)
    assert [lim.hit("k", 3, 60, now=t0 + 90)[0] for _ in range(3)] == [True, True, False]
    allowed, retry = lim.hit("k", 3, 60, now=t0 + 90)
    assert not allowed and retry == 10  # 3 * (1 - f) + 2 < 3 from f = 2/3, 40 s in
    assert not lim.hit("k", 3, 60, now=t0 + 99)[0]
    assert lim.hit("k", 3, 60, now=t0 + 90 + retry + 0.01)[0]
    # two windows later everything is forgotten
    assert [lim.hit("k", 3, 60, now=t0 + 240 + i)[0] for i in range(4)] == [True] * 3 + [False]


def test_limiter_fails_open_when_its_file_is_locked(tmp_path, caplog):
    path = tmp_path / "rl.db"
    lim = ratelimit.RateLimiter(path)
    assert lim.hit("k", 1, 60)[0]
    blocker = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        lim_slow = ratelimit.RateLimiter(path)
        ratelimit.BUSY_TIMEOUT_MS, saved = 50, ratelimit.BUSY_TIMEOUT_MS
        try:
            assert lim_slow.hit("k", 1, 60) == (True, 0)  # allowed, with a warning
        finally:
            ratelimit.BUSY_TIMEOUT_MS = saved
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert "rate limiter unavailable" in caplog.text
    assert lim.hit("k", 1, 60)[0] is False  # and it counts again once the file is free


def test_limiter_counts_exactly_under_concurrency(tmp_path):
    """Threads with one limiter each (as separate processes would have): the file is
    the only shared state, and exactly ``limit`` hits get through."""
    path = tmp_path / "rl.db"
    results: list[bool] = []
    lock = threading.Lock()

    def worker():
        lim = ratelimit.RateLimiter(path)
        for _ in range(10):
            ok = lim.hit("shared", 25, 3600)[0]
            with lock:
                results.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 80 and sum(results) == 25


def test_limiter_never_fails_open_when_many_processes_open_a_new_file(tmp_path, caplog):
    """Many limiters opening one fresh file at once (gunicorn workers starting): setting
    up WAL used to fail now and then with "database is locked", and the limiter then let
    the request through unlimited (about 1 round in 30 before the fix)."""
    for round_ in range(30):
        path = tmp_path / f"rl{round_}.db"
        results: list[bool] = []
        lock = threading.Lock()

        def worker(path=path, results=results, lock=lock):
            lim = ratelimit.RateLimiter(path)
            for _ in range(4):
                ok = lim.hit("k", 20, 3600)[0]
                with lock:
                    results.append(ok)
            lim._close()

        threads = [threading.Thread(target=worker) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert "rate limiter unavailable" not in caplog.text
        assert sum(results) == 20, f"round {round_}: {sum(results)} hits allowed"


@pytest.mark.slow
def test_rate_limit_is_shared_by_gunicorn_workers(tmp_path):
    """End to end: ``trustmeter serve --workers 3``; 30 POSTs from one address, one
    connection each (so they spread over the workers): exactly 10 get past the limit."""
    from live_server import HttpRespondent, LiveServer, trustmeter

    db_path = tmp_path / "served.db"
    trustmeter("init", "--db", str(db_path))
    trustmeter(
        "campaign",
        "create",
        "--db",
        str(db_path),
        "--instrument",
        "customer-trust",
        "--slug",
        "acme",
        "--period",
        "2026-Q4",
    )
    server = LiveServer(
        db_path, tmp_path / "server.log", workers=3, env={"TRUSTMETER_RATELIMIT_POSTS": "10"}
    )
    try:
        server.start()
        # The sliding-window estimate lets about one more through when the 30 POSTs
        # straddle the start of a fixed 60 s window (survey.storage.ratelimit), so they
        # are sent well inside one.
        if (into := time.time() % 60) > 40:
            time.sleep(60.2 - into)
        codes = [
            HttpRespondent(server.base).request("/s/acme?lang=ru", {"consent": "y"}).status
            for _ in range(30)
        ]
        page = HttpRespondent(server.base).request("/s/acme?lang=ru", {"consent": "y"})
    finally:
        server.kill()
    assert codes.count(400) == 10 and codes.count(429) == 20, codes  # 400: no CSRF token
    assert page.status == 429 and "Слишком много запросов" in page.text
    pids = set(re.findall(r"\[(\d+)\] \[INFO\] Booting worker", server.log_path.read_text()))
    assert len(pids) == 3


# ----- researcher pages, role by role -------------------------------------------------
try:
    from survey.web.admin import ROUTE_ROLES
except ModuleNotFoundError as e:  # only while the researcher side does not exist
    if e.name != "survey.web.admin":
        raise
    ROUTE_ROLES = None

ROLE_ORDER = ("viewer", "researcher", "admin")
WHO = ("anonymous", *ROLE_ORDER)
SAMPLE_ARGS = {
    "slug": "acme",
    "username": "viewer",
    "fmt": "html",
    "webhook_id": 1,
    "job_id": 1,
    "response_id": 1,
}

if ROUTE_ROLES is None:
    ROLE_CASES = [
        pytest.param(
            None,
            None,
            None,
            marks=pytest.mark.skip(
                reason="survey.web.admin (the researcher side) does not exist yet"
            ),
        )
    ]
else:
    ROLE_CASES = [
        (endpoint, minimum, who) for endpoint, minimum in sorted(ROUTE_ROLES.items()) for who in WHO
    ]


@pytest.fixture
def accounts(app, monkeypatch):
    from survey.storage import users

    monkeypatch.setattr(users, "SCRYPT_N", 2**10, raising=False)  # cheaper KDF
    monkeypatch.setattr(users, "_DUMMY_HASH", None, raising=False)
    with open_db(app.config["DATABASE"]) as db:
        for role in ROLE_ORDER:
            users.create_user(db, role, f"{role}-password-1", role)


@pytest.mark.parametrize(("endpoint", "minimum", "who"), ROLE_CASES)
def test_researcher_routes_by_role(app, client, campaign, accounts, endpoint, minimum, who):
    """Anonymous: sent to the login page. Below the route's role: 403. At or above:
    through (no 401/403, no login page, no 5xx). Always the security headers, and
    no inline code on the page."""
    from flask import url_for

    campaign()
    rules = [r for r in app.url_map.iter_rules() if r.endpoint == endpoint]
    assert rules, f"{endpoint} is in ROUTE_ROLES but has no route"
    if who != "anonymous":
        login = parse_page(client.get("/admin/login"))
        r = client.post(
            "/admin/login",
            data={"username": who, "password": f"{who}-password-1", "csrf_token": login.csrf_token},
        )
        assert r.status_code == 302, parse_page(r).text[:300]
    token = parse_page(client.get("/admin/login", follow_redirects=True)).csrf_token
    for rule in rules:
        with app.test_request_context():
            url = url_for(endpoint, **{a: SAMPLE_ARGS.get(a, "x") for a in rule.arguments})
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            data = {"csrf_token": token} if method == "POST" else None
            r = client.open(url, method=method, data=data)
            where = f"{who} {method} {url}: {r.status_code}"
            assert r.status_code < 500, where
            assert_security_headers(r)
            if r.mimetype == "text/html":
                assert_no_inline_code(r.get_data(as_text=True), where)
            location = r.headers.get("Location", "")
            if who == "anonymous":
                assert r.status_code in (302, 303) and "/admin/login" in location, where
            elif ROLE_ORDER.index(who) < ROLE_ORDER.index(minimum):
                assert r.status_code == 403, where
            else:
                assert r.status_code not in (401, 403), where
                assert "/admin/login" not in location, where
