"""Shared fixtures: the survey app on a temporary database, and a ``Respondent`` who
walks the questionnaire through the HTML like a person with a browser would.

CSRF stays enabled: the respondent reads the ``csrf_token`` from each page's form.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from survey import create_app
from survey.storage import store
from survey.storage.db import get_db, init_db, open_db

TRANSLATIONS = Path(__file__).resolve().parents[1] / "survey" / "translations"


def _compile_translations() -> None:
    """Compile the gettext catalogues if ``make translations`` has not (pytest alone)."""
    for po_path in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as f:
            catalog = read_po(f, locale=po_path.parts[-3])
        with mo_path.open("wb") as f:
            write_mo(f, catalog)


_compile_translations()


@pytest.fixture
def app(tmp_path):
    """The app on a fresh temporary database with the built-in instruments registered."""
    app = create_app(
        {
            "TESTING": True,
            "DATABASE": str(tmp_path / "test.db"),
            "SECRET_KEY": "test-secret-key",
        }
    )
    with app.app_context():
        init_db(get_db())
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def campaign_app(path, secret_key: str):
    """A testing app on a new database at ``path`` with the campaign "acme"
    (customer-trust, 2026-Q4, params segment and channel): ``(app, instrument)``.
    For module-scoped fixtures, e.g. the fuzz tests' one app for all examples."""
    app = create_app({"TESTING": True, "DATABASE": str(path), "SECRET_KEY": secret_key})
    with app.app_context():
        db = get_db()
        init_db(db)
        store.create_campaign(
            db,
            slug="acme",
            instrument="customer-trust",
            period="2026-Q4",
            params=["segment", "channel"],
        )
        inst = store.campaign_instrument(db, store.get_campaign(db, "acme"))
    return app, inst


@pytest.fixture
def campaign(app):
    """A factory: ``campaign(slug="acme", params=("segment",), ...)`` -> campaign dict."""

    def make(
        slug: str = "acme",
        instrument: str = "customer-trust",
        period: str = "2026-Q4",
        params=("segment", "channel"),
        **kwargs,
    ) -> dict:
        with app.app_context():
            return store.create_campaign(
                get_db(), slug=slug, instrument=instrument, period=period, params=params, **kwargs
            )

    return make


@pytest.fixture
def invitations(app):
    """A factory: ``invitations("acme", 2)`` -> list of raw tokens."""

    def make(slug: str = "acme", count: int = 1, params=None) -> list[str]:
        with app.app_context():
            return [i["token"] for i in store.create_invitations(get_db(), slug, count, params)]

    return make


@pytest.fixture
def db(app):
    """Our own connection to the app's database, for checking what was stored.

    Not an app context: requests made while one is pushed would share its ``g``.
    """
    with open_db(app.config["DATABASE"]) as conn:
        yield conn


# ----- reading pages like a browser ------------------------------------------------
@dataclass
class Input:
    name: str
    type: str
    value: str
    checked: bool
    id: str | None


@dataclass
class Page:
    """What a respondent sees: the parsed HTML of one response."""

    status: int
    url: str  # path with query string
    html: str
    lang: str | None = None
    dir: str | None = None
    inputs: list[Input] = field(default_factory=list)
    form_action: str | None = None
    has_form: bool = False
    labels: dict[str, str] = field(default_factory=dict)  # input id -> label text
    legends: list[str] = field(default_factory=list)
    scripts: int = 0

    @property
    def csrf_token(self) -> str | None:
        return next((i.value for i in self.inputs if i.name == "csrf_token"), None)

    @property
    def radio_groups(self) -> dict[str, list[str]]:
        """Radio inputs by name: their values, in document order."""
        groups: dict[str, list[str]] = {}
        for i in self.inputs:
            if i.type == "radio":
                groups.setdefault(i.name, []).append(i.value)
        return groups

    @property
    def has_questions(self) -> bool:
        """A questionnaire page: radio groups, or an open-text question alone."""
        return bool(self.radio_groups) or "<textarea" in self.html

    @property
    def checked(self) -> dict[str, str]:
        return {i.name: i.value for i in self.inputs if i.type == "radio" and i.checked}

    @property
    def post_url(self) -> str:
        """Where the form posts: its action, else the page's own URL (as browsers do)."""
        return self.form_action or self.url

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", self.html))


class _PageParser(HTMLParser):
    def __init__(self, page: Page):
        super().__init__(convert_charrefs=True)
        self.page = page
        self._label_for: str | None = None
        self._label_text: list[str] = []
        self._in_legend = False
        self._legend: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.page.lang, self.page.dir = a.get("lang"), a.get("dir")
        elif tag == "form":
            self.page.has_form = True
            self.page.form_action = a.get("action") or None
        elif tag == "input":
            self.page.inputs.append(
                Input(
                    a.get("name") or "",
                    a.get("type") or "text",
                    a.get("value") or "",
                    "checked" in a,
                    a.get("id"),
                )
            )
        elif tag == "label":
            self._label_for, self._label_text = a.get("for"), []
        elif tag == "legend":
            self._in_legend, self._legend = True, []
        elif tag == "script":
            self.page.scripts += 1

    def handle_endtag(self, tag):
        if tag == "label" and self._label_for:
            self.page.labels[self._label_for] = " ".join("".join(self._label_text).split())
            self._label_for = None
        elif tag == "legend":
            self._in_legend = False
            self.page.legends.append(" ".join("".join(self._legend).split()))

    def handle_data(self, data):
        if self._label_for:
            self._label_text.append(data)
        if self._in_legend:
            self._legend.append(data)


def parse_page(response) -> Page:
    req = response.request
    url = req.path + (f"?{req.query_string.decode()}" if req.query_string else "")
    page = Page(status=response.status_code, url=url, html=response.get_data(as_text=True))
    _PageParser(page).feed(page.html)
    return page


class Respondent:
    """Walks a questionnaire through the HTML, like a person with a browser.

    ``choose(name, values, rng)`` picks the value of each radio group (default: a
    random code, sometimes "not applicable"); everything chosen is kept in
    ``answers`` (form values by item id) for comparing with what was stored.
    """

    def __init__(self, client, *, seed: int = 0, choose=None, headers=None):
        self.client = client
        self.rng = random.Random(seed)
        self.choose = choose or self.random_choice
        self.headers = headers or {}
        self.answers: dict[str, str] = {}
        self.pages: list[Page] = []

    @staticmethod
    def random_choice(name: str, values: list[str], rng: random.Random) -> str:
        codes = [v for v in values if v != "na"]
        if "na" in values and rng.random() < 0.1:
            return "na"
        return rng.choice(codes)

    def get(self, url: str) -> Page:
        page = parse_page(self.client.get(url, headers=self.headers, follow_redirects=True))
        self.pages.append(page)
        return page

    def post(self, page: Page, data: dict, *, csrf: bool = True) -> Page:
        data = dict(data)
        if csrf and page.csrf_token:
            data.setdefault("csrf_token", page.csrf_token)
        page = parse_page(
            self.client.post(page.post_url, data=data, headers=self.headers, follow_redirects=True)
        )
        self.pages.append(page)
        return page

    def fill(self, page: Page) -> dict[str, str]:
        """Choose an answer for every radio group on a page."""
        return {
            name: self.choose(name, values, self.rng) for name, values in page.radio_groups.items()
        }

    def consent(self, url: str) -> Page:
        """Open a survey link and agree on the intro page; returns the first question page."""
        intro = self.get(url)
        assert intro.status == 200, intro.text[:300]
        return self.post(intro, {"consent": "y"})

    def answer_page(self, page: Page) -> Page:
        chosen = self.fill(page)
        self.answers.update(chosen)
        return self.post(page, chosen)

    def walk(self, url: str, *, max_pages: int = 20) -> Page:
        """Consent, answer every page, return the final page (thank you, normally)."""
        page = self.consent(url)
        for _ in range(max_pages):
            if not page.has_questions:
                return page  # no questions: the end (an open text alone is optional)
            page = self.answer_page(page)
        raise AssertionError("the questionnaire did not end")


@pytest.fixture
def respondent(client):
    return Respondent(client)
