"""Brands ({brand}), show_if conditions and open-text items of the instrument model."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from instruments.brands import templates_of
from instruments.conditions import AllOf, AnyOf, Leaf, Not, answer_code, satisfiable
from instruments.loader import InstrumentError, instrument_from_dict, load_instrument
from instruments.text import TextAnswerError, check_text, clean_text

FIXTURE = Path(__file__).resolve().parent / "brands-followup.yaml"


@pytest.fixture(scope="module")
def bf():
    return load_instrument(FIXTURE)


def fixture_dict() -> dict:
    return yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))


def errors_of(data: dict) -> list[str]:
    with pytest.raises(InstrumentError) as excinfo:
        instrument_from_dict(data, source="bf.yaml")
    errors = excinfo.value.errors
    assert all(e.startswith("bf.yaml: ") for e in errors), errors
    return errors


# ----- {brand} ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lang, brand, a1, a2",
    [
        ("en", None, "This company keeps its promises.", "I trust this company."),
        ("en", "eBay", "eBay keeps its promises.", "I trust eBay."),
        ("ru", None, "Эта компания выполняет свои обещания.", "Я доверяю этой компании."),
        (
            "ru",
            "Ромашка",
            "Компания Ромашка выполняет свои обещания.",
            "Я доверяю компании Ромашка.",
        ),
        ("fa", None, "این شرکت به وعده‌هایش عمل می‌کند.", "به این شرکت اعتماد دارم."),
        ("fa", "دیجی‌کالا", "دیجی‌کالا به وعده‌هایش عمل می‌کند.", "به دیجی‌کالا اعتماد دارم."),
    ],
)
def test_brand_rendering(bf, lang, brand, a1, a2):
    assert bf.brand_aware
    assert bf.item_text("A1", lang, brand) == a1
    assert bf.item_text("A2", lang, brand) == a2


def test_brand_cases_in_page_texts(bf):
    assert bf.render(bf.title, "ru") == "Доверие к этой компании"
    assert bf.render(bf.title, "ru", "Acme") == "Доверие к компании Acme"
    assert bf.render(bf.intro, "ru") == "Вопросы о этой компании."  # prep form as declared
    assert bf.render(bf.checklist.prompt, "ru", "X") == "Случалось ли это с компанией X?"
    assert bf.render(bf.checklist.prompt, "en") == "Did it happen with this company?"
    assert bf.render(bf.intro, "fa", "X") == "پرسش‌هایی دربارهٔ X."


def test_plain_text_is_the_neutral_wording(bf):
    """Code that shows text[lang] without knowing brands (export labels, codebooks)
    gets the neutral wording, never a raw {brand}."""
    assert bf.item("A1").text["en"] == "This company keeps its promises."
    assert bf.item("A2").text["ru"] == "Я доверяю этой компании."
    assert dict(bf.title) == {
        "en": "Trust in this company",
        "ru": "Доверие к этой компании",
        "fa": "اعتماد به این شرکت",
    }
    assert templates_of(bf.item("A1").text)["en"] == "{brand} keeps its promises."
    assert templates_of(bf.item("FIXED").text) == bf.item("FIXED").text  # no placeholder
    for item in bf.iter_all_items():
        for lang in bf.languages:
            assert "{" not in item.text[lang]
            assert bf.render(item.text, lang) == item.text[lang]


def test_brand_name_is_inserted_literally(bf):
    # no format-string or regex interpretation of the display name
    assert bf.item_text("A2", "en", r"A\1 {brand} {0}") == r"I trust A\1 {brand} {0}."


def test_not_brand_aware_instrument_texts_unchanged():
    data = fixture_dict()
    del data["brand"]
    for lang in ("en", "ru", "fa"):
        data["dimensions"][0]["items"][0]["text"][lang] = "Plain."
        data["dimensions"][0]["items"][1]["text"][lang] = "Plain."
    data["title"] = {"en": "T", "ru": "T", "fa": "T"}
    data["intro"] = {"en": "I", "ru": "I", "fa": "I"}
    data["checklist"]["prompt"] = {"en": "P", "ru": "P", "fa": "P"}
    inst = instrument_from_dict(data, source="bf.yaml")
    assert not inst.brand_aware
    assert inst.item_text("A1", "ru", "Acme") == "Plain."


def _set(data, path, value):
    d = data
    for k in path[:-1]:
        d = d[k]
    d[path[-1]] = value


A1_TEXT = ("dimensions", 0, "items", 0, "text")
BRAND_ERRORS = {
    "placeholder without a brand section": (
        lambda d: d.pop("brand"),
        "bf.yaml: dimensions[0][A].items[0][A1].text.en: uses {brand} but the instrument has no "
        "brand: section",
    ),
    "unknown placeholder": (
        lambda d: _set(d, (*A1_TEXT, "en"), "{company} keeps its promises."),
        "bf.yaml: dimensions[0][A].items[0][A1].text.en: '{company}' is not a placeholder",
    ),
    "unknown case": (
        lambda d: _set(d, (*A1_TEXT, "ru"), "{brand:abl} выполняет."),
        "bf.yaml: dimensions[0][A].items[0][A1].text.ru: {brand:abl}: unknown case",
    ),
    "case not declared for the language": (
        lambda d: d["brand"]["neutral"]["ru"].pop("dat"),
        "bf.yaml: dimensions[0][A].items[1][A2].text.ru: {brand:dat} but brand.neutral.ru has no "
        "'dat' form",
    ),
    "neutral missing for a language": (
        lambda d: d["brand"]["neutral"].pop("fa"),
        "bf.yaml: brand.neutral.fa: missing translation",
    ),
    "named form without {name}": (
        lambda d: _set(d, ("brand", "named", "ru", "gen"), "компании"),
        "bf.yaml: brand.named.ru.gen: must contain {name}",
    ),
    "case forms without nom": (
        lambda d: d["brand"]["neutral"]["ru"].pop("nom"),
        "bf.yaml: brand.neutral.ru.nom: is required",
    ),
}


@pytest.mark.parametrize("mutate, want", BRAND_ERRORS.values(), ids=list(BRAND_ERRORS))
def test_brand_errors(mutate, want):
    data = fixture_dict()
    mutate(data)
    errors = errors_of(data)
    assert any(e.startswith(want) for e in errors), (want, errors)


# ----- show_if: evaluation ------------------------------------------------------------------


def test_condition_evaluation():
    yes = Leaf("CL1", "equals", 1)
    assert yes.evaluate({"CL1": 1}) and not yes.evaluate({"CL1": 0})
    assert not yes.evaluate({}) and not yes.evaluate({"CL1": None})
    assert yes.evaluate({"CL1": 1.0}) and yes.evaluate({"CL1": "1"}) and yes.evaluate({"CL1": True})
    assert not yes.evaluate({"CL1": float("nan")}) and not yes.evaluate({"CL1": "na"})
    assert Leaf("X", "in", (1, 3)).evaluate({"X": 3}) and not Leaf("X", "in", (1, 3)).evaluate(
        {"X": 2}
    )
    assert Leaf("X", "at_least", 5).evaluate({"X": 5}) and not Leaf("X", "at_least", 5).evaluate(
        {"X": 4}
    )
    assert Leaf("X", "at_most", 2).evaluate({"X": 2}) and not Leaf("X", "at_most", 2).evaluate(
        {"X": 3}
    )
    both = AllOf((yes, Leaf("X", "at_most", 2)))
    assert both.evaluate({"CL1": 1, "X": 1}) and not both.evaluate({"CL1": 1, "X": 3})
    either = AnyOf((yes, Leaf("X", "at_most", 2)))
    assert either.evaluate({"CL1": 0, "X": 1}) and not either.evaluate({"CL1": 0, "X": 3})
    assert Not(yes).evaluate({}) and not Not(yes).evaluate({"CL1": 1})
    assert answer_code("-2") == -2 and answer_code("1-") is None and answer_code(2.5) is None


def test_satisfiable():
    dom = {"X": (1, 2, 3, 4, 5), "Y": (0, 1)}
    assert satisfiable(AllOf((Leaf("X", "at_least", 4), Leaf("X", "at_most", 4))), dom)
    assert not satisfiable(AllOf((Leaf("X", "at_least", 4), Leaf("X", "at_most", 3))), dom)
    assert not satisfiable(AllOf((Leaf("Y", "equals", 1), Not(Leaf("Y", "in", (0, 1))))), dom)
    assert satisfiable(Not(Leaf("Y", "in", (0, 1))), dom)  # true when Y is not answered


def test_shown_items_follow_the_answers(bf):
    # the follow-up page: shown when a checklist item is "yes", and A1 at most 3
    assert bf.shown_item_ids(2, {"CL1": 1, "A1": 2}) == ("FIXED",)
    assert bf.shown_item_ids(2, {"CL2": 1, "A1": 3}) == ("FIXED",)
    assert bf.shown_item_ids(2, {"CL1": 0, "CL2": 0, "A1": 2}) == ()
    assert bf.shown_item_ids(2, {"CL1": 1, "A1": 5}) == ()
    assert not bf.page_is_shown(2, {}) and bf.page_is_shown(3, {})
    assert bf.is_shown("A1", {}) and not bf.is_shown("FIXED", {"CL1": 1})
    assert len(bf.conditions_for("FIXED")) == 2


# ----- show_if: validation, one case at a time -------------------------------------------------

FIXED = ("single_items", 0)
FIXED_PATH = "bf.yaml: single_items[0][FIXED].show_if: "
PAGE2 = "bf.yaml: pages[2].show_if: "


def _show_if(cond):
    return lambda d: _set(d, (*FIXED, "show_if"), cond)


SHOW_IF_ERRORS = {
    "unknown item": (
        _show_if({"item": "NOPE", "equals": 1}),
        FIXED_PATH + "refers to unknown item 'NOPE'",
    ),
    "block id instead of an item": (
        _show_if({"item": "A", "equals": 1}),
        FIXED_PATH + "refers to unknown item 'A' (a block id; name one of its items: A1, A2)",
    ),
    "later item": (
        lambda d: _set(d, ("dimensions", 0, "show_if"), {"item": "CL1", "equals": 1}),
        "bf.yaml: dimensions[0][A].show_if: refers to 'CL1', a later item (page 2; this question "
        "is on page 1)",
    ),
    "same page": (
        lambda d: _set(d, ("dimensions", 0, "items", 1, "show_if"), {"item": "A1", "equals": 1}),
        "bf.yaml: dimensions[0][A].items[1][A2].show_if: refers to 'A1' on the same page (1)",
    ),
    "open-text item": (
        lambda d: (
            d["pages"].insert(4, ["FIXED"]),
            d["pages"].pop(2),
            _set(d, (*FIXED, "show_if"), {"item": "WHY", "equals": 1}),
        ),
        FIXED_PATH + "refers to 'WHY', an open-text item",
    ),
    "cycle": (
        lambda d: (
            _set(d, ("dimensions", 0, "items", 0, "show_if"), {"item": "FIXED", "at_least": 1}),
        ),
        "bf.yaml: dimensions[0][A].items[0][A1].show_if: show_if forms a cycle: A1 -> FIXED -> A1",
    ),
    "self reference": (
        _show_if({"item": "FIXED", "equals": 1}),
        FIXED_PATH + "show_if forms a cycle: FIXED -> FIXED",
    ),
    "equals a code outside the scale": (
        _show_if({"item": "A1", "equals": 9}),
        FIXED_PATH + "A1 equals 9: can never be true, A1 is answered on 1..5",
    ),
    "checklist equals 2": (
        lambda d: _set(d, ("pages", 2, "show_if"), {"item": "CL1", "equals": 2}),
        PAGE2 + "CL1 equals 2: can never be true, CL1 is coded 0 = no, 1 = yes",
    ),
    "in with a code outside the scale": (
        _show_if({"item": "A1", "in": [1, 6, 7]}),
        FIXED_PATH + "A1 in [1, 6, 7]: 6, 7 can never be an answer",
    ),
    "at_least above the maximum": (
        _show_if({"item": "A1", "at_least": 6}),
        FIXED_PATH + "A1 at_least 6: can never be true, A1 is answered on 1..5",
    ),
    "at_most below the minimum": (
        _show_if({"item": "A1", "at_most": 0}),
        FIXED_PATH + "A1 at_most 0: can never be true",
    ),
    "contradictory leaves on one item": (
        _show_if({"all": [{"item": "A1", "at_least": 4}, {"item": "A1", "at_most": 2}]}),
        FIXED_PATH + "can never be true: no combination of answers satisfies it "
        "((A1 at_least 4 and A1 at_most 2))",
    ),
    "contradiction through not": (
        _show_if({"all": [{"item": "CL1", "equals": 1}, {"not": {"item": "CL1", "in": [1]}}]}),
        FIXED_PATH + "can never be true",
    ),
    "two operators in a leaf": (
        _show_if({"item": "A1", "equals": 1, "at_least": 1}),
        FIXED_PATH + "needs exactly one of equals, in, at_least, at_most (got equals, at_least)",
    ),
    "no operator": (_show_if({"item": "A1"}), FIXED_PATH + "needs exactly one of"),
    "no item": (
        _show_if({"equals": 1}),
        "bf.yaml: single_items[0][FIXED].show_if.item: is required",
    ),
    "unknown key": (_show_if({"item": "A1", "eq": 1}), FIXED_PATH + "unknown field(s) eq"),
    "combinator with other keys": (
        _show_if({"all": [{"item": "A1", "equals": 1}], "item": "A1"}),
        FIXED_PATH + "all / item: a combinator",
    ),
    "empty all": (
        _show_if({"all": []}),
        "bf.yaml: single_items[0][FIXED].show_if.all: must be a "
        "non-empty list of conditions, got an empty list",
    ),
    "yes instead of 1": (
        lambda d: _set(d, ("pages", 2, "show_if"), {"item": "CL1", "equals": True}),
        "bf.yaml: pages[2].show_if.equals: must be an integer answer code, got True "
        "(checklist answers are 1 = yes, 0 = no)",
    ),
    "expression string": (
        _show_if("A1 > 3"),
        FIXED_PATH + "must be a mapping such as {item: BR_FEE, equals: 1}",
    ),
    "nested leaf error has its path": (
        _show_if({"any": [{"item": "A1", "equals": 1}, {"not": {"item": "A1", "in": "1"}}]}),
        "bf.yaml: single_items[0][FIXED].show_if.any[1].not.in: must be a non-empty list",
    ),
    "too deep": (
        _show_if(
            {
                "not": {
                    "not": {
                        "not": {
                            "not": {
                                "not": {
                                    "not": {"not": {"not": {"not": {"item": "A1", "equals": 1}}}}
                                }
                            }
                        }
                    }
                }
            }
        ),
        "bf.yaml: single_items[0][FIXED].show_if.not.not.not.not.not.not.not.not.not: is nested",
    ),
}


@pytest.mark.parametrize("mutate, want", SHOW_IF_ERRORS.values(), ids=list(SHOW_IF_ERRORS))
def test_show_if_errors(mutate, want):
    data = fixture_dict()
    mutate(data)
    errors = errors_of(data)
    assert any(e.startswith(want) for e in errors), (want, errors)


def test_valid_conditions_load():
    data = fixture_dict()
    _set(
        data,
        (*FIXED, "show_if"),
        {
            "any": [
                {"all": [{"item": "A1", "at_least": 2}, {"item": "A2", "in": [1, 2]}]},
                {"not": {"item": "A2", "equals": 5}},
            ]
        },
    )
    inst = instrument_from_dict(copy.deepcopy(data), source="bf.yaml")
    cond = inst.item("FIXED").show_if
    assert cond.evaluate({"A1": 3, "A2": 2}) and cond.evaluate({"A2": 4})
    assert not cond.evaluate({"A1": 1, "A2": 5})
    assert cond.to_dict() == data["single_items"][0]["show_if"]


# ----- open-text items ----------------------------------------------------------------------


def test_text_items_are_kept_out_of_numeric_paths(bf):
    assert bf.text_item_ids == ("WHY",)
    assert "WHY" not in bf.item_ids
    assert "WHY" not in [i.id for i in bf.iter_items()]
    assert "WHY" not in [i.id for i in bf.single_items]
    assert "WHY" not in bf.dimension_item_ids
    assert all("WHY" not in b.item_ids for b in bf.blocks)
    assert bf.scale_for("WHY") is None
    assert bf.all_item_ids[-1] == "WHY" and set(bf.all_item_ids) == {*bf.item_ids, "WHY"}
    why = bf.item("WHY")
    assert why.is_text and why.max_length == 20 and not why.required


TEXT_ERRORS = {
    "max_length zero": (
        ("max_length", 0),
        "bf.yaml: single_items[1][WHY].max_length: must be between 1 and 10000",
    ),
    "max_length a string": (
        ("max_length", "long"),
        "bf.yaml: single_items[1][WHY].max_length: must be an integer",
    ),
    "scale on a text item": (
        ("scale", {"min": 1, "max": 2}),
        "bf.yaml: single_items[1].scale: unknown field",
    ),
    "unknown type": (("type", "essay"), "bf.yaml: single_items[1][WHY].type: must be choice"),
}


@pytest.mark.parametrize("field, want", TEXT_ERRORS.values(), ids=list(TEXT_ERRORS))
def test_text_item_errors(field, want):
    data = fixture_dict()
    data["single_items"][1][field[0]] = field[1]
    errors = errors_of(data)
    assert any(e.startswith(want) for e in errors), (want, errors)


def test_default_page_layout_puts_text_items_last():
    data = fixture_dict()
    del data["pages"]
    inst = instrument_from_dict(data, source="bf.yaml")
    assert inst.pages[-1] == ("WHY",)
    assert sorted(inst.all_item_ids) == sorted((*inst.item_ids, "WHY"))


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("  fine  ", "fine"),
        ("a\r\nb\rc", "a\nb\nc"),
        ("tab\there", "tab\there"),
        ("bell\x07 and nul\x00 and esc\x1b[31m", "bell and nul and esc[31m"),
        ("del\x7f c1\x9b", "del c1"),
        ("\u202eevil\u202c txt", "evil txt"),  # right-to-left override and pop
        ("\u2066a\u2069 \u2067b\u2069 \u2068c\u2069 \u202ad\u202b", "a b c d"),
        ("می\u200cکنم", "می\u200cکنم"),  # Persian zero-width non-joiner kept
        ("\u200fمتن\u200e", "\u200fمتن\u200e"),  # RLM and LRM kept
        ("e\u0301", "\u00e9"),  # NFC
        ("line\u2028sep", "line\nsep"),
        ("=1+1", "=1+1"),  # formulas are neutralised by the exports, not here
        ("\x00\u202e  ", ""),
    ],
)
def test_clean_text(raw, clean):
    assert clean_text(raw) == clean


def test_check_text_length_and_empty(bf):
    why = bf.item("WHY")
    assert check_text("x" * 20, why.max_length) == "x" * 20
    # counted after cleaning: the controls do not count
    assert check_text("\u202e" + "x" * 20 + "\x00  ", why.max_length) == "x" * 20
    with pytest.raises(TextAnswerError, match="WHY: the answer has 21 characters; at most 20"):
        check_text("x" * 21, why.max_length, item_id="WHY")
    assert check_text(" \u202e ", why.max_length) is None
    with pytest.raises(TextAnswerError, match="WHY: an answer is required"):
        check_text(" ", why.max_length, required=True, item_id="WHY")
    with pytest.raises(TextAnswerError, match="must be a string"):
        clean_text(None)


# ----- customer-trust 1.1.0 -----------------------------------------------------------------

BREACH_IDS = ("BR_PROMISE", "BR_FEE", "BR_COMPLAINT", "BR_TERMS", "BR_ADS", "BR_QUALITY")


@pytest.fixture(scope="module")
def ct():
    from instruments.loader import get_instrument

    return get_instrument("customer-trust")


@pytest.fixture(scope="module")
def ct_old():
    from instruments.loader import get_instrument

    return get_instrument("customer-trust@1.0.0")


def test_default_instrument_is_brand_aware_without_literal_company(ct, ct_old):
    assert ct.brand_aware and not ct_old.brand_aware
    literal = {"en": "this company", "ru": "эт(а|ой|у) компани", "fa": "این شرکت"}
    n_placeholders = 0
    texts = [("intro", templates_of(ct.intro)), ("prompt", templates_of(ct.checklist.prompt))] + [
        (i.id, templates_of(i.text)) for i in ct.iter_all_items()
    ]
    for where, text in texts:
        for lang in ct.languages:
            assert not re.search(literal[lang], text[lang].lower()), (where, lang)
            n_placeholders += "{brand" in text[lang]
    # every text that named the company in 1.0.0 now has {brand}, in every language
    old = {i.id: i.text for i in ct_old.iter_items()}
    for where, text in texts:
        if where in old and "this company" in old[where]["en"].lower():
            assert all("{brand" in text[lang] for lang in ct.languages), where
    assert n_placeholders >= 3 * 30


@pytest.mark.parametrize(
    "lang, brand, item, shown",
    [
        ("en", None, "REL1", "This company keeps the promises it makes to me."),
        (
            "en",
            "Acme",
            "REL3",
            "The quality of the products or services of Acme matches what I expect.",
        ),
        ("ru", None, "REL1", "Эта компания выполняет обещания, которые она мне даёт."),
        (
            "ru",
            "Ромашка",
            "HON4",
            "Компания Ромашка честна со мной, даже когда правда мне неприятна.",
        ),
        ("ru", None, "TRUST_OVERALL", "В целом я доверяю этой компании."),
        ("ru", "Ромашка", "TRUST_OVERALL", "В целом я доверяю компании Ромашка."),
        (
            "ru",
            "Ромашка",
            "LOY2",
            "Я бы порекомендовал(-а) компанию Ромашка друзьям или родственникам.",
        ),
        ("ru", None, "RISK1", "Иметь дело с этой компанией, по-моему, рискованно."),
        (
            "ru",
            "Ромашка",
            "REC_RESOLVED",
            "Вспомните самую серьёзную из этих проблем. Компания Ромашка её решила?",
        ),
        (
            "ru",
            None,
            "REC_RESOLVED",
            "Вспомните самую серьёзную из этих проблем. Эта компания её решила?",
        ),
        ("fa", None, "TRUST_OVERALL", "در مجموع، به این شرکت اعتماد دارم."),
        ("fa", "دیجی‌کالا", "NPS", "چقدر احتمال دارد دیجی‌کالا را به یک دوست یا همکار توصیه کنید؟"),
    ],
)
def test_default_instrument_brand_rendering(ct, lang, brand, item, shown):
    assert ct.item_text(item, lang, brand) == shown


def test_service_recovery_follow_up_only_after_a_breach(ct):
    page = ct.pages.index(("REC_RESOLVED", "REC_HANDLING"))
    assert page == ct.pages.index(("BREACH",)) + 1
    for mask in range(2 ** len(BREACH_IDS)):
        answers = {b: (mask >> k) & 1 for k, b in enumerate(BREACH_IDS)}
        assert ct.page_is_shown(page, answers) == bool(mask), answers
        assert ct.is_shown("REC_HANDLING", answers) == bool(mask)
    assert not ct.page_is_shown(page, {})  # checklist not answered: no follow-up
    assert ct.pages[-1] == ("OPEN_REASON",) and ct.page_is_shown(len(ct.pages) - 1, {})


def test_revision_1_1_0(ct, ct_old):
    ru = ct.scale.labels["ru"]
    assert ru[4] == "Ни согласен(-на), ни не согласен(-на)"
    assert ct_old.scale.labels["ru"][4] == "Ни да, ни нет"  # the stored version is unchanged
    nps = ct.item("NPS").scale.labels["ru"]
    assert nps[0].split()[0] == nps[10].split()[0] == "Крайне"  # symmetric anchors
    hon2 = ct.item("HON2").text
    assert "fee" not in hon2["en"] and "платеж" not in hon2["ru"] and "پنهان" not in hon2["fa"]
    assert "справедливо" in ct.item("PROP2").text["ru"]
    assert "доверием" not in ct.item("PROP3").text["ru"]
    assert "بشنوم" not in ct.item("HON4").text["fa"]
    assert "مشتری دیگر" not in ct.item("EMP3").text["fa"]
    fa = ct.intro["fa"]
    assert "مشارکت می‌کنید" in fa and " شرکت می‌کنید" not in fa
    assert "такой товар или услуга" not in ct.item("LOY3").text["ru"]
    assert "решили жалобу" not in ct.item("BR_COMPLAINT").text["ru"]
    assert "которые она мне даёт" in ct.item("REL1").text["ru"]
    # the item ids did not change: 1.0.0 and 1.1.0 share every scored item
    assert ct.dimension_item_ids == ct_old.dimension_item_ids
    assert set(ct_old.item_ids) < set(ct.item_ids)


def test_demo_data_respect_show_if_and_skip_text_items(ct):
    import numpy as np

    from survey.demo import simulate

    sim = simulate(ct, 600, seed=3)
    x = sim["values"]
    col = {iid: k for k, iid in enumerate(ct.item_ids)}
    assert x.shape[1] == len(ct.item_ids) and "OPEN_REASON" not in col
    breach = np.nan_to_num(x[:, [col[b] for b in BREACH_IDS]]).max(axis=1) == 1
    for rec in ("REC_RESOLVED", "REC_HANDLING"):
        assert np.isnan(x[~breach, col[rec]]).all()  # never shown, never answered
        assert not np.isnan(x[breach, col[rec]]).any()
    assert 20 < breach.sum() < 580


def test_readme_worked_example():
    """The worked example in instruments/README.md loads and behaves as it says."""
    readme = (Path(__file__).resolve().parents[2] / "instruments" / "README.md").read_text(
        encoding="utf-8"
    )
    section = readme.split("## Worked example", 1)[1].split("\n## ", 1)[0]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    inst = instrument_from_dict(yaml.safe_load(block), source="example.yaml")
    assert (inst.item_text("A1", "ru", None), inst.item_text("A2", "ru", "Ромашка")) == (
        "Эта компания выполняет свои обещания.",
        "Я доверяю компании Ромашка.",
    )
    assert inst.shown_item_ids(2, {"CL1": 1, "A1": 2}) == ("FIXED",)
    assert inst.shown_item_ids(2, {"CL1": 0, "CL2": 0}) == ()
    assert (inst.item_ids, inst.text_item_ids) == (("A1", "A2", "FIXED", "CL1", "CL2"), ("WHY",))
    data = yaml.safe_load(block)
    data["single_items"][0]["show_if"] = {
        "all": [{"item": "A1", "at_least": 4}, {"item": "A1", "at_most": 3}]
    }
    with pytest.raises(InstrumentError) as excinfo:
        instrument_from_dict(data, source="FILE")
    assert excinfo.value.errors == [
        "FILE: single_items[0][FIXED].show_if: can never be true: no combination of answers "
        "satisfies it ((A1 at_least 4 and A1 at_most 3))"
    ]


def test_analysis_ignores_and_refuses_open_text(ct):
    """A text column next to the items changes nothing; asking for it is a clear error."""
    import pandas as pd

    from analysis.data import AnalysisError, check_items
    from analysis.reliability import reliability_by_dimension
    from survey.demo import simulate

    sim = simulate(ct, 300, seed=2)
    df = pd.DataFrame(sim["values"], columns=list(ct.item_ids))
    base = check_items(df, ct).frame
    df["OPEN_REASON"] = ["=1+1" if k % 2 else "" for k in range(len(df))]
    frame = check_items(df, ct).frame
    assert list(frame.columns) == list(ct.item_ids) and frame.equals(base)
    assert reliability_by_dimension(df, ct) is not None
    df["OPEN_REASON"] = ""  # blank strings would otherwise read as "no answer" codes
    with pytest.raises(AnalysisError, match="OPEN_REASON: open-text item"):
        check_items(df, ct, ["REL1", "OPEN_REASON"])


def test_brand_text_survives_copy_and_pickle(bf):
    import pickle

    text = bf.item("A2").text
    for clone in (copy.deepcopy(text), pickle.loads(pickle.dumps(text)), copy.copy(text)):
        assert clone == text and templates_of(clone) == templates_of(text)
        assert bf.render(clone, "ru", "X") == "Я доверяю компании X."
    assert copy.deepcopy(bf) == bf


@pytest.mark.parametrize(
    "path",
    [
        Path(__file__).parent / "brands-followup.yaml",
        Path(__file__).parents[2] / "instruments" / "customer-trust.yaml",
        Path(__file__).parents[2] / "instruments" / "customer-trust-1.0.0.yaml",
    ],
    ids=lambda p: p.name,
)
def test_cached_lookups_agree_with_a_scan_of_the_model(path):
    """item/block/block_of/page_of/conditions_for use tables built once per instrument
    (they run for every item on every respondent request); they must give what a plain
    scan of the immutable model gives, and unknown ids stay KeyErrors."""
    inst = load_instrument(path)
    items = [*inst.iter_items(), *inst.text_items]
    for item in items:
        assert inst.item(item.id) is next(i for i in items if i.id == item.id)
        owner = next((b for b in inst.blocks if item in b.items), None)
        assert inst.block_of(item.id) is owner
    for b in inst.blocks:
        assert inst.block(b.id) is b
    for page in inst.pages:
        expanded = inst._expand_page(page)
        assert inst.page_item_ids(page) == expanded
        for iid in expanded:
            assert inst.page_of(iid) == next(
                j for j, p in enumerate(inst.pages) if iid in inst._expand_page(p)
            )
            assert inst.conditions_for(iid) == inst._conditions_of(iid)
            assert inst.conditions_for(iid) == inst.conditions_for(iid)  # cached copy
    for bad in ("NOPE", None, ["REL1"]):
        with pytest.raises(KeyError):
            inst.item(bad)
        with pytest.raises(KeyError):
            inst.block(bad)
    with pytest.raises(KeyError):
        inst.page_of("NOPE")
    assert inst.item_ids == tuple(i.id for i in inst.iter_items())
