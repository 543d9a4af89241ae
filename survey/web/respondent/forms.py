"""Forms of the respondent flow, built from the instrument definition.

CTFd style: one base form (:class:`BaseForm`, Flask-WTF with CSRF) that every form
inherits from. A page's form class is generated from the instrument with ``type()``
(:func:`page_form_class`): one :class:`AnswerField` per item, whose HTML name is the
item id.

The same generated class can be built on a plain :class:`wtforms.Form` (the
``base`` argument), so the forms are tested with a ``MultiDict`` and no Flask.

An answer is stored as its integer code: the instrument scale's codes, the item's own
scale (NPS 0-10), or 1 = yes / 0 = no for checklist items. "Not applicable" is the
form value ``na`` and is stored as ``None`` plus the item id in ``na_items``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, Form
from wtforms.validators import InputRequired, StopValidation

from instruments.model import Instrument, Item
from instruments.text import DEFAULT_MAX_LENGTH, TextAnswerError, check_text

NA = "na"  # form value of "not applicable"
FIELD_PREFIX = "item_"  # attribute name of an item's field: prefix + item id
_CODE_RE = re.compile(r"-?[0-9]{1,4}")  # ASCII digits only: int() would also take "٣"


class BaseForm(FlaskForm):
    """The base of every respondent form: Flask-WTF, so CSRF-protected."""


CONSENT_VALUE = "y"  # the value of the consent checkbox; nothing else counts as consent


def _checked_value(form, field) -> None:
    """Consent is exactly the checkbox's value: ``consent=no`` or ``consent=1`` is not."""
    if list(field.raw_data or ()) != [CONSENT_VALUE]:
        field.data = False
        raise StopValidation(_l("Please tick the box to agree before you start."))


class ConsentForm(BaseForm):
    consent = BooleanField(
        _l("I have read the above and agree to take part."),
        validators=[
            InputRequired(message=_l("Please tick the box to agree before you start.")),
            _checked_value,
        ],
    )


class BrandsField(Field):
    """The brand page's checkboxes (issue 11): the slugs ticked, in the order the
    campaign lists its brands. ``options`` (one :class:`Option` per brand, value = slug)
    are set by the view. A slug that is not offered never reaches here: the view
    refuses the request first (400)."""

    kind = "brands"

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.options: tuple[Option, ...] = ()

    def process_formdata(self, valuelist):
        self.data = [v for v in valuelist if isinstance(v, str)]

    def process_data(self, value):
        self.data = list(value or [])

    def pre_validate(self, form):
        offered = [o.value for o in self.options]
        self.data = [v for v in offered if v in set(self.data or ())]
        if not self.data:
            raise StopValidation(_l("Please tick at least one company."))


class BrandsForm(BaseForm):
    brand = BrandsField(_l("Which of these companies are you a customer of?"))


@dataclass(frozen=True)
class Option:
    """One answer option of an item: its form value, stored code and visible label."""

    value: str
    code: int | None  # None for "not applicable"
    label: str


class AnswerField(Field):
    """A required single-choice answer: one code from ``codes``, or ``na`` if allowed.

    Rendered by the template as a fieldset of radios. Anything else the browser (or a
    forger) sends - nothing, two values, a code out of range, text - is an error shown
    at the item; nothing invalid ever reaches ``data``.
    """

    def __init__(
        self,
        label=None,
        validators=None,
        *,
        item: Item,
        kind: str,
        options: Sequence[Option] = (),
        **kwargs,
    ):
        super().__init__(label, validators, **kwargs)
        self.item = item
        self.kind = kind  # "scale" | "numeric" | "checklist"
        self.options = tuple(options)

    @property
    def codes(self) -> tuple[int, ...]:
        return tuple(o.code for o in self.options if o.code is not None)

    @property
    def allows_na(self) -> bool:
        return any(o.code is None for o in self.options)

    @property
    def scale_options(self) -> tuple[Option, ...]:
        return tuple(o for o in self.options if o.code is not None)

    @property
    def na_option(self) -> Option | None:
        return next((o for o in self.options if o.code is None), None)

    @property
    def value(self) -> str | None:
        """The form value to show as checked: the valid answer given, if any."""
        if self.data is None:
            return None
        return NA if self.data == NA else str(self.data)

    def process_formdata(self, valuelist):
        self.data = None  # parsed in pre_validate, where errors belong

    def process_data(self, value):
        # Prefill from a saved answer: an int code or NA; anything else is dropped.
        valid = (value == NA and self.allows_na) or (isinstance(value, int) and value in self.codes)
        self.data = value if valid else None

    def pre_validate(self, form):
        raw = [v for v in (self.raw_data or []) if v != ""]
        if not raw:
            raise StopValidation(_l("Please answer this question."))
        if len(raw) > 1:
            raise StopValidation(_l("Please choose only one answer."))
        value = raw[0]
        if isinstance(value, str) and value == NA and self.allows_na:
            self.data = NA
        elif isinstance(value, str) and _CODE_RE.fullmatch(value) and int(value) in self.codes:
            self.data = int(value)
        else:
            raise StopValidation(_l("Please choose one of the answers shown."))


class TextAnswerField(Field):
    """An open answer (``type: text``): optional unless the item is required, at most
    ``max_length`` characters after cleaning (control characters and bidi overrides
    stripped, :func:`instruments.text.check_text`). ``data`` is the cleaned text or
    ``None``; it is stored apart from the numeric answers and never scored."""

    kind = "text"
    options: tuple = ()

    def __init__(self, label=None, validators=None, *, item: Item, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.item = item
        self.max_length = item.max_length or DEFAULT_MAX_LENGTH
        self.required = bool(item.required)

    @property
    def value(self) -> str:
        return self.data or ""

    def process_formdata(self, valuelist):
        self.data = None

    def process_data(self, value):
        self.data = value if isinstance(value, str) and value else None

    def pre_validate(self, form):
        raw = [v for v in (self.raw_data or []) if isinstance(v, str)]
        if len(raw) > 1:
            raise StopValidation(_l("Please give one answer."))
        try:
            self.data = check_text(
                raw[0] if raw else "", self.max_length, required=self.required, item_id=self.name
            )
        except TextAnswerError:
            self.data = None
            if self.required and not (raw and raw[0].strip()):
                raise StopValidation(_l("Please answer this question.")) from None
            raise StopValidation(
                _l("Please keep your answer to %(n)s characters.", n=self.max_length)
            ) from None


def instrument_text(text, lang: str) -> str:
    """A per-language instrument text, falling back to any language it has."""
    return text.get(lang) or next(iter(text.values()), "")


def item_options(instrument: Instrument, item: Item, lang: str) -> tuple[str, list[Option]]:
    """The kind of an item (``scale``, ``numeric`` or ``checklist``) and its options in order."""
    scale = instrument.scale_for(item.id)
    if scale is None:  # checklist: 1 = yes, 0 = no
        return "checklist", [Option("1", 1, _l("Yes")), Option("0", 0, _l("No"))]
    # A fully labelled scale shows its labels; a numeric one (NPS 0-10) shows numbers.
    kind = "scale" if len(scale.labels.get(lang, {})) == scale.n_points else "numeric"
    options = [Option(str(c), c, scale.label(lang, c) or str(c)) for c in scale.codes]
    if scale.not_applicable:
        options.append(
            Option(
                NA, None, instrument_text(scale.not_applicable_label, lang) or _l("Not applicable")
            )
        )
    return kind, options


#: Generated page form classes, by (instrument identity, item ids, language, base, brand).
#: Building one costs more than rendering its page, and they never change: stored
#: instruments are parsed once and cached (``store.load_instrument``), so the same
#: object comes back for the same version. The instrument itself is kept in the value,
#: so that its ``id()`` cannot be reused by another object while the entry exists.
_FORM_CLASSES: dict[tuple, tuple[Instrument, type[Form]]] = {}
_FORM_CLASSES_MAX = 512
_form_classes_lock = threading.Lock()


def rendered_text(instrument: Instrument, text, lang: str, brand: str | None = None) -> str:
    """An instrument text in ``lang`` with ``{brand}`` filled in (``None``: the neutral
    wording), falling back to any language the text has."""
    if lang in text:
        return instrument.render(text, lang, brand)
    return instrument_text(text, lang)


def page_form_class(
    instrument: Instrument,
    item_ids: Sequence[str],
    lang: str,
    base: type[Form] = BaseForm,
    brand: str | None = None,
) -> type[Form]:
    """The form class of one questionnaire page: a field per item, in the order of
    ``item_ids``. The class is built once per set of items (cached, see
    :data:`_FORM_CLASSES`); each response shows a page's items in its own random order,
    which would make nearly every order a new class, so the order is applied to each
    form made (:class:`_InOrder`)."""
    canonical = tuple(sorted(item_ids))
    key = (id(instrument), canonical, lang, base, brand)
    hit = _FORM_CLASSES.get(key)
    if hit is not None and hit[0] is instrument:
        cls = hit[1]
    else:
        cls = _build_page_form_class(instrument, canonical, lang, base, brand)
        with _form_classes_lock:
            if len(_FORM_CLASSES) >= _FORM_CLASSES_MAX:
                _FORM_CLASSES.clear()  # e.g. many brands x languages: start again
            _FORM_CLASSES[key] = (instrument, cls)
    if tuple(item_ids) == canonical:
        return cls
    return _InOrder(cls, [FIELD_PREFIX + i for i in item_ids])


class _InOrder:
    """Makes forms of ``cls`` whose fields iterate (render, validate, report errors) in
    ``order`` (field attribute names); fields not named there, e.g. the CSRF token,
    follow."""

    def __init__(self, cls: type[Form], order: list[str]):
        self.cls, self.order = cls, order

    def __call__(self, *args, **kwargs) -> Form:
        form = self.cls(*args, **kwargs)
        fields = form._fields
        ordered = {name: fields[name] for name in self.order}
        ordered.update((k, v) for k, v in fields.items() if k not in ordered)
        form._fields = ordered
        return form


def _build_page_form_class(
    instrument: Instrument,
    item_ids: Sequence[str],
    lang: str,
    base: type[Form],
    brand: str | None,
) -> type[Form]:
    attrs = {}
    for item_id in item_ids:
        item = instrument.item(item_id)
        label = rendered_text(instrument, item.text, lang, brand)
        # The HTML name is the item id; the attribute is prefixed, so that items
        # called e.g. "data", "errors" or "meta" cannot shadow the form's own API.
        if item.is_text:
            attrs[FIELD_PREFIX + item_id] = TextAnswerField(label, name=item_id, item=item)
            continue
        kind, options = item_options(instrument, item, lang)
        attrs[FIELD_PREFIX + item_id] = AnswerField(
            label, name=item_id, item=item, kind=kind, options=options
        )
    return type(f"Page_{instrument.id}", (base,), attrs)


def fields_by_item(form: Form) -> dict[str, AnswerField]:
    """A page form's answer fields by item id."""
    return {f.name: f for f in form if isinstance(f, AnswerField)}


def texts_of(form: Form, *, valid_only: bool = False) -> dict[str, str | None]:
    """A page form's open-text answers by item id (``None``: left empty)."""
    return {
        f.name: f.data
        for f in form
        if isinstance(f, TextAnswerField) and not (valid_only and f.errors)
    }


def answers_of(form: Form) -> tuple[dict[str, int | None], list[str]]:
    """A validated page form's answers for ``store.save_page``: codes and N/A item ids."""
    return _split_na(fields_by_item(form).items())


def _split_na(fields) -> tuple[dict[str, int | None], list[str]]:
    """``(item id, field)`` pairs as ``store.save_page`` takes them: codes (N/A as
    ``None``) and the ids answered N/A."""
    answers: dict[str, int | None] = {}
    na_items: list[str] = []
    for item_id, field in fields:
        if field.data == NA:
            answers[item_id] = None
            na_items.append(item_id)
        else:
            answers[item_id] = field.data
    return answers, na_items


def valid_answers_of(form: Form) -> tuple[dict[str, int | None], list[str]]:
    """The answers of a page form that were given and valid, ignoring the rest.

    For "Back": what the respondent ticked is kept, nothing is required. Call after
    ``form.validate()``; a field with an error (unanswered, forged) is left out, so
    it neither clears nor changes a saved answer.
    """
    return _split_na(
        (item_id, field)
        for item_id, field in fields_by_item(form).items()
        if not field.errors and field.data is not None
    )


def saved_values(
    item_ids: Sequence[str], response: dict, texts: dict[str, str] | None = None
) -> dict[str, int | str]:
    """Prefill ``data`` for a page form from a saved response (keyed by field attribute)."""
    na = set(response.get("na") or ())
    saved = response.get("answers") or {}
    out: dict[str, int | str] = {}
    for item_id in item_ids:
        if texts and texts.get(item_id):
            out[FIELD_PREFIX + item_id] = texts[item_id]
        elif item_id in na:
            out[FIELD_PREFIX + item_id] = NA
        elif saved.get(item_id) is not None:
            out[FIELD_PREFIX + item_id] = saved[item_id]
    return out
