"""The questionnaire forms, tested without Flask: a plain ``MultiDict`` post."""

from __future__ import annotations

import pytest
from flask import Flask
from werkzeug.datastructures import MultiDict
from wtforms import Form

from instruments.loader import get_instrument, instrument_from_yaml
from survey.web.respondent.forms import (
    NA,
    AnswerField,
    answers_of,
    fields_by_item,
    page_form_class,
    saved_values,
)

INST = get_instrument("customer-trust")
SCALE_ITEM = INST.dimensions[0].items[0].id  # 7-point agreement scale with N/A
NPS = next(i.id for i in INST.single_items if i.scale is not None)  # 0-10, no N/A
BREACH = INST.checklist.items[0].id  # yes/no
IDS = (SCALE_ITEM, NPS, BREACH)


def make_form(data: dict | MultiDict | None = None, lang: str = "en", ids=IDS):
    cls = page_form_class(INST, ids, lang, base=Form)
    formdata = data if isinstance(data, MultiDict) else MultiDict(data or {})
    return cls(formdata=formdata)


VALID = {SCALE_ITEM: "7", NPS: "0", BREACH: "1"}


def errors(form) -> dict[str, list[str]]:
    return {name: f.errors for name, f in fields_by_item(form).items() if f.errors}


def test_fields_follow_the_instrument_in_the_given_order():
    order = (BREACH, SCALE_ITEM, NPS)
    form = make_form(ids=order)
    fields = [f for f in form if isinstance(f, AnswerField)]
    assert [f.name for f in fields] == list(order)
    by_name = {f.name: f for f in fields}
    assert by_name[SCALE_ITEM].kind == "scale"
    assert by_name[SCALE_ITEM].codes == INST.scale.codes
    assert by_name[SCALE_ITEM].allows_na
    assert by_name[NPS].kind == "numeric" and by_name[NPS].codes == tuple(range(11))
    assert not by_name[NPS].allows_na
    assert by_name[BREACH].kind == "checklist" and set(by_name[BREACH].codes) == {0, 1}


def test_labels_come_from_the_instrument_in_the_language():
    form = make_form(lang="fa")
    field = fields_by_item(form)[SCALE_ITEM]
    assert field.label.text == INST.item_text(SCALE_ITEM, "fa")  # {brand}: neutral wording
    assert [o.label for o in field.scale_options] == [
        INST.scale.label("fa", c) for c in INST.scale.codes
    ]
    assert field.na_option.label == INST.scale.not_applicable_label["fa"]


def test_a_valid_post_gives_integer_codes():
    form = make_form(VALID)
    assert form.validate(), form.errors
    assert answers_of(form) == ({SCALE_ITEM: 7, NPS: 0, BREACH: 1}, [])


def test_not_applicable_is_none_plus_na_item():
    form = make_form({**VALID, SCALE_ITEM: NA})
    assert form.validate(), form.errors
    answers, na = answers_of(form)
    assert answers[SCALE_ITEM] is None and na == [SCALE_ITEM]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (SCALE_ITEM, None, "Please answer this question."),
        (SCALE_ITEM, "", "Please answer this question."),
        (SCALE_ITEM, "0", "Please choose one of the answers shown."),
        (SCALE_ITEM, "8", "Please choose one of the answers shown."),
        (SCALE_ITEM, "-1", "Please choose one of the answers shown."),
        (SCALE_ITEM, "3.0", "Please choose one of the answers shown."),
        (SCALE_ITEM, " 3", "Please choose one of the answers shown."),
        (SCALE_ITEM, "٣", "Please choose one of the answers shown."),  # int() would accept it
        (SCALE_ITEM, "<b>3</b>", "Please choose one of the answers shown."),
        (SCALE_ITEM, "9" * 5000, "Please choose one of the answers shown."),
        (NPS, "11", "Please choose one of the answers shown."),
        (NPS, NA, "Please choose one of the answers shown."),  # NPS offers no N/A
        (BREACH, "2", "Please choose one of the answers shown."),
        (BREACH, "yes", "Please choose one of the answers shown."),
    ],
)
def test_invalid_answers_are_refused_at_the_item(field, value, message):
    data = dict(VALID)
    if value is None:
        del data[field]
    else:
        data[field] = value
    form = make_form(data)
    assert not form.validate()
    fields = fields_by_item(form)
    assert errors(form) == {field: [message]}
    assert fields[field].data is None  # nothing invalid gets through
    # the other answers are kept for the re-rendered page
    assert all(fields[k].value == v for k, v in VALID.items() if k != field)


def test_two_values_for_one_item_are_refused():
    data = MultiDict([*VALID.items(), (SCALE_ITEM, "2")])
    form = make_form(data)
    assert not form.validate()
    assert errors(form) == {SCALE_ITEM: ["Please choose only one answer."]}


def test_unknown_and_other_page_fields_are_ignored():
    other_page_item = INST.dimensions[1].items[0].id
    form = make_form({**VALID, "evil": "<script>", other_page_item: "3", "csrf_token": "x"})
    assert form.validate(), form.errors
    answers, na = answers_of(form)
    assert set(answers) == set(IDS) and na == []


def test_prefill_from_a_saved_response_keeps_only_valid_values():
    response = {"answers": {SCALE_ITEM: 4, NPS: 99}, "na": [BREACH]}
    data = saved_values(IDS, response)
    assert data == {f"item_{SCALE_ITEM}": 4, f"item_{NPS}": 99, f"item_{BREACH}": NA}
    form = page_form_class(INST, IDS, "en", base=Form)(data=data)
    fields = fields_by_item(form)
    assert fields[SCALE_ITEM].value == "4"
    assert fields[NPS].value is None  # out of range: not shown as chosen
    assert fields[BREACH].value is None  # checklist has no N/A


def test_item_ids_cannot_shadow_the_form_api():
    inst = instrument_from_yaml("""
id: odd
version: "1"
languages: [en]
scale: {min: 1, max: 3, labels: {en: ["no", "maybe", "yes"]}}
dimensions:
  - id: D
    name: {en: D}
    items:
      - {id: data, text: {en: "Data?"}}
      - {id: errors, text: {en: "Errors?"}}
      - {id: meta, text: {en: "Meta?"}}
      - {id: validate, text: {en: "Validate?"}}
""")
    ids = inst.item_ids
    form = page_form_class(inst, ids, "en", base=Form)(MultiDict({i: "2" for i in ids}))
    assert form.validate(), form.errors
    assert answers_of(form) == ({i: 2 for i in ids}, [])
    bad = page_form_class(inst, ids, "en", base=Form)(MultiDict({"data": "9"}))
    assert not bad.validate()
    assert set(errors(bad)) == set(ids)


def built(form_class):
    """The cached form class behind what :func:`page_form_class` returned."""
    return getattr(form_class, "cls", form_class)


def test_every_order_of_a_page_shares_one_form_class():
    """Each response shows a page's items in its own random order: the class is built
    once for the page's items, and every form made iterates in its own order, with the
    CSRF token (a non-item field) after the items."""
    orders = [IDS, IDS[::-1], (IDS[1], IDS[0], IDS[2])]
    makers = [page_form_class(INST, o, "en") for o in orders]
    assert len({id(built(m)) for m in makers}) == 1
    app = Flask(__name__)
    app.config.update(SECRET_KEY="x", WTF_CSRF_ENABLED=True)
    with app.test_request_context():
        for order, make in zip(orders, makers, strict=True):
            form = make(formdata=MultiDict({i: "1" for i in order}))
            names = [f.name for f in form]
            assert names == [*order, "csrf_token"], names
            assert list(fields_by_item(form)) == list(order)


def test_page_form_classes_are_built_once_per_page_language_and_brand():
    """Building a page's form class costs more than rendering the page: it is cached by
    instrument, items, language, base and brand, and a different key gets its own."""
    a = built(page_form_class(INST, IDS, "en", base=Form))
    assert built(page_form_class(INST, IDS, "en", base=Form)) is a
    assert built(page_form_class(INST, IDS, "ru", base=Form)) is not a
    assert built(page_form_class(INST, IDS[:2], "en", base=Form)) is not a
    acme = built(page_form_class(INST, IDS, "en", base=Form, brand="Acme"))
    assert acme is not a
    assert built(page_form_class(INST, IDS, "en", base=Form, brand="Acme")) is acme
    label = fields_by_item(acme(formdata=MultiDict()))[SCALE_ITEM].label.text
    assert "Acme" in label
    assert "Acme" not in fields_by_item(a(formdata=MultiDict()))[SCALE_ITEM].label.text
