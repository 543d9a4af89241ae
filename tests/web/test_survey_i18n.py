"""Languages: negotiation, right-to-left, native digits, translated chrome and catalogues."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po
from conftest import Respondent, parse_page
from markupsafe import Markup, escape

from survey.web.i18n import direction, language_name, local_digits

SURVEY = Path(__file__).resolve().parents[2] / "survey"
TRANSLATIONS = SURVEY / "translations"


def test_local_digits():
    assert local_digits("Page 12 of 30", "fa") == "Page ۱۲ of ۳۰"
    assert local_digits(7, "fa-IR") == "۷"
    assert local_digits(10, "ru") == "10" and local_digits(10, "en") == "10"
    assert escape(local_digits(Markup("<b>1</b>"), "fa")) == "&lt;b&gt;۱&lt;/b&gt;"


def test_direction_and_names():
    assert direction("fa") == "rtl" and direction("ar") == "rtl" and direction("he") == "rtl"
    assert direction("en") == "ltr" and direction("ru") == "ltr" and direction("xx") == "ltr"
    assert language_name("fa") == "فارسی" and language_name("ru") == "Русский"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("fa-IR,fa;q=0.9,en;q=0.5", "fa"),
        ("ru-RU", "ru"),
        ("de-DE,de;q=0.9,ru;q=0.5,en;q=0.3", "ru"),
        ("en-GB,en;q=0.8", "en"),
        ("de, fr", "en"),  # no match: the instrument's first language
        ("", "en"),
        ("*", "en"),
    ],
)
def test_accept_language_negotiation(client, campaign, header, expected):
    campaign()
    page = parse_page(client.get("/s/acme", headers={"Accept-Language": header}))
    assert page.status == 200 and page.lang == expected
    assert page.dir == ("rtl" if expected == "fa" else "ltr")


def test_lang_parameter_wins_over_the_header_and_bad_values_are_ignored(client, campaign):
    campaign()
    fa = {"Accept-Language": "fa"}
    assert parse_page(client.get("/s/acme?lang=ru", headers=fa)).lang == "ru"
    assert parse_page(client.get("/s/acme?lang=xx", headers=fa)).lang == "fa"
    assert parse_page(client.get("/s/acme?lang=<script>", headers=fa)).lang == "fa"


def test_only_the_campaigns_languages_are_offered(client, campaign):
    campaign(languages=["ru", "fa"])
    page = parse_page(client.get("/s/acme", headers={"Accept-Language": "en"}))
    assert page.lang == "ru"  # en is not offered: the campaign's first language
    assert "?lang=fa" in page.html and "?lang=en" not in page.html
    assert parse_page(client.get("/s/acme?lang=en")).lang == "ru"


def test_language_switcher_marks_the_current_language(client, campaign):
    campaign()
    page = parse_page(client.get("/s/acme?lang=fa"))
    assert 'lang="fa" hreflang="fa"\n           aria-current="true">فارسی' in page.html
    for code in ("en", "ru", "fa"):
        assert f'href="/s/acme?lang={code}"' in page.html


@pytest.mark.parametrize(
    ("lang", "start", "summary"),
    [
        ("en", "Start the survey", "8 questions need your attention."),
        ("ru", "Начать опрос", "8 вопросов требуют Вашего внимания."),
        ("fa", "شروع نظرسنجی", "۸ پرسش نیاز به توجه شما دارد."),
    ],
)
def test_chrome_is_translated(client, campaign, lang, start, summary):
    campaign()
    person = Respondent(client)
    intro = person.get(f"/s/acme?lang={lang}")
    assert start in intro.text
    page = person.post(intro, {"consent": "y"})
    refused = person.post(page, {})
    assert refused.status == 400 and refused.lang == lang
    assert summary in refused.text


def test_russian_plural_forms(client, campaign):
    campaign()
    person = Respondent(client)
    page = person.consent("/s/acme?lang=ru")
    data = person.fill(page)
    items = sorted(data)
    one = person.post(page, {k: v for k, v in data.items() if k != items[0]})
    assert "1 вопрос требует Вашего внимания." in one.text
    two = person.post(page, {k: v for k, v in data.items() if k not in items[:2]})
    assert "2 вопроса требуют Вашего внимания." in two.text


@pytest.mark.parametrize(
    ("lang", "title"),
    [("en", "Page not found"), ("ru", "Страница не найдена"), ("fa", "صفحه پیدا نشد")],
)
def test_error_pages_are_translated_without_details(client, lang, title):
    page = parse_page(client.get("/no/such/page", headers={"Accept-Language": lang}))
    assert page.status == 404 and page.lang == lang and title in page.text
    assert "Traceback" not in page.html and "werkzeug" not in page.html.lower()


def test_method_not_allowed_page_keeps_the_allow_header(client, campaign):
    campaign()
    response = client.delete("/s/acme?lang=fa")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert 'dir="rtl"' in response.get_data(as_text=True)


def test_respondent_language_is_kept_for_pages_outside_the_flow(client, campaign):
    campaign()
    Respondent(client).consent("/s/acme?lang=fa")
    page = parse_page(client.get("/s/no-such-campaign"))
    assert page.status == 404 and page.lang == "fa" and page.dir == "rtl"


# ----- the catalogues ---------------------------------------------------------------
def _catalog(path: Path, locale: str | None = None):
    with path.open("rb") as f:
        return read_po(f, locale=locale)


def test_template_is_in_sync_with_the_sources():
    keywords = {**DEFAULT_KEYWORDS, "_l": None}
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    found = {
        msg for _, _, msg, _, _ in extract_from_dir(str(SURVEY), method_map, keywords=keywords)
    }
    pot = {m.id for m in _catalog(TRANSLATIONS / "messages.pot") if m.id}
    assert found == pot, "run: cd survey && pybabel extract ... (see survey/babel.cfg)"


@pytest.mark.parametrize("locale", ["ru", "fa"])
def test_every_message_is_translated(locale):
    pot = {m.id for m in _catalog(TRANSLATIONS / "messages.pot") if m.id}
    catalog = _catalog(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po", locale)
    assert {m.id for m in catalog if m.id} == pot
    for message in catalog:
        if not message.id:
            continue
        assert not message.fuzzy, message.id
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"{locale}: untranslated {message.id!r}"
        assert len(strings) == (catalog.num_plurals if message.pluralizable else 1)
    assert [e for m in catalog for e in m.check(catalog)] == []  # placeholders match
