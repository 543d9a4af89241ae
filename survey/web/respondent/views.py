"""The respondent flow: link -> intro and consent -> questionnaire pages -> thank you.

Two kinds of link lead in, and every URL of the flow keeps its kind and key:

* ``/s/<slug>``: the campaign's public link. Anyone may answer; the browser's signed
  session cookie remembers the response, so a reload or a later visit resumes it.
* ``/i/<token>``: a personal invitation. Exactly one complete response per
  invitation; coming back through the link resumes the response it started.

Pages are ``/<kind>/<key>/<n>`` (1-based). Answers are saved page by page; the
page to resume at is derived from the saved answers (the first page with an
unanswered item), so a reload, a second tab or a re-POST of a saved page never
moves a respondent past a page they have not answered. Only the last page's POST
completes the response, through ``store.complete_response``, which is race-safe.

Brands (issue 11, item 1). A campaign may declare brands; every text's ``{brand}``
is then the display name of the brand being rated, in the page language. The brand
comes from the invitation's or the link's ``brand`` parameter (one rating), or from
the brand page ``/<kind>/<key>/brands`` shown after consent: the respondent ticks the
brands they are a customer of, up to K of them are drawn in random order
(``secrets.SystemRandom``) and recorded (``brand_choices``), and the whole
questionnaire is answered once per brand, one ``responses`` row per rating, all with
the person's anonymous ``respondent`` key. The response a link resolves to is the
person's *current rating*: the first one, in their recorded order, not complete yet.
Completing a rating's last page starts the next planned rating in the same
transaction, so a reload, a second tab or the back button can neither skip nor
duplicate a rating; a page's form carries its rating's position, and a POST made for
another rating (a stale tab) saves nothing.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from flask import (
    Blueprint,
    abort,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from instruments.model import Instrument
from survey.brands import brand_name, brand_slugs
from survey.quality import response_quality
from survey.storage import brands as brand_store
from survey.storage import erasure, item_states, store
from survey.storage.db import get_db, write_transaction
from survey.web.i18n import choose_language, current_language, direction, use_language
from survey.web.respondent.forms import (
    BrandsForm,
    ConsentForm,
    Option,
    answers_of,
    instrument_text,
    page_form_class,
    rendered_text,
    saved_values,
    texts_of,
    valid_answers_of,
)
from survey.web.security import MAX_TOKEN_LENGTH, url_params

bp = Blueprint("respondent", __name__)

KINDS = "any(s, i)"  # s = public campaign link, i = personal invitation


@dataclass
class Entry:
    """How a respondent came in: the campaign, its instrument and the invitation, if any."""

    kind: str
    key: str
    campaign: dict
    instrument: Instrument
    invitation: dict | None = None
    #: the brand of the rating shown (slug; None: no brand, neutral wording)
    brand: str | None = None
    #: the rating's place in the person's brand order, and how many they rate
    position: int | None = None
    planned: int | None = None

    @property
    def has_brands(self) -> bool:
        return bool(self.campaign.get("brands"))

    @property
    def brand_name(self) -> str | None:
        """The brand's display name in the page's language."""
        return brand_name(self.campaign, self.brand, current_language())

    @property
    def languages(self) -> list[str]:
        """The campaign's languages (a subset of the instrument's, checked by the store)."""
        return self.campaign["languages"] or list(self.instrument.languages)

    @cached_property
    def pages(self) -> tuple[tuple[str, ...], ...]:
        """Item ids of each page, in instrument order."""
        return tuple(self.instrument.page_item_ids(p) for p in self.instrument.pages)

    def text(self, text) -> str:
        """An instrument text in the page's language, ``{brand}`` filled in with the
        brand being rated (neutral wording without one)."""
        return rendered_text(self.instrument, text, current_language(), self.brand_name)

    def url(self, endpoint: str = ".intro", **values) -> str:
        return url_for(endpoint, kind=self.kind, key=self.key, **values)

    def page_url(self, number: int) -> str:
        return self.url(".page", number=number)

    def carried(self) -> dict[str, str]:
        """This request's ``lang`` and the campaign's declared URL parameters, cleaned,
        for a redirect to keep (a deep link without a session must not lose them)."""
        kept = dict(url_params(self.campaign, request.args))
        lang = request.args.get("lang", "")
        if lang in self.languages:
            kept["lang"] = lang
        return kept

    def redirect(self):
        """Back to the intro, keeping :meth:`carried`: no response has started yet, so
        the language and parameters of the link are not stored anywhere else."""
        return redirect(self.url(".intro", **self.carried()))

    def redirect_page(self, number: int):
        """To a page of a started response (it holds the language and parameters)."""
        return redirect(self.page_url(number))


def _load_entry(kind: str, key: str) -> Entry:
    db = get_db()
    invitation = None
    if kind == "i":
        if len(key) > MAX_TOKEN_LENGTH or (invitation := store.find_invitation(db, key)) is None:
            abort(404)
        found = store.get_campaign_and_instrument(db, invitation["campaign"])
    else:
        found = store.get_campaign_and_instrument(db, key)
    if found is None:
        abort(404)
    campaign, instrument = found
    return Entry(kind, key, campaign, instrument, invitation)


def _response(entry: Entry) -> dict | None:
    """The response this respondent is at, if any (complete or not): with brands, the
    person's current rating (see the module docstring), and ``entry`` learns its brand."""
    response = _first_response(entry)
    if response is not None and entry.has_brands:
        response = _current_rating(response)
    _bind(entry, response)
    return response


def _first_response(entry: Entry) -> dict | None:
    """The response the invitation or the session points to."""
    db = get_db()
    if entry.invitation is not None:
        return store.response_for_invitation(db, entry.invitation)
    cid = str(entry.campaign["id"])
    rid = session.get("responses", {}).get(cid)
    response = None
    if isinstance(rid, int):
        try:
            response = store.get_response(db, rid)
        except LookupError:  # e.g. the database was reset, or the rating erased
            response = None
    if response is None:  # the person's other ratings, by their respondent key
        key = session.get("respondents", {}).get(cid)
        rows = brand_store.ratings(db, key) if isinstance(key, str) else []
        response = store.get_response(db, rows[0]["id"]) if rows else None
    return response if response and response["campaign_id"] == entry.campaign["id"] else None


def _current_rating(response: dict) -> dict:
    """The person's first rating (in their recorded order) not complete yet; when all
    are complete, their last one."""
    rows = brand_store.ratings(get_db(), response["respondent"]) if response["respondent"] else []
    current = next((r for r in rows if r["status"] == "started"), rows[-1] if rows else None)
    if current is None or current["id"] == response["id"]:
        return response
    return store.get_response(get_db(), current["id"])


def _bind(entry: Entry, response: dict | None) -> None:
    """Tell ``entry`` which brand the response rates: its ``brand`` param, its place in
    the person's order and how many they rate (``None`` without brands)."""
    if response is None or not entry.has_brands:
        return
    slug = (response.get("params") or {}).get("brand")
    entry.brand = slug if slug in brand_slugs(entry.campaign) else None
    entry.position = entry.planned = None
    if entry.brand is not None and response.get("brand_position"):
        choices = brand_store.get_choices(get_db(), response["respondent"])
        entry.position = response["brand_position"]
        entry.planned = len(choices["rated"]) if choices else None


def _needs_brands(entry: Entry, response: dict) -> bool:
    """A started response of a campaign with brands that has no brand yet: the brand
    page comes next."""
    return (
        entry.has_brands
        and response["status"] == "started"
        and not (response.get("params") or {}).get("brand")
    )


def _remember(entry: Entry, response: dict) -> None:
    """Public link: keep the response id and the person's respondent key in the signed
    session cookie, for resuming (their later ratings are found by the key)."""
    if entry.invitation is None:
        cid = str(entry.campaign["id"])
        responses = dict(session.get("responses", {}))
        responses[cid] = response["id"]
        session["responses"] = responses
        if response.get("respondent"):
            keys = dict(session.get("respondents", {}))
            keys[cid] = response["respondent"]
            session["respondents"] = keys
        session.permanent = True


def _resume(entry: Entry, response: dict):
    """Redirect a started response to where it continues: the brand page, or a page."""
    if _needs_brands(entry, response):
        return redirect(entry.url(".brands"))
    return entry.redirect_page(_resume_number(entry, response))


def _bad_request(title: str, message: str):
    return render_template("error.html", code=400, title=title, message=message), 400


def _texts(response: dict) -> dict[str, str]:
    if "texts" not in response:
        response["texts"] = item_states.texts_of(get_db(), response["id"])
    return response["texts"]


def _shown(entry: Entry, index: int, response: dict) -> tuple[str, ...]:
    """Page ``index``'s items that are shown, given the answers so far (``show_if``).

    Remembered in the response dict (a request asks for each page several times); a
    save returns a new dict from the store, so the memo never outlives its answers."""
    memo = response.setdefault("_shown", {})
    key = (id(entry.instrument), index)
    if key not in memo:
        memo[key] = entry.instrument.shown_item_ids(index, response.get("answers") or {})
    return memo[key]


def _missing(entry: Entry, item_id: str, response: dict) -> bool:
    """Whether a shown item still needs an answer (open texts only when required)."""
    item = entry.instrument.item(item_id)
    if item.is_text:
        return bool(item.required) and not _texts(response).get(item_id)
    return (response.get("answers") or {}).get(item_id) is None and item_id not in set(
        response.get("na") or ()
    )


def _resume_index(entry: Entry, response: dict) -> int:
    """Index of the first page with a shown, unanswered item (``len(pages)`` when done)."""
    for index in range(len(entry.pages)):
        if any(_missing(entry, i, response) for i in _shown(entry, index, response)):
            return index
    return len(entry.pages)


def _resume_number(entry: Entry, response: dict) -> int:
    """The page (1-based) to resume a started response at: the first with a shown,
    unanswered item, else the last shown page (only optional questions are left)."""
    index = _resume_index(entry, response)
    if index >= len(entry.pages):
        index = max(_next_shown(entry, len(entry.pages), response, -1), 0)
    return index + 1


def _next_shown(entry: Entry, index: int, response: dict, step: int = 1) -> int:
    """The next page (``step`` 1) or previous one (-1) from ``index`` that shows at least
    one item; ``len(pages)`` past the end, ``-1`` before the first."""
    k = index + step
    while 0 <= k < len(entry.pages) and not _shown(entry, k, response):
        k += step
    return k


def _reconcile(entry: Entry, response_id: int) -> dict:
    """After a save: every item whose ``show_if`` is now false is "not shown" - its
    answer (if an earlier visit gave one) is cleared and the state recorded apart from
    "not answered". Returns the response as saved."""
    db = get_db()
    saved = store.get_response(db, response_id)
    answers = saved["answers"]
    hidden = [
        i
        for k in range(len(entry.pages))
        for i in entry.pages[k]
        if i not in _shown(entry, k, saved)
    ]
    numeric = set(entry.instrument.item_ids)
    clear = {i: None for i in hidden if i in numeric and (answers.get(i) is not None)}
    if clear:
        store.save_page(db, response_id, max(saved["current_page"] - 1, 0), clear)
    texts = {i: None for i in hidden if i in entry.instrument.text_item_ids}
    if texts:
        item_states.save_texts(db, response_id, texts)
    item_states.set_not_shown(db, response_id, hidden)
    return store.get_response(db, response_id) if clear else saved


def _item_order(entry: Entry) -> list[list[str]]:
    """Item ids per page, shuffled within each page with a fresh seed per response.
    A page of follow-up questions (``show_if``) or open text keeps the instrument's
    order: its questions build on each other ("has it been resolved?", then "how
    satisfied are you with how it was handled?")."""
    rng = random.Random(secrets.randbits(64))
    inst = entry.instrument

    def fixed(item_ids) -> bool:
        return any(inst.item(i).is_text or inst.conditions_for(i) for i in item_ids)

    return [
        list(item_ids) if fixed(item_ids) else rng.sample(item_ids, len(item_ids))
        for item_ids in entry.pages
    ]


def _ordered(entry: Entry, index: int, response: dict) -> list[str]:
    """Page ``index``'s items in the order recorded for this response."""
    item_ids = entry.pages[index]
    recorded = response.get("item_order") or []
    shown = recorded[index] if index < len(recorded) and isinstance(recorded[index], list) else []
    if sorted(shown) == sorted(item_ids):
        return list(shown)
    return list(item_ids)  # recorded for another page layout: instrument order


def _set_language(entry: Entry, response: dict | None = None) -> str:
    """Choose the page language: the response's once started, else negotiated."""
    if response is not None and response.get("language") in entry.instrument.languages:
        use_language(response["language"])
    else:
        use_language(choose_language(entry.languages, default=entry.instrument.languages[0]))
    return g.lang


def _closed(entry: Entry):
    """The "closed" (or "not open yet") page if the campaign accepts nothing now."""
    if store.is_open(entry.campaign):
        return None
    _set_language(entry)
    opens_at = entry.campaign.get("opens_at")
    not_yet = (
        entry.campaign.get("status") == "open"
        and bool(opens_at)
        and datetime.fromisoformat(opens_at) > datetime.now(UTC)
    )
    return render_template("closed.html", entry=entry, not_yet=not_yet), 403 if not_yet else 410


def _already(entry: Entry, status: int = 200):
    return render_template("already.html", entry=entry), status


@bp.app_template_global("itext")
def _text(text) -> str:
    """An instrument text (a language -> text mapping) in the page's language."""
    return instrument_text(text, current_language())


@bp.app_template_global("field_anchor")
def _field_anchor(field) -> str:
    """Where an error summary link points: an item's first radio, else the input."""
    options = getattr(field, "options", ())
    return f"{field.id}-{options[0].value}" if options else field.id


@bp.app_template_filter("paragraphs")
def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n\n") if p.strip()]


@bp.route(f"/<{KINDS}:kind>/<key>", methods=["GET", "POST"])
def intro(kind: str, key: str):
    """Intro and consent. Consenting starts the response and opens page 1."""
    entry = _load_entry(kind, key)
    if (closed := _closed(entry)) is not None:
        return closed
    response = _response(entry)
    if response is not None:
        _set_language(entry, response)
        if response["status"] == "complete":
            return _already(entry, 409 if request.method == "POST" else 200)
        return _resume(entry, response)

    lang = _set_language(entry)
    params = url_params(entry.campaign, request.args)
    if entry.has_brands:
        slugs = brand_slugs(entry.campaign)
        if params.get("brand") and params["brand"] not in slugs:
            return _bad_request(
                _("This link names an unknown company"),
                _("Please check the link you were sent, or open it without the brand part."),
            )
        brand = (entry.invitation or {}).get("params", {}).get("brand") or params.get("brand")
        entry.brand = brand if brand in slugs else None
    if entry.invitation is not None and entry.invitation.get("used_at"):
        # used, and its response erased since (survey.storage.erasure): answered once
        return _already(entry, 409 if request.method == "POST" else 200)
    form = ConsentForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("intro.html", entry=entry, form=form), status

    try:  # the store adds an invitation's own params, which win over the URL's
        response_id = store.start_response(
            get_db(),
            entry.campaign,
            language=lang,
            direction=direction(lang),
            params=params,
            item_order=_item_order(entry),
            invitation=entry.invitation,
        )
    except ValueError:  # the invitation was used meanwhile (another tab)
        return _already(entry, 409)
    response = store.get_response(get_db(), response_id)
    _remember(entry, response)
    return _resume(entry, response)


@bp.route(f"/<{KINDS}:kind>/<key>/brands", methods=["GET", "POST"])
def brands(kind: str, key: str):
    """The brand page: tick the brands you are a customer of; up to K of them are drawn
    in random order and recorded, and the first rating begins."""
    entry = _load_entry(kind, key)
    if (closed := _closed(entry)) is not None:
        return closed
    response = _response(entry)
    if response is None:
        return entry.redirect()
    _set_language(entry, response)
    if response["status"] == "complete":
        return _already(entry, 409 if request.method == "POST" else 200)
    if not _needs_brands(entry, response):
        return _resume(entry, response)
    offered = brand_slugs(entry.campaign)
    form = BrandsForm()
    form.brand.options = tuple(
        Option(slug, None, brand_name(entry.campaign, slug, g.lang) or slug) for slug in offered
    )
    if request.method == "POST" and request.form.get("action") == "none":
        return _screen_out(entry, response, form)
    if request.method == "POST":
        sent = request.form.getlist("brand")
        if any(v not in offered for v in sent) or len(set(sent)) != len(sent):
            return _bad_request(
                _("Something went wrong with your answers"),
                _("Please choose only among the companies shown."),
            )
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("brands.html", entry=entry, form=form), status
    ticked = form.brand.data  # in the campaign's order
    k = min(entry.campaign.get("brands_per_respondent") or len(ticked), len(ticked))
    rated = secrets.SystemRandom().sample(ticked, k)
    try:
        brand_store.record_choices(get_db(), response["id"], ticked, rated)
    except ValueError:  # chosen meanwhile, in another tab: keep that choice
        pass
    return _resume(entry, _response(entry))


def _screen_out(entry: Entry, response: dict, form):
    """ "I am not a customer of any of these": there is nothing to ask. The response
    started at consent holds no answer yet (the brands come first); it is erased like
    any response (survey.storage.erasure), so nothing of the visit is kept but the
    campaign's count of screened-out visitors, and an invitation stays used: its link
    then says it was answered."""
    form.validate()  # only the CSRF token matters here
    if form.meta.csrf and "csrf_token" in form.errors:
        abort(400, description=form.errors["csrf_token"][0])
    try:
        erasure.screen_out(get_db(), response["id"])  # erased; only the count is kept
    except LookupError:  # gone meanwhile (a second tab)
        pass
    return render_template("screened_out.html", entry=entry)


@bp.route(f"/<{KINDS}:kind>/<key>/<int:number>", methods=["GET", "POST"])
def page(kind: str, key: str, number: int):
    """One page of questions: show it (with saved answers), or validate and save it."""
    entry = _load_entry(kind, key)
    if (closed := _closed(entry)) is not None:
        return closed
    response = _response(entry)
    if response is None:
        return entry.redirect()
    _set_language(entry, response)
    if not 1 <= number <= len(entry.pages):
        abort(404)
    if response["status"] == "complete":
        return _already(entry, 409 if request.method == "POST" else 200)
    if _needs_brands(entry, response):
        return redirect(entry.url(".brands"))
    if request.method == "POST" and _stale_rating(entry):
        return _resume(entry, response)  # posted for another rating: save nothing
    resume = _resume_index(entry, response)
    if number - 1 > resume:  # no skipping ahead of an unanswered page
        return entry.redirect_page(resume + 1)

    index = number - 1
    shown = set(_shown(entry, index, response))
    if request.method == "POST":
        hidden = [i for i in entry.pages[index] if i not in shown and i in request.form]
        if hidden:  # a question that is not shown is neither required nor accepted
            abort(400, description="not shown: " + ", ".join(hidden))
    if not shown:  # every question of this page is hidden by show_if: skip it
        target = min(_next_shown(entry, index, response), resume)
        if target >= len(entry.pages):
            target = max(_next_shown(entry, index, response, -1), 0)
        return entry.redirect_page(target + 1)
    item_ids = [i for i in _ordered(entry, index, response) if i in shown]
    form_class = page_form_class(entry.instrument, item_ids, g.lang, brand=entry.brand_name)
    form = form_class(data=saved_values(item_ids, response, _texts(response)))
    if request.method == "POST" and request.form.get("action") == "back":
        return _back(entry, response, form, number)
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template(
            "page.html",
            entry=entry,
            form=form,
            number=number,
            total=len(entry.pages),
            checklist=_checklist_on(entry, item_ids),
        ), status

    db = get_db()
    answers, na_items = answers_of(form)
    try:
        # One transaction: on the last page, its answers and the completion commit
        # together (the store's own transactions nest as savepoints).
        with write_transaction(db):
            store.save_page(db, response["id"], index, answers, na_items)
            item_states.save_texts(db, response["id"], texts_of(form))
            saved = _reconcile(entry, response["id"])
            following = _next_shown(entry, index, saved)
            if following < len(entry.pages):
                return entry.redirect_page(following + 1)
            if (missing := _resume_index(entry, saved)) < len(entry.pages):
                return entry.redirect_page(missing + 1)  # another tab left a gap
            completed = store.complete_response(db, response["id"], quality=response_quality)
            following = _start_next_rating(entry, response) if completed else None
    except ValueError:  # completed meanwhile, in another tab
        return _already(entry, 409)
    if not completed:
        return _already(entry, 409)
    if following is not None:
        return entry.redirect_page(1)
    return redirect(entry.url(".thanks"))


def _stale_rating(entry: Entry) -> bool:
    """Whether a POSTed page form was made for another of the person's ratings (its
    ``rating`` field holds the position it was shown for)."""
    sent = request.form.get("rating")
    if sent is None or entry.position is None:
        return False
    return sent != str(entry.position)


def _start_next_rating(entry: Entry, response: dict) -> int | None:
    """After a rating completes: start the person's next planned brand (same respondent
    key, invitation, language and params but the brand, a fresh item order); ``None``
    after the last. Runs inside the completing transaction."""
    if not entry.has_brands or not response.get("brand_position"):
        return None
    db = get_db()
    choices = brand_store.get_choices(db, response["respondent"])
    position = response["brand_position"]
    if choices is None or position >= len(choices["rated"]):
        return None
    params = dict(response["params"])
    params["brand"] = choices["rated"][position]
    try:
        return store.start_response(
            db,
            entry.campaign,
            language=response["language"],
            direction=response["direction"],
            params=params,
            item_order=_item_order(entry),
            invitation=entry.invitation,
            respondent=response["respondent"],
            brand_position=position + 1,
        )
    except ValueError:  # e.g. the campaign closed meanwhile: the rating just completed
        return None  # is kept (start_response checks before it writes)


def _back(entry: Entry, response: dict, form, number: int):
    """ "Back": save what was answered on this page (nothing is required), then go back."""
    form.validate()
    if form.meta.csrf and "csrf_token" in form.errors:
        abort(400, description=form.errors["csrf_token"][0])
    answers, na_items = valid_answers_of(form)
    texts = {k: v for k, v in texts_of(form, valid_only=True).items() if v}
    db = get_db()
    try:
        with write_transaction(db):
            if answers:
                store.save_page(db, response["id"], number - 1, answers, na_items)
            if texts:
                item_states.save_texts(db, response["id"], texts)
            saved = _reconcile(entry, response["id"]) if answers or texts else response
    except ValueError:  # completed meanwhile, in another tab
        return _already(entry, 409)
    return entry.redirect_page(max(_next_shown(entry, number - 1, saved, -1), 0) + 1)


def _checklist_on(entry: Entry, item_ids) -> object | None:
    checklist = entry.instrument.checklist
    if checklist is not None and set(checklist.item_ids) & set(item_ids):
        return checklist
    return None


@bp.route(f"/<{KINDS}:kind>/<key>/thanks")
def thanks(kind: str, key: str):
    entry = _load_entry(kind, key)
    response = _response(entry)
    if response is None:
        return entry.redirect()
    _set_language(entry, response)
    if response["status"] != "complete":
        return _resume(entry, response)
    return render_template("thanks.html", entry=entry)
