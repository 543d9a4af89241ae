"""The cached HTML of unanswered questions (survey/web/respondent/fragments.py) is
exactly what the macros render, in every language, and never stands in for an
answered question or one with an error."""

from __future__ import annotations

import re

import pytest
from conftest import Respondent

from survey.web.respondent import fragments

_QUESTION = re.compile(r'<(fieldset|div) class="question[^"]*" id="q-([^"]+)".*?</\1>', re.DOTALL)


def _questions(html: str) -> dict[str, str]:
    return {m.group(2): m.group(0) for m in _QUESTION.finditer(html)}


def _walk_collecting(client, url: str, seed: int) -> dict[str, str]:
    """Walk the questionnaire once; every question's HTML as first shown (unanswered)."""
    r = Respondent(client, seed=seed)
    seen: dict[str, str] = {}
    page = r.consent(url)
    for _ in range(20):
        if not page.has_questions:
            break
        for item, html in _questions(page.html).items():
            seen.setdefault(item, html)
        page = r.answer_page(page)
    assert "/thanks" in page.url, page.url
    return seen


@pytest.mark.parametrize("lang", ["en", "ru", "fa"])
def test_cached_questions_equal_the_macros_output(app, campaign, lang):
    campaign()
    fragments._CACHE.clear()
    first = _walk_collecting(app.test_client(), f"/s/acme?lang={lang}", seed=1)
    assert len(first) >= 20 and fragments._CACHE, "nothing rendered or cached"
    cached = len(fragments._CACHE)
    second = _walk_collecting(app.test_client(), f"/s/acme?lang={lang}", seed=2)
    assert len(fragments._CACHE) == cached  # the second walk was served from the cache
    common = set(first) & set(second)
    assert len(common) >= 20
    for item in common:
        assert second[item] == first[item], item
    assert all("checked" not in html for html in second.values())
    other = "fa" if lang != "fa" else "en"  # the cache is per language: no cross-talk
    third = _walk_collecting(app.test_client(), f"/s/acme?lang={other}", seed=3)
    assert all(third[item] != first[item] for item in set(third) & set(first))


def test_answered_and_invalid_questions_are_rendered_afresh(client, campaign):
    campaign()
    r = Respondent(client, seed=3)
    page1 = r.consent("/s/acme")
    empty = r.post(page1, {})  # nothing answered: every question has an error
    assert empty.status == 400
    errors = _questions(empty.html)
    assert errors and all("has-error" in html for html in errors.values())
    chosen = r.fill(page1)
    page2 = r.post(page1, chosen)
    assert page2.status == 200 and page2.url != page1.url
    back = r.post(page2, {"action": "back"})  # Back keeps page 1's answers, shown checked
    for item, html in _questions(back.html).items():
        value = chosen[item]
        assert re.search(rf'value="{value}"\s+checked', html), item
