"""Instrument definitions: the built-in ones, the examples, the loader's errors and the CLI."""

from __future__ import annotations

import copy
import keyword
import re
import unicodedata
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from instruments.loader import (
    ID_RE,
    InstrumentError,
    builtin_paths,
    get_instrument,
    instrument_from_dict,
    instrument_from_yaml,
    list_instruments,
    load_instrument,
)
from instruments.model import Instrument
from survey.cli import main

ROOT = Path(__file__).resolve().parents[2]
INSTRUMENTS_DIR = ROOT / "instruments"
EXAMPLES_DIR = INSTRUMENTS_DIR / "examples"
FIXTURES = Path(__file__).resolve().parent
MINIMAL = FIXTURES / "minimal.yaml"

EXAMPLE_PATHS = sorted(EXAMPLES_DIR.glob("*.yaml"))
ALL_PATHS = list(builtin_paths()) + EXAMPLE_PATHS

CYRILLIC = re.compile(r"[\u0400-\u04FF]")
ARABIC_SCRIPT = re.compile(r"[\u0600-\u06FF]")
ARABIC_NOT_PERSIAN = re.compile(r"[\u064A\u0643]")  # Arabic yeh and kaf: Persian uses ی and ک


@pytest.fixture(scope="module")
def ct() -> Instrument:
    return get_instrument("customer-trust")


def minimal_dict() -> dict:
    return yaml.safe_load(MINIMAL.read_text(encoding="utf-8"))


# ----- every shipped instrument ---------------------------------------------------------


def test_shipped_instruments_are_found():
    assert "customer-trust.yaml" in [p.name for p in builtin_paths()]
    assert "big-five-demo.yaml" in [p.name for p in EXAMPLE_PATHS]
    # Examples are not built in.
    assert not {p.name for p in builtin_paths()} & {p.name for p in EXAMPLE_PATHS}


@pytest.mark.parametrize("path", ALL_PATHS, ids=lambda p: p.name)
def test_shipped_instrument_loads_and_is_consistent(path):
    inst = load_instrument(path)
    assert inst.source == str(path)
    assert isinstance(inst.version, str) and inst.version
    ids = inst.item_ids
    assert len(ids) == len(set(ids))
    # SPSS compares variable names case-insensitively: keep them unique that way too.
    assert len({i.lower() for i in ids}) == len(ids)
    for iid in ids + tuple(b.id for b in inst.blocks):
        assert ID_RE.match(iid) and not keyword.iskeyword(iid), iid
    # Every item (open-text ones too) is on exactly one page.
    on_pages = [i for page in inst.pages for i in inst.page_item_ids(page)]
    assert sorted(on_pages) == sorted(ids + inst.text_item_ids)
    assert not set(ids) & set(inst.text_item_ids)
    for item in inst.iter_all_items():
        for lang in inst.languages:
            text = item.text[lang]
            assert text == text.strip() and "  " not in text, (item.id, lang)
            for brand in (None, "Acme"):
                shown = inst.render(item.text, lang, brand)
                assert "{" not in shown and "}" not in shown, (item.id, lang)
    for a in inst.attention_checks:
        assert inst.scale.min <= a.expected <= inst.scale.max


QUOTED = re.compile(r'"([^"]+)"|«([^»]+)»|(?<!\w)\'([^\']+)\'(?!\w)')


@pytest.mark.parametrize("path", ALL_PATHS, ids=lambda p: p.name)
def test_attention_check_names_the_label_of_its_expected_code(path):
    """ATT1's instruction quotes, exactly, the label of its expected code, in every language.

    Exact: "Согласен(-на)" is also a substring of "Не согласен(-на)", so containment would
    not catch an instruction naming the wrong label; the quoted label must equal it.
    """
    inst = load_instrument(path)
    for a in inst.attention_checks:
        for lang in inst.languages:
            quoted = ["".join(groups) for groups in QUOTED.findall(a.text[lang])]
            assert quoted == [inst.scale.label(lang, a.expected)], (a.id, lang, quoted)
            others = set(inst.scale.labels[lang].values()) - {quoted[0]}
            assert quoted[0] not in others


def test_list_instruments_default_is_the_builtin_ones():
    assert [i.id for i in list_instruments()] == [load_instrument(p).id for p in builtin_paths()]
    assert "customer-trust" in [i.id for i in list_instruments()]
    assert "big-five-demo" not in [i.id for i in list_instruments()]
    assert "big-five-demo" in [i.id for i in list_instruments(EXAMPLES_DIR)]


def test_get_instrument_by_id_and_by_path():
    # the newest built-in version by default; an older one by id@version
    assert get_instrument("customer-trust").key == "customer-trust@1.1.0"
    old = get_instrument("customer-trust@1.0.0")
    assert old.key == "customer-trust@1.0.0" and old.source.endswith("customer-trust-1.0.0.yaml")
    with pytest.raises(InstrumentError, match="known: customer-trust@1.0.0, customer-trust@1.1.0"):
        get_instrument("customer-trust@9.9")
    assert get_instrument(str(EXAMPLE_PATHS[0])).id == "big-five-demo"
    with pytest.raises(InstrumentError, match="no built-in instrument with this id"):
        get_instrument("no-such-instrument")


def test_big_five_demo_has_reverse_keyed_items():
    inst = load_instrument(EXAMPLES_DIR / "big-five-demo.yaml")
    assert (inst.scale.min, inst.scale.max) == (1, 6)
    assert [len(d.items) for d in inst.dimensions] == [4] * 5
    for d in inst.dimensions:
        n_rev = sum(i.reverse for i in d.items)
        assert 1 <= n_rev < len(d.items), d.id


# ----- customer-trust -------------------------------------------------------------------


def test_customer_trust_header(ct):
    assert (ct.id, ct.version, ct.languages) == ("customer-trust", "1.1.0", ("en", "ru", "fa"))
    assert ct.source.endswith("customer-trust.yaml")


def test_customer_trust_dimensions(ct):
    assert [d.id for d in ct.dimensions] == ["REL", "HON", "COM", "EMP", "CON"]
    for d in ct.dimensions:
        assert d.item_ids == tuple(f"{d.id}{k}" for k in range(1, 5))
        assert d.in_index
        for item in d.items:
            assert item.reverse is False, item.id  # all positively worded
            assert item.construct in ("ability", "benevolence", "integrity", "predictability")
            assert item.rationale
    constructs = {d.id: {i.construct for i in d.items} for d in ct.dimensions}
    assert constructs["COM"] == {"ability"}
    assert constructs["EMP"] == {"benevolence"}
    assert constructs["HON"] == {"integrity"}
    assert constructs["CON"] == {"predictability"}
    assert "integrity" in constructs["REL"]
    assert len(ct.dimension_item_ids) == 20


def test_customer_trust_outcomes_covariates_and_extras(ct):
    assert [(b.id, b.item_ids) for b in ct.outcomes] == [
        ("TRUST", ("TRUST_OVERALL",)),
        ("LOY", ("LOY1", "LOY2", "LOY3")),
        ("RISK", ("RISK1", "RISK2")),
    ]
    assert all(not b.in_index for b in ct.outcomes + ct.covariates)
    assert all(i.construct == "outcome" and not i.reverse for b in ct.outcomes for i in b.items)
    (prop,) = ct.covariates
    assert prop.id == "PROP" and prop.kind == "covariate" and 3 <= len(prop.items) <= 4
    assert all(i.construct == "propensity" for i in prop.items)
    assert sum(i.reverse for i in prop.items) <= 1
    index_items = set(ct.dimension_item_ids)
    assert not index_items & {i for b in ct.outcomes + ct.covariates for i in b.item_ids}

    nps, resolved, handling = ct.single_items
    assert nps.id == "NPS" and nps.construct == "outcome"
    assert (resolved.id, resolved.scale.codes) == ("REC_RESOLVED", (0, 1, 2))
    assert (handling.id, handling.scale.codes) == ("REC_HANDLING", (1, 2, 3, 4, 5))
    (why,) = ct.text_items
    assert why.id == "OPEN_REASON" and why.is_text and not why.required
    assert why.max_length == 1000 and why.text["en"] == (
        "What is the main reason for your trust rating?"
    )
    assert (nps.scale.min, nps.scale.max) == (0, 10)
    assert nps.scale.labels["en"] == {0: "Not at all likely", 10: "Extremely likely"}
    assert ct.scale_for("NPS") is nps.scale and ct.scale_for("REL1") is ct.scale

    assert ct.checklist.id == "BREACH"
    assert ct.checklist.item_ids == (
        "BR_PROMISE",
        "BR_FEE",
        "BR_COMPLAINT",
        "BR_TERMS",
        "BR_ADS",
        "BR_QUALITY",
    )
    assert ct.scale_for("BR_FEE") is None


def test_customer_trust_scale(ct):
    s = ct.scale
    assert (s.min, s.max) == (1, 7) and s.not_applicable
    for lang in ct.languages:
        assert set(s.labels[lang]) == set(range(1, 8))  # fully labelled
        assert len(set(s.labels[lang].values())) == 7
        assert s.not_applicable_label[lang]
    assert s.labels["en"][1] == "Strongly disagree" and s.labels["en"][7] == "Strongly agree"


def test_customer_trust_attention_check_is_agree(ct):
    (att,) = ct.attention_checks
    assert att.id == "ATT1" and att.expected == 6
    agree = {"en": "Agree", "ru": "Согласен(-на)", "fa": "موافقم"}
    for lang in ct.languages:
        assert ct.scale.label(lang, 6) == agree[lang]
        assert ct.scale.label(lang, 6) in att.text[lang]
    assert '"Agree"' in att.text["en"]


def _all_texts(inst: Instrument):
    """(where, language, text) for every translatable text of an instrument."""
    for lang in inst.languages:
        yield "title", lang, inst.title[lang]
        yield "intro", lang, inst.intro[lang]
        for code, label in inst.scale.labels[lang].items():
            yield f"scale.{code}", lang, label
        if inst.scale.not_applicable:
            yield "not_applicable_label", lang, inst.scale.not_applicable_label[lang]
        for b in inst.blocks:
            yield f"{b.id}.name", lang, b.name[lang]
        for item in inst.iter_all_items():
            yield item.id, lang, item.text[lang]
            if item.scale is not None:
                for code, label in item.scale.labels[lang].items():
                    yield f"{item.id}.scale.{code}", lang, label
        if inst.checklist is not None:
            yield "checklist.prompt", lang, inst.checklist.prompt[lang]


def test_customer_trust_every_text_is_translated(ct):
    texts = list(_all_texts(ct))
    assert len(texts) > 3 * 50
    by_where: dict[str, dict[str, str]] = {}
    for where, lang, text in texts:
        assert text and text == text.strip(), (where, lang)
        assert unicodedata.normalize("NFC", text) == text, (where, lang)
        by_where.setdefault(where, {})[lang] = text
        if lang == "ru":
            assert CYRILLIC.search(text), (where, text)
        if lang == "fa":
            assert ARABIC_SCRIPT.search(text), (where, text)
            assert not ARABIC_NOT_PERSIAN.search(text), (where, "Arabic ي/ك instead of ی/ک")
    for where, t in by_where.items():
        assert set(t) == {"en", "ru", "fa"}, where
    # The intro names the not-applicable option by its label in every language.
    for lang in ct.languages:
        assert ct.scale.not_applicable_label[lang] in ct.intro[lang], lang


def test_customer_trust_wordings_are_distinct(ct):
    for lang in ct.languages:
        texts = [i.text[lang] for i in ct.iter_items()]
        assert len(texts) == len(set(texts)), lang


def test_customer_trust_pages_are_short_and_complete(ct):
    assert ct.pages == (
        ("REL", "HON"),
        ("COM", "EMP", "ATT1"),
        ("CON", "PROP"),
        ("TRUST", "LOY", "RISK", "NPS"),
        ("BREACH",),
        ("REC_RESOLVED", "REC_HANDLING"),
        ("OPEN_REASON",),
    )
    for page in ct.pages:
        assert len(ct.page_item_ids(page)) <= 10
    # The attention check sits among items on the same 7-point scale.
    assert ct.page_item_ids(ct.pages[1])[-1] == "ATT1"


def test_shipped_yaml_has_no_duplicate_keys():
    # instrument_from_yaml rejects duplicate keys; plain safe_load would hide them.
    for path in ALL_PATHS:
        text = path.read_text(encoding="utf-8")
        assert instrument_from_yaml(text, source="ct").item_ids == load_instrument(path).item_ids


# ----- broken instruments: one problem each, a clear message ----------------------------


def _del(*path):
    def mutate(d):
        obj = d
        for k in path[:-1]:
            obj = obj[k]
        del obj[path[-1]]

    return mutate


def _set(*path_and_value):
    *path, value = path_and_value

    def mutate(d):
        obj = d
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = copy.deepcopy(value)

    return mutate


def _append_item(section, block, item):
    def mutate(d):
        d[section][block]["items"].append(copy.deepcopy(item))

    return mutate


A1 = ["dimensions", 0, "items", 0]
ITEM_A3_DUP = {"id": "A1", "text": {"en": "Again.", "ru": "Снова."}}

BROKEN = {
    "missing required field": (_del("version"), ["version: is required"]),
    "missing scale": (_del("scale"), ["scale: is required"]),
    "wrong type (string for integer)": (
        _set("scale", "min", "1"),
        ["scale.min: must be an integer, got the string '1'"],
    ),
    "wrong type (string for mapping)": (
        _set(*A1, "text", "First item."),
        ["dimensions[0][A].items[0][A1].text: must be a mapping, got the string 'First item.'"],
    ),
    "wrong type (reverse)": (
        _set(*A1, "reverse", "yes"),
        ["dimensions[0][A].items[0][A1].reverse: must be true or false, got the string 'yes'"],
    ),
    "missing translation": (
        _del(*A1, "text", "ru"),
        ["dimensions[0][A].items[0][A1].text.ru: missing translation"],
    ),
    "missing translation of a label": (
        _del("scale", "labels", "ru"),
        ["scale.labels.ru: missing translation"],
    ),
    "unknown language in a text": (
        _set(*A1, "text", "de", "Erstes."),
        [
            "dimensions[0][A].items[0][A1].text.de: language 'de' is not in the instrument's "
            "languages ['en', 'ru']"
        ],
    ),
    "invalid language code": (
        _set("languages", ["en", "Russian"]),
        ["languages[1]: 'Russian' is not a language code such as en, ru or fa"],
    ),
    "language listed twice": (
        _set("languages", ["en", "ru", "en"]),
        ["languages: lists a language twice"],
    ),
    "duplicate item id": (
        _append_item("dimensions", 1, ITEM_A3_DUP),
        [
            "dimensions[1][B].items[2].id: duplicate id 'A1' (first used at "
            "dimensions[0][A].items[0].id)"
        ],
    ),
    "item id equal to a block id": (
        _set(*A1, "id", "B"),
        ["dimensions[1].id: duplicate id 'B' (first used at dimensions[0][A].items[0].id)"],
    ),
    "invalid item id": (
        _set(*A1, "id", "1st"),
        [
            "dimensions[0][A].items[0].id: '1st' is not a valid id (a letter, then letters, "
            "digits or _"
        ],
    ),
    "item id with a dash": (
        _set(*A1, "id", "A-1"),
        ["dimensions[0][A].items[0].id: 'A-1' is not a valid id"],
    ),
    "id with a trailing newline": (
        _set(*A1, "id", "A1\n"),
        ["dimensions[0][A].items[0].id: 'A1\\n' is not a valid id"],
    ),
    "SPSS reserved word as id": (
        _set(*A1, "id", "to"),
        [
            "dimensions[0][A].items[0].id: 'to' is a reserved word in SPSS, Stata or R and cannot "
            "be a variable name"
        ],
    ),
    "R reserved word as id": (
        _set("dimensions", 1, "id", "NA"),
        ["dimensions[1].id: 'NA' is a reserved word"],
    ),
    "language code with a trailing newline": (
        _set("languages", ["en", "ru\n"]),
        ["languages[1]: 'ru\\n' is not a language code such as en, ru or fa"],
    ),
    "invalid instrument id": (
        _set("id", "Minimal Test"),
        ["id: 'Minimal Test' must be lower-case letters, digits, '-' or '_'"],
    ),
    "scale max equal to min": (
        _set("scale", "max", 1),
        ["scale.max: must be greater than min (1), got 1"],
    ),
    "scale max below min": (
        _set("scale", "max", 0),
        ["scale.max: must be greater than min (1), got 0"],
    ),
    "wrong number of labels": (
        _set("scale", "labels", "en", ["One", "Two", "Three", "Four"]),
        ["scale.labels.en: has 4 labels but the scale 1..5 has 5 points"],
    ),
    "main scale not fully labelled": (
        _set("scale", "labels", "en", {1: "One", 5: "Five"}),
        ["scale.labels.en: must label every point 1..5 (a fully labelled scale)"],
    ),
    "label for a code outside the scale": (
        _set("single_items", 0, "scale", "labels", "en", {0: "Never", 11: "Surely"}),
        ["single_items[0][NPS].scale.labels.en.11: label key must be a scale code 0..10"],
    ),
    "not applicable without its label": (
        _del("scale", "not_applicable_label"),
        ["scale.not_applicable_label: is required when not_applicable is true"],
    ),
    "attention check expected outside the scale": (
        _set("attention_checks", 0, "expected", 9),
        ["attention_checks[0][ATT1].expected: 9 is outside the scale 1..5"],
    ),
    "attention check without expected": (
        _del("attention_checks", 0, "expected"),
        ["attention_checks[0][ATT1].expected: is required (the instructed answer)"],
    ),
    "unknown page reference": (
        _set("pages", 0, ["A", "ATT1", "NOPE"]),
        [
            "pages[0][2]: 'NOPE' is not a dimension, outcome, covariate, single item, "
            "attention check or checklist id of this instrument"
        ],
    ),
    "block on two pages": (
        _set("pages", 2, ["NPS", "CL", "A"]),
        ["pages[2][2]: 'A' is already on pages[0]"],
    ),
    "item on no page": (_set("pages", 2, ["CL"]), ["pages: 'NPS' is on no page"]),
    "unknown field (typo in an item)": (
        _set(*A1, "revrese", True),
        [
            "dimensions[0][A].items[0].revrese: unknown field (allowed: construct, id, rationale, "
            "reverse, show_if, text)"
        ],
    ),
    "unknown field (typo at top level)": (
        lambda d: d.__setitem__("dimension", d.pop("dimensions")),
        ["dimension: unknown field (allowed: ", "dimensions: is required"],
    ),
    "construct not a string": (
        _set(*A1, "construct", 42),
        ["dimensions[0][A].items[0][A1].construct: must be a non-empty string, got the number 42"],
    ),
    "version given as a number": (
        _set("version", 1.0),
        ['version: must be a quoted string such as "1.0.0", got the number 1.0'],
    ),
    "version given as an integer": (
        _set("version", 2),
        ['version: must be a quoted string such as "1.0.0", got the number 2'],
    ),
    "version left empty": (_set("version", None), ["version: must be a quoted string"]),
    "version an empty string": (_set("version", ""), ["version: must not be empty"]),
    "id left empty": (
        _set("id", None),
        ["id: must be a string such as customer-trust, got nothing"],
    ),
    "description not a string": (
        _set("description", ["a"]),
        ["description: must be a string, got a list"],
    ),
    "empty dimensions": (_set("dimensions", []), ["dimensions: must not be empty"]),
    "dimension with one item": (
        _set("dimensions", 0, "items", [{"id": "A1", "text": {"en": "x", "ru": "х"}}]),
        ["dimensions[0][A].items: a dimension needs at least 2 items to be scored and checked"],
    ),
    "block without a name": (_del("dimensions", 0, "name"), ["dimensions[0][A].name: is required"]),
    "item without a text": (_del(*A1, "text"), ["dimensions[0][A].items[0][A1].text: is required"]),
    "empty text": (
        _set(*A1, "text", "en", "  "),
        ["dimensions[0][A].items[0][A1].text.en: must be a non-empty string, got the string '  '"],
    ),
    "checklist without a prompt": (_del("checklist", "prompt"), ["checklist.prompt: is required"]),
}


@pytest.mark.parametrize("mutate, expected", BROKEN.values(), ids=list(BROKEN))
def test_broken_instrument_is_reported_clearly(tmp_path, mutate, expected):
    data = minimal_dict()
    mutate(data)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(InstrumentError) as excinfo:
        load_instrument(path)
    errors = excinfo.value.errors
    for want in expected:
        assert any(e.startswith(f"{path}: {want}") for e in errors), (want, errors)
    assert all(e.startswith(f"{path}: ") for e in errors), errors
    assert str(excinfo.value) == "\n".join(errors)


def test_every_problem_is_reported_at_once(tmp_path):
    data = minimal_dict()
    del data["version"]
    data["scale"]["max"] = 1
    data["dimensions"][0]["items"][0]["text"].pop("ru")
    data["pages"][0].append("NOPE")
    with pytest.raises(InstrumentError) as excinfo:
        instrument_from_dict(data, source="x.yaml")
    errors = excinfo.value.errors
    assert "x.yaml: version: is required" in errors
    assert "x.yaml: scale.max: must be greater than min (1), got 1" in errors
    assert "x.yaml: dimensions[0][A].items[0][A1].text.ru: missing translation" in errors


def test_version_as_unquoted_yaml_number():
    text = MINIMAL.read_text(encoding="utf-8").replace('version: "1.0.0"', "version: 1.0")
    with pytest.raises(InstrumentError) as excinfo:
        instrument_from_yaml(text, source="v.yaml")
    assert excinfo.value.errors == [
        'v.yaml: version: must be a quoted string such as "1.0.0", got the number 1.0'
    ]


def test_invalid_yaml_syntax_names_the_line():
    path = FIXTURES / "invalid-syntax.yaml"
    with pytest.raises(InstrumentError) as excinfo:
        load_instrument(path)
    (msg,) = excinfo.value.errors
    assert msg.startswith(f"{path}: line 4, column 6: invalid YAML: ")
    assert "expected ',' or ']'" in msg


def test_unquoted_comma_in_flow_mapping_is_caught():
    # `{en: I like art, music}` is YAML for {"en": "I like art", "music": None}.
    text = MINIMAL.read_text(encoding="utf-8").replace(
        "{en: First item., ru: Первый пункт.}", "{en: First, second item., ru: Первый пункт.}"
    )
    with pytest.raises(InstrumentError) as excinfo:
        instrument_from_yaml(text, source="c.yaml")
    assert excinfo.value.errors == [
        "c.yaml: dimensions[0][A].items[0][A1].text.second item.: language 'second item.' is "
        "not in the instrument's languages ['en', 'ru']"
    ]


def test_duplicate_yaml_key_is_an_error():
    text = MINIMAL.read_text(encoding="utf-8").replace(
        "        rationale: First.\n", "        rationale: First.\n        construct: integrity\n"
    )
    with pytest.raises(InstrumentError) as excinfo:
        instrument_from_yaml(text, source="d.yaml")
    (msg,) = excinfo.value.errors
    assert re.fullmatch(
        r"d\.yaml: line \d+, column 9: invalid YAML: duplicate key 'construct' "
        r"\(first given on line \d+\)",
        msg,
    ), msg


def test_yaml_merge_keys_may_still_override():
    text = (
        MINIMAL.read_text(encoding="utf-8")
        .replace(
            "title: {en: Minimal, ru: Минимальный}",
            "title: &t {en: Minimal, ru: Минимальный}\nintro:\n  <<: *t\n  en: Hi.",
        )
        .replace("intro: {en: Hello., ru: Здравствуйте.}\n", "")
    )
    inst = instrument_from_yaml(text, source="m.yaml")
    assert inst.intro == {"en": "Hi.", "ru": "Минимальный"}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("- id: x\n- version: '1'\n", "t.yaml: must be a mapping, got a list"),
        ("just a string\n", "t.yaml: must be a mapping, got the string 'just a string'"),
        ("", "t.yaml: must be a mapping, got nothing"),
        ("# only a comment\n", "t.yaml: must be a mapping, got nothing"),
    ],
    ids=["list", "scalar", "empty", "comment-only"],
)
def test_top_level_must_be_a_mapping(text, expected):
    with pytest.raises(InstrumentError) as excinfo:
        instrument_from_yaml(text, source="t.yaml")
    assert excinfo.value.errors == [expected]


def test_file_not_found(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(InstrumentError) as excinfo:
        load_instrument(path)
    assert excinfo.value.errors == [f"{path}: file not found"]


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("id: caf\xe9\n".encode("latin-1"))
    with pytest.raises(InstrumentError, match=r"latin1\.yaml: cannot read: "):
        load_instrument(path)


def test_minimal_fixture_is_valid():
    inst = load_instrument(MINIMAL)
    assert inst.pages == (("A", "ATT1"), ("B", "O"), ("NPS", "CL"))
    assert inst.reversed_item_ids == ("B2",)


def test_default_pages_when_none_are_given():
    data = minimal_dict()
    del data["pages"]
    inst = instrument_from_dict(data, source="p.yaml")
    assert inst.pages == (("A",), ("B", "ATT1"), ("O",), ("NPS",), ("CL",))


# ----- CLI ------------------------------------------------------------------------------


def _run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_cli_validate_ok():
    path = str(INSTRUMENTS_DIR / "customer-trust.yaml")
    result = _run("instrument", "validate", path, str(EXAMPLE_PATHS[0]))
    assert result.exit_code == 0, result.output
    assert (
        f"{path}: ok: customer-trust 1.1.0, 5 dimensions, 20 dimension items, 40 items in "
        "all and 1 open-text item, languages en, ru, fa, brand-aware"
    ) in result.stdout
    assert "ok: big-five-demo 0.1.0" in result.stdout
    assert result.stderr == ""


def test_cli_validate_failing(tmp_path):
    bad = tmp_path / "bad.yaml"
    data = minimal_dict()
    data["scale"]["max"] = 1
    del data["version"]
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = _run("instrument", "validate", str(MINIMAL), str(bad), str(tmp_path / "gone.yaml"))
    assert result.exit_code == 1
    assert f"{MINIMAL}: ok: minimal 1.0.0" in result.stdout
    assert f"{bad}: version: is required" in result.stderr
    assert f"{bad}: scale.max: must be greater than min (1), got 1" in result.stderr
    assert f"{tmp_path / 'gone.yaml'}: file not found" in result.stderr
    assert "bad.yaml" not in result.stdout


def test_cli_validate_needs_a_file():
    result = CliRunner().invoke(main, ["instrument", "validate"])
    assert result.exit_code == 2


def test_cli_list_builtin():
    result = _run("instrument", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == len(builtin_paths())
    assert (
        "customer-trust\t1.1.0\ten,ru,fa\t40 items\tdimensions: REL, HON, COM, EMP, CON\t"
        "customer-trust.yaml"
    ) in lines
    assert (
        "customer-trust\t1.0.0\ten,ru,fa\t38 items\tdimensions: REL, HON, COM, EMP, CON\t"
        "customer-trust-1.0.0.yaml"
    ) in lines
    assert result.stderr == ""


def test_cli_list_dir_with_an_invalid_file(tmp_path):
    (tmp_path / "good.yaml").write_text(MINIMAL.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "zbad.yaml").write_text("id: [\n", encoding="utf-8")
    result = _run("instrument", "list", "--dir", str(tmp_path))
    assert result.exit_code == 1
    assert result.stdout.startswith("minimal\t1.0.0\ten,ru\t8 items\tdimensions: A, B\tgood.yaml")
    assert "zbad.yaml: INVALID (1 problems; run 'trustmeter instrument validate" in result.stderr


def test_cli_list_examples():
    result = _run("instrument", "list", "--dir", str(EXAMPLES_DIR))
    assert result.exit_code == 0
    assert any(
        line.startswith("big-five-demo\t0.1.0\ten\t21 items\tdimensions: EXT, AGR, CSC, NEU, OPN")
        for line in result.stdout.splitlines()
    )


# ----- property: a mutated instrument is valid or gives InstrumentError, nothing else ----

ATOMS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 12),
    st.floats(allow_nan=True),
    st.text(max_size=6),
    st.sampled_from(
        ["A", "A1", "B", "en", "ru", "fa", "1.0", "NPS", "ATT1", "CL", "de", "", "ability", "x y"]
    ),
)
VALUES = st.recursive(
    ATOMS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.one_of(
                st.text(max_size=4),
                st.integers(-1, 11),
                st.sampled_from(["id", "text", "en", "ru", "items", "min", "max", "labels"]),
            ),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=6,
)


def _paths(obj, prefix=()):
    """Every path (tuple of keys) into a nested dict/list, the root included."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for k, v in enumerate(obj):
            yield from _paths(v, (*prefix, k))


def _get(obj, path):
    for k in path:
        obj = obj[k]
    return obj


@st.composite
def mutated_instruments(draw):
    data = minimal_dict()
    for _ in range(draw(st.integers(1, 4))):
        paths = list(_paths(data))
        # Half of the mutations hit the top two levels, where one change matters most.
        shallow = [p for p in paths if len(p) <= 2]
        path = draw(st.sampled_from(shallow) | st.sampled_from(paths))
        op = draw(st.sampled_from(["replace", "delete", "add", "duplicate"]))
        if not path:  # the root
            if op == "replace":
                return draw(VALUES)
            continue
        parent, key = _get(data, path[:-1]), path[-1]
        if op == "replace":
            parent[key] = draw(VALUES)
        elif op == "delete":
            del parent[key]
        elif op == "add":
            target = parent[key]
            if isinstance(target, dict):
                target[draw(st.text(max_size=5) | st.integers(0, 11))] = draw(VALUES)
            elif isinstance(target, list):
                target.insert(draw(st.integers(0, len(target))), draw(VALUES))
            else:
                parent[key] = draw(VALUES)
        elif op == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
    return data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_instruments())
def test_mutations_raise_only_instrument_error(data):
    try:
        inst = instrument_from_dict(data, source="m.yaml")
    except InstrumentError as e:
        assert e.errors and all(isinstance(m, str) and m.startswith("m.yaml: ") for m in e.errors)
        return
    # Whatever is accepted is a usable instrument.
    assert isinstance(inst.id, str) and inst.id
    assert isinstance(inst.version, str) and inst.version.strip()
    assert inst.languages and all(isinstance(lang, str) for lang in inst.languages)
    for item in inst.iter_items():
        assert ID_RE.match(item.id)
        assert set(item.text) == set(inst.languages)
        inst.scale_for(item.id)
    for a in inst.attention_checks:
        assert isinstance(a.expected, int) and inst.scale.min <= a.expected <= inst.scale.max
    on_pages = [i for page in inst.pages for i in inst.page_item_ids(page)]
    assert sorted(on_pages) == sorted(inst.item_ids)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_yaml_text_raises_only_instrument_error(text):
    try:
        instrument_from_yaml(text, source="t.yaml")
    except InstrumentError:
        pass
