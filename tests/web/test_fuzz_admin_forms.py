"""Fuzzing every researcher form field (issue 14, hypothesis): every POST form reachable
from the admin pages (found by crawling them, so new forms are covered without editing
this test) gets arbitrary values in every field, plus valid CSRF. No answer is a 5xx,
and markup sent never comes back unescaped. Reproducible: ``derandomize``."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from admin_support import PASSWORDS, TEST_SCRYPT_N, AdminClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from survey import create_app
from survey.storage import store, users
from survey.storage.db import get_db, init_db, open_db

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "x\n",
    "new",
    "acme\r\n",
    "9999-12-31",
    "0001-01-01",
    "-1",
    "1e309",
    "NaN",
    "\x00",
    "a\x00b",
    "\ufeff",
    "💥" * 40,
    "١٢٣",
    "../../etc/passwd",
    "\r\nX: y",
    "%0d%0a",
    "=1+1",
    "{{7*7}}",
    "'; DROP TABLE users; --",
    " ",
    "2026-02-30",
    "acme",
    "viewer",
]
value = st.one_of(
    st.sampled_from(PAYLOADS),
    st.text(max_size=40),
    st.integers(-(10**12), 10**12).map(str),
    st.integers(1_000, 50_000).map(lambda n: "x" * n),
).map(lambda s: s.encode("utf-8", "replace").decode("utf-8"))

# dates: the campaign form's DateFields (9999-12-31 + 1 day used to overflow: a 500)
date_value = st.one_of(
    st.sampled_from(
        [
            "9999-12-31",
            "0001-01-01",
            "2026-02-30",
            "1999-12-31",
            "2201-01-01",
            "31.12.2026",
            "",
            "2026-13-01",
        ]
    ),
    st.dates().map(str),
    value,
)

SKIP_ACTIONS = ("/admin/logout",)  # would end the session the crawl relies on


class FormParser(HTMLParser):
    """POST forms: action, field names (with select options), and links."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self.links: list[str] = []
        self._form: dict | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form" and (a.get("method") or "get").lower() == "post":
            self._form = {"action": a.get("action"), "fields": {}}
            self.forms.append(self._form)
        elif self._form is not None and tag in ("input", "textarea", "select") and a.get("name"):
            self._form["fields"].setdefault(a["name"], [])
            self._form.setdefault("defaults", {}).setdefault(
                a["name"], (a.get("type") or tag, a.get("value"))
            )
            if tag == "input" and a.get("type") in ("checkbox", "radio") and a.get("value"):
                self._form["fields"][a["name"]].append(a["value"])
            if tag == "select":
                self._select = a["name"]
        elif tag == "option" and self._form is not None and self._select:
            self._form["fields"][self._select].append(a.get("value", ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def crawl(ac, start=("/admin/", "/admin/campaigns/acme", "/admin/users"), depth=2):
    """Every POST form on admin pages reachable from ``start`` (GET links only)."""
    seen, forms, frontier = set(), {}, list(start)
    for _ in range(depth):
        nxt = []
        for url in frontier:
            if (
                url in seen
                or not url.startswith("/admin")
                or "download" in url
                or url.endswith((".json", ".html", ".csv"))
            ):
                continue
            seen.add(url)
            r = ac.get(url)
            if r.status_code != 200 or r.mimetype != "text/html":
                continue
            p = FormParser()
            p.feed(r.get_data(as_text=True))
            for f in p.forms:
                action = urlsplit(urljoin(url, f["action"] or url)).path
                if action not in SKIP_ACTIONS and "csrf_token" in f["fields"]:
                    forms.setdefault(action, (url, f["fields"], f.get("defaults", {})))
            nxt += [urlsplit(urljoin(url, h)).path for h in p.links]
        frontier = nxt
    return forms


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzzadmin") / "fuzz.db"
    app = create_app({"TESTING": True, "DATABASE": str(path), "SECRET_KEY": "fuzz-admin"})
    with app.app_context():
        db = get_db()
        init_db(db)
        store.create_campaign(
            db, slug="acme", instrument="customer-trust", period="2026-Q4", params=["segment"]
        )
    old = users.SCRYPT_N
    users.SCRYPT_N = TEST_SCRYPT_N
    with open_db(path) as db:
        for role, password in PASSWORDS.items():
            users.create_user(db, role, password, role)
    ac = AdminClient(app.test_client())
    assert ac.login("admin").status_code == 302
    forms = crawl(ac)
    yield app, ac, forms
    users.SCRYPT_N = old


def test_the_crawl_finds_the_admin_forms(env):
    _, _, forms = env
    for action in (
        "/admin/campaigns/new",
        "/admin/campaigns/acme/export",
        "/admin/campaigns/acme/invitations",
        "/admin/users",
        "/admin/campaigns/acme/access",
        "/admin/campaigns/acme/close",
    ):
        assert action in forms, sorted(forms)
    assert len(forms) >= 8, sorted(forms)


def baseline(fields, defaults, k: int) -> dict:
    """A plausible submission: options' first values, the page's values, short
    lower-case words in empty text fields (unique per example), empty dates."""
    out = {}
    for n, options in fields.items():
        kind, val = defaults.get(n, ("text", None))
        if options:
            out[n] = options[0] if options[0] != "" or len(options) == 1 else options[1]
        elif val:
            out[n] = val
        elif kind == "date":
            out[n] = ""
        elif kind == "number":
            out[n] = "30"
        elif kind == "password":
            out[n] = "fuzz-password-1"
        else:
            out[n] = f"fz{k}"
    return out


def fuzz_form(app, ac, action, page, fields, defaults):
    names = sorted(n for n in fields if n != "csrf_token")
    counter = iter(range(10**9))

    # every field at once, and one field at a time on an otherwise plausible submission
    everything = st.fixed_dictionaries(
        {n: st.one_of(value, st.sampled_from(fields[n]) if fields[n] else value) for n in names}
    )

    def kind(n):
        return defaults.get(n, ("text", None))[0]

    one_field = (
        st.sampled_from(names)
        .flatmap(lambda n: st.tuples(st.just(n), date_value if kind(n) == "date" else value))
        .map(lambda nv: {**baseline(fields, defaults, next(counter)), nv[0]: nv[1]})
        if names
        else everything
    )

    @given(
        data=st.one_of(one_field, everything), extra=st.lists(st.tuples(value, value), max_size=2)
    )
    @SETTINGS
    def run(data, extra):
        data = {k: v for k, v in data.items() if k != "csrf_token"}
        if ac.get("/admin/").status_code != 200:  # a fuzzed form changed our session
            assert ac.login("admin").status_code == 302
        token = ac.token(page)
        body = {**dict(extra), **data, "csrf_token": token}
        r = ac.client.post(action, data=body, environ_base=ac.environ)
        try:
            assert r.status_code < 500, (action, r.status_code)
            text = r.get_data(as_text=True)
            assert "Traceback" not in text
            for s in data.values():
                if len(s) > 2 and any(c in s for c in '<>"') and s in PAYLOADS:
                    assert s not in text, (action, s)
        finally:
            r.close()

    run()


def test_every_admin_form_field_never_gets_a_500(env):
    app, ac, forms = env
    for action, (page, fields, defaults) in sorted(forms.items()):
        fuzz_form(app, ac, action, page, fields, defaults)
