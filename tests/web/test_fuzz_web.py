"""Fuzzing every respondent form and URL (hypothesis), beyond tests/test_survey_fuzz.py:
the consent form, every questionnaire page (including the checklist and the NPS
page), URL parameters, slugs, tokens and page numbers in the path, raw bodies that
are not UTF-8, and forged or replayed CSRF and invitation tokens.

After every example: no 5xx, no payload echoed unescaped, and the database holds
nothing invalid (:func:`assert_database_valid`). Reproducible: ``derandomize``.
"""

from __future__ import annotations

import json
import unicodedata
from urllib.parse import quote

import pytest
from conftest import Respondent, campaign_app, parse_page
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from survey.storage import store
from survey.storage.db import get_db, open_db

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'\"><svg/onload=alert(1)>",
    "javascript:alert(1)",
    "'; DROP TABLE responses; --",
    "1 OR 1=1",
    "1); DELETE FROM invitations; --",
    "\u202egnp.exe",
    "\u200f\u200e",
    "\x00",
    "a\x00b",
    "\ufeff",
    "💥" * 50,
    "١٢٣",
    "۳",
    "%00",
    "%s%s%n",
    "{{7*7}}",
    "${7*7}",
    "../../etc/passwd",
    "\r\nX: y",
]
RAW_PAYLOADS = [p for p in PAYLOADS if any(c in p for c in "<>\"'")]
nasty = st.one_of(
    st.sampled_from(PAYLOADS),
    st.text(max_size=60),  # any unicode, surrogates included
    st.text(alphabet=st.characters(categories=("Cc", "Cf", "Zl", "Zp", "Mn")), max_size=20),
    st.integers().map(str),
    st.floats(allow_nan=True).map(str),
    st.integers(10_000, 400_000).map(lambda n: "x" * n),  # huge, past the 256 KB limit too
)


def no_surrogates(s: str) -> str:
    """Lone surrogates cannot be sent as UTF-8 form data (raw bodies cover them)."""
    return s.encode("utf-8", "replace").decode("utf-8")


form_value = nasty.map(no_surrogates)


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    return Env(*campaign_app(tmp_path_factory.mktemp("fuzzweb") / "fuzz.db", "fuzz-web"))


class Env(tuple):
    """(app, instrument), with a short repr for hypothesis' failure reports."""

    def __new__(cls, app, inst):
        return super().__new__(cls, (app, inst))

    def __repr__(self) -> str:
        return "<fuzz app>"


def assert_database_valid(app, inst) -> None:
    """Nothing invalid stored: codes on the items' scales, N/A only where offered,
    complete responses whole, declared and clean params, single-use invitations."""
    with open_db(app.config["DATABASE"]) as db:
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        for (rid,) in db.execute("SELECT id FROM responses").fetchall():
            r = store.get_response(db, rid)
            for item_id, code in r["answers"].items():
                scale = inst.scale_for(item_id)
                assert code in (scale.codes if scale else (0, 1)), (rid, item_id, code)
            for item_id in r["na"]:
                assert inst.scale_for(item_id).not_applicable, (rid, item_id)
                assert item_id not in r["answers"]
            if r["status"] == "complete":
                assert set(r["answers"]) | set(r["na"]) == set(inst.item_ids), rid
                assert r["longstring"] is not None and r["completed_at"], rid
            assert set(r["params"]) <= {"segment", "channel"}, r["params"]
            for value in r["params"].values():
                assert 0 < len(value) <= 100 and value == value.strip(), value
                assert not any(unicodedata.category(c).startswith("C") for c in value)
            assert r["language"] in inst.languages
        assert (
            db.execute(
                "SELECT count(*) FROM (SELECT invitation_id FROM responses WHERE "
                "status = 'complete' AND invitation_id IS NOT NULL GROUP BY "
                "invitation_id HAVING count(*) > 1)"
            ).fetchone()[0]
            == 0
        )


def assert_safe(response, sent) -> None:
    """No 5xx; nothing we sent that contains markup comes back raw."""
    assert response.status_code < 500, response.status_code
    body = response.get_data(as_text=True)
    assert "Traceback" not in body
    for s in sent:
        if isinstance(s, str) and len(s) > 2 and any(c in s for c in "<>\"'"):
            assert s not in body, f"echoed unescaped: {s[:80]!r}"
    for p in RAW_PAYLOADS:
        if any(p in str(s) for s in sent):
            assert p not in body


# ----- the consent form -------------------------------------------------------------------
@given(
    consent=st.one_of(st.none(), form_value, st.sampled_from(["y", "false", "", "on", "0"])),
    csrf=st.sampled_from(["valid", "missing", "forged", "other-session", "empty"]),
    extra=st.lists(st.tuples(form_value, form_value), max_size=4),
    link=st.sampled_from(["public", "invitation"]),
)
@SETTINGS
def test_fuzzed_consent(fuzz_app, consent, csrf, extra, link):
    app, inst = fuzz_app
    if link == "public":
        url = "/s/acme"
    else:
        with app.app_context():
            url = "/i/" + store.create_invitations(get_db(), "acme", 1)[0]["token"]
    client = app.test_client()
    intro = parse_page(client.get(url))
    tokens = {
        "valid": intro.csrf_token,
        "missing": None,
        "empty": "",
        "forged": "IjEyMzQ1Njc4OTAi.ZzAAAA.forged-signature",
        "other-session": parse_page(app.test_client().get("/s/acme")).csrf_token,
    }
    data = [(k, v) for k, v in extra if k not in ("csrf_token", "consent")]
    if consent is not None:
        data.append(("consent", consent))
    if tokens[csrf] is not None:
        data.append(("csrf_token", tokens[csrf]))
    with open_db(app.config["DATABASE"]) as db:
        before = db.execute("SELECT count(*) FROM responses").fetchone()[0]
    r = client.post(url, data=MultiDict(data))
    event(f"consent HTTP {r.status_code}")
    assert_safe(r, [v for pair in data for v in pair])
    with open_db(app.config["DATABASE"]) as db:
        started = db.execute("SELECT count(*) FROM responses").fetchone()[0] - before
    # consent is exactly the checkbox's value "y" (issue 11: consent=no must not count)
    valid = csrf == "valid" and consent == "y" and sum(len(k) + len(v) for k, v in data) < 200_000
    if started:  # only a real consent with the session's own CSRF token starts one
        assert csrf == "valid" and consent == "y"
        assert r.status_code == 302 and r.headers["Location"].endswith("/1")
    elif valid and r.status_code != 413:
        raise AssertionError(f"a valid consent did not start a response: {r.status_code}")
    assert_database_valid(app, inst)


# ----- every questionnaire page -----------------------------------------------------------
class PageState:
    """A respondent kept on page ``number`` (earlier pages answered)."""

    def __init__(self, app, number: int):
        self.app, self.number = app, number
        self.reset()

    def reset(self):
        self.person = Respondent(self.app.test_client(), seed=self.number)
        page = self.person.consent("/s/acme?lang=fa")
        for _ in range(self.number - 1):
            page = self.person.answer_page(page)
        assert page.url == f"/s/acme/{self.number}", page.url
        self.page = page


@pytest.fixture(scope="module")
def page_states(fuzz_app):
    return {}


@pytest.mark.parametrize("number", [1, 2, 3, 4, 5])
@given(data=st.data())
@SETTINGS
def test_fuzzed_question_pages(fuzz_app, page_states, number, data):
    app, inst = fuzz_app
    assert len(inst.pages) == 7  # customer-trust 1.1.0: pages 6 (show_if) and 7 (open text)
    state = page_states.get(number) or page_states.setdefault(number, PageState(app, number))
    page = state.page
    groups = page.radio_groups
    pairs: list[tuple[str, str]] = []
    # "valid": every answer valid (stored, the page advances); "one": one item spoiled;
    # "any": each item valid or not at random
    mode = data.draw(st.sampled_from(["valid", "one", "any"]))
    spoiled = data.draw(st.sampled_from(sorted(groups)))
    for item_id, values in sorted(groups.items()):
        if mode == "valid" or (mode == "one" and item_id != spoiled):
            how = "valid"
        else:
            how = data.draw(st.sampled_from(["valid", "missing", "nasty", "twice"]))
        if how == "valid":
            pairs.append((item_id, data.draw(st.sampled_from(values))))
        elif how == "nasty":
            pairs.append((item_id, data.draw(form_value)))
        elif how == "twice":
            pairs += [(item_id, values[0]), (item_id, values[-1])]
    other_items = [i for i in inst.item_ids if i not in groups]
    pairs += data.draw(
        st.lists(
            st.tuples(st.one_of(form_value, st.sampled_from(other_items)), form_value),
            max_size=0 if mode == "valid" else 3,
        )
    )
    csrf = (
        "valid"
        if mode == "valid"
        else data.draw(st.sampled_from(["valid", "valid", "missing", "forged"]))
    )
    if csrf != "missing":
        pairs.append(("csrf_token", page.csrf_token if csrf == "valid" else "forged.token"))
    r = state.person.client.post(page.url, data=MultiDict(pairs))
    event(f"page {number}, {mode}: HTTP {r.status_code}")
    if mode == "valid":
        assert r.status_code == 302, r.status_code
    assert_safe(r, [v for pair in pairs for v in pair])
    assert_database_valid(app, inst)
    if r.status_code == 302 and r.headers["Location"].endswith("/thanks"):
        state.reset()  # completed: the next example needs a new respondent


# ----- raw bodies: not UTF-8, not urlencoded ------------------------------------------
@given(
    body=st.one_of(
        st.binary(max_size=2000),
        st.sampled_from(
            [
                b"consent=%ff%fe",
                b"csrf_token=%ED%A0%80&consent=y",
                b"\xff\xfe\x00",
                b"a=" + b"%" * 5000,
                b"&&&==&=",
                b"consent=y&" * 3000,
            ]
        ),
    ),
    content_type=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=xx",
            "multipart/form-data",
            "text/plain",
            "application/json",
            "",
        ]
    ),
    path=st.sampled_from(["/s/acme", "/s/acme/1", "/s/acme/5", "/i/nope", "/s/acme/thanks"]),
    with_csrf=st.booleans(),
)
@SETTINGS
def test_fuzzed_raw_bodies(fuzz_app, body, content_type, path, with_csrf):
    app, inst = fuzz_app
    client = app.test_client()
    page = Respondent(client).consent("/s/acme")
    if with_csrf:  # a valid token first, so that the rest is parsed as answers
        body = b"csrf_token=" + page.csrf_token.encode() + b"&" + body
    r = client.post(path, data=body, content_type=content_type or None)
    event(f"raw HTTP {r.status_code}")
    assert r.status_code < 500
    assert_database_valid(app, inst)


# ----- URLs: params, lang, slugs, tokens, page numbers ---------------------------------
RAW_SEGMENTS = ["acme%00", "%2e%2e", "%ED%A0%80", "%FF", "%2F"]  # sent as they are
segments = st.one_of(
    form_value,
    st.sampled_from(
        [
            "acme",
            "ACME",
            "acme ",
            "..",
            "-1",
            "0",
            "99999999999999999999999",
            "1e3",
            "٣",
            "thanks",
            "a" * 300,
            *RAW_SEGMENTS,
        ]
    ),
)


def encode(segment: str) -> str:
    return segment if segment in RAW_SEGMENTS else quote(segment, safe="")


@given(
    kind=st.sampled_from(["s", "s", "i", "x"]),
    key=st.one_of(st.just("acme"), st.just("acme"), segments),
    number=st.one_of(
        st.none(),
        st.sampled_from(["1", "2", "5", "6", "0", "thanks"]),
        segments,
        st.integers().map(str),
    ),
    params=st.lists(
        st.tuples(
            st.sampled_from(["segment", "channel", "lang", "other", "csrf_token", "store"]), nasty
        ),
        max_size=4,
    ),
    payload=st.sampled_from(RAW_PAYLOADS),
    where=st.sampled_from(["segment", "channel", "other", "lang", "key", "number"]),
    method=st.sampled_from(["GET", "GET", "POST", "HEAD", "PUT"]),
)
@settings(SETTINGS, max_examples=40)
def test_fuzzed_urls(fuzz_app, kind, key, number, params, payload, where, method):
    """Markup in any part of the URL (path segments, declared and undeclared params,
    lang) never comes back raw, on any page or error page."""
    app, inst = fuzz_app
    if where == "key":
        key = payload
    elif where == "number":
        number = payload
    else:
        params = [*params, (where, payload)]
    path = f"/{kind}/{encode(key)}" + ("" if number is None else f"/{encode(number)}")
    qs = "&".join(f"{k}={quote(no_surrogates(v)[:3000])}" for k, v in params)
    client = app.test_client()
    r = client.open(
        f"{path}?{qs}", method=method, data={"consent": "y"} if method == "POST" else None
    )
    event(f"{method} HTTP {r.status_code}")
    assert_safe(r, [key, number, payload, *(v for _, v in params)])
    if r.status_code == 200 and r.mimetype == "text/html":
        assert parse_page(r).lang in ("en", "ru", "fa")
    # and the public link with these params: consent stores only declared, clean
    # params, and the payload is shown nowhere
    person = Respondent(app.test_client())
    first = person.consent(f"/s/acme?{qs}")
    assert first.status == 200 and first.url == "/s/acme/1"
    assert all(payload not in p.html for p in person.pages)
    assert_database_valid(app, inst)


# ----- invitation tokens: forged, altered, replayed ---------------------------------------
@given(
    change=st.sampled_from(["upper", "prefix", "suffix", "flip", "space", "encode", "double"]),
    then=st.sampled_from(["intro", "page", "post-consent", "post-page"]),
)
@SETTINGS
def test_forged_and_replayed_invitation_tokens(fuzz_app, change, then):
    app, inst = fuzz_app
    with app.app_context():
        token = store.create_invitations(get_db(), "acme", 1)[0]["token"]
    person = Respondent(app.test_client())
    final = person.walk(f"/i/{token}")
    assert final.url == f"/i/{token}/thanks"
    forged = {
        "upper": token.upper(),
        "prefix": token[:-1],
        "suffix": token + "A",
        "flip": token[::-1],
        "space": f" {token}",
        "encode": quote(token + "/", safe=""),
        "double": token + token,
    }[change]
    client = app.test_client()
    assert client.get(f"/i/{quote(forged, safe='%')}").status_code in (404, 308)
    # replay the real, used token from a fresh browser and from the old one
    for c in (client, person.client):
        intro = parse_page(c.get(f"/i/{token}"))
        assert "already" in intro.html.lower() or intro.status == 200
        assert intro.csrf_token is None  # no form to start again
        any_token = parse_page(c.get("/s/acme")).csrf_token
        if then == "intro":
            r = c.get(f"/i/{token}/1")
        elif then == "page":
            r = c.get(f"/i/{token}/5")
        elif then == "post-consent":
            r = c.post(f"/i/{token}", data={"consent": "y", "csrf_token": any_token})
        else:
            r = c.post(f"/i/{token}/1", data={"csrf_token": any_token, "HON1": "3"})
        assert r.status_code in (200, 409), r.status_code
        assert "You have already answered" in r.get_data(as_text=True)
    with open_db(app.config["DATABASE"]) as db:
        inv = store.find_invitation(db, token)
        rows = db.execute(
            "SELECT status FROM responses WHERE invitation_id = ?", [inv["id"]]
        ).fetchall()
    assert rows == [("complete",)]  # nothing new started or stored for a used token
    assert_database_valid(app, inst)


def test_stored_params_are_json_objects_of_text(fuzz_app):
    app, _ = fuzz_app
    with open_db(app.config["DATABASE"]) as db:
        for (params,) in db.execute("SELECT params FROM responses").fetchall():
            value = json.loads(params)
            assert isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
