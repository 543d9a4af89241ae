"""Load and validate instrument YAML files.

Every problem is reported as ``FILE: FIELD: what is wrong``, and all problems in a
file are reported together, so a researcher can fix an instrument in one pass::

    >>> from instruments.loader import instrument_from_dict, InstrumentError
    >>> try:
    ...     instrument_from_dict({"id": "x"}, source="x.yaml")
    ... except InstrumentError as e:
    ...     print(e.errors[0])
    x.yaml: version: is required
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml

from .brands import (
    ANY_CASE,
    CASES,
    BrandText,
    BrandWording,
    placeholders,
    render,
    stray_braces,
    templates_of,
)
from .conditions import Condition, parse_condition, referenced_items, satisfiable
from .model import Block, Checklist, Instrument, Item, Scale
from .text import DEFAULT_MAX_LENGTH, MAX_MAX_LENGTH

BUILTIN_DIR = Path(__file__).resolve().parent

#: An instrument file larger than this is refused before it is parsed (the shipped
#: ones are about 30 KB).
MAX_YAML_BYTES = 1024 * 1024
#: YAML nodes after alias expansion: ``&a [*b, *b, ...]`` nested a few times turns a
#: 1 KB file into billions of nodes (an "alias bomb") that later walks expand. The
#: shipped instruments have a few thousand.
MAX_YAML_NODES = 100_000
# \Z, not $: "$" also matches before a trailing newline, so "REL1\n" would pass.
ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}\Z")  # valid SPSS/Stata/R variable name
INSTRUMENT_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\Z")
LANG_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?\Z")
# Words that ID_RE allows but that cannot be variable names: SPSS reserved keywords
# (any case), Stata and R reserved words (exact case).
RESERVED_ANY_CASE = frozenset(
    {"ALL", "AND", "BY", "EQ", "GE", "GT", "LE", "LT", "NE", "NOT", "OR", "TO", "WITH"}
)
RESERVED_EXACT = frozenset(
    {
        "byte",
        "double",
        "float",
        "if",
        "in",
        "int",
        "long",
        "strL",
        "using",
        "with",  # Stata
        "break",
        "else",
        "for",
        "function",
        "next",
        "repeat",
        "while",
        "TRUE",
        "FALSE",  # R
        "NULL",
        "Inf",
        "NaN",
        "NA",
        "NA_integer_",
        "NA_real_",
        "NA_complex_",
        "NA_character_",
    }
)
STATA_STR_RE = re.compile(r"^str[0-9]+\Z")
# The vocabulary of the built-in trust instruments (Mayer, Davis & Schoorman 1995, plus
# predictability). A researcher's own instrument may name any construct (e.g. extraversion).
TRUST_CONSTRUCTS = (
    "ability",
    "benevolence",
    "integrity",
    "predictability",
    "propensity",
    "outcome",
)
BLOCK_SECTIONS = (("dimensions", "dimension"), ("outcomes", "outcome"), ("covariates", "covariate"))
TOP_KEYS = {
    "id",
    "version",
    "languages",
    "title",
    "description",
    "intro",
    "scale",
    "dimensions",
    "outcomes",
    "covariates",
    "single_items",
    "attention_checks",
    "checklist",
    "pages",
    "index",
    "brand",
}


class InstrumentError(ValueError):
    """An instrument file is malformed. ``errors`` lists every problem found."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


class _Checker:
    """Collects ``source: path: problem`` messages while walking the YAML tree."""

    def __init__(self, source: str):
        self.source = source
        self.errors: list[str] = []
        self.cond_paths: dict[int, str] = {}  # id(show_if condition) -> its field path
        self.paths: dict[str, str] = {}  # item or block id -> its field path
        self.brand: BrandWording | None = None  # set once brand: is read

    def err(self, path: str, msg: str) -> None:
        self.errors.append(f"{self.source}: {path}: {msg}" if path else f"{self.source}: {msg}")

    def mapping(self, value: Any, path: str) -> dict | None:
        if not isinstance(value, dict):
            self.err(path, f"must be a mapping, got {_kind(value)}")
            return None
        return value

    def seq(self, value: Any, path: str, *, allow_empty: bool = False) -> list | None:
        if not isinstance(value, list):
            self.err(path, f"must be a list, got {_kind(value)}")
            return None
        if not value and not allow_empty:
            self.err(path, "must not be empty")
            return None
        return value

    def string(self, value: Any, path: str) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.err(path, f"must be a non-empty string, got {_kind(value)}")
            return None
        return value

    def integer(self, value: Any, path: str) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.err(path, f"must be an integer, got {_kind(value)}")
            return None
        return value

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            self.err(path, f"must be true or false, got {_kind(value)}")
            return False
        return value

    def ident(self, value: Any, path: str, seen: dict[str, str]) -> str | None:
        s = self.string(value, path)
        if s is None:
            return None
        if not ID_RE.match(s):
            self.err(
                path,
                f"{s!r} is not a valid id (a letter, then letters, digits or _; "
                "at most 32 characters, so it is a valid SPSS/Stata/R variable name)",
            )
            return None
        if s.upper() in RESERVED_ANY_CASE or s in RESERVED_EXACT or STATA_STR_RE.match(s):
            self.err(
                path, f"{s!r} is a reserved word in SPSS, Stata or R and cannot be a variable name"
            )
            return None
        if s in seen:
            self.err(path, f"duplicate id {s!r} (first used at {seen[s]})")
            return None
        seen[s] = path
        return s

    def text(self, value: Any, path: str, languages: tuple[str, ...]) -> dict[str, str]:
        """A per-language text: a mapping with a non-empty string for every language."""
        m = self.mapping(value, path)
        if m is None:
            return {}
        out = {}
        for lang in languages:
            if lang not in m:
                self.err(f"{path}.{lang}", "missing translation")
            elif (s := self.string(m[lang], f"{path}.{lang}")) is not None:
                out[lang] = s.strip()
        for extra in m:
            if extra not in languages:
                self.err(
                    f"{path}.{extra}",
                    f"language {extra!r} is not in the instrument's languages {list(languages)}",
                )
        if self.brand is not None and any("{" in v for v in out.values()):
            return BrandText({k: render(v, k, None, self.brand) for k, v in out.items()}, out)
        return out

    def unknown_keys(self, m: dict, allowed: set[str], path: str) -> None:
        for k in m:
            if k not in allowed:
                where = f"{path}.{k}" if path else str(k)
                self.err(where, f"unknown field (allowed: {', '.join(sorted(allowed))})")


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {
        dict: "a mapping",
        list: "a list",
        str: f"the string {value!r}",
        bool: f"{value}",
        int: f"the number {value}",
        float: f"the number {value}",
    }.get(type(value), type(value).__name__)


def _scale(
    c: _Checker, value: Any, path: str, languages: tuple[str, ...], *, full_labels: bool
) -> Scale | None:
    m = c.mapping(value, path)
    if m is None:
        return None
    c.unknown_keys(m, {"min", "max", "labels", "not_applicable", "not_applicable_label"}, path)
    lo = c.integer(m["min"], f"{path}.min") if "min" in m else c.err(f"{path}.min", "is required")
    hi = c.integer(m["max"], f"{path}.max") if "max" in m else c.err(f"{path}.max", "is required")
    if lo is None or hi is None:
        return None
    if hi <= lo:
        c.err(f"{path}.max", f"must be greater than min ({lo}), got {hi}")
        return None
    if hi - lo > 100:
        c.err(path, f"a scale of {hi - lo + 1} points is not supported (at most 101)")
        return None
    labels: dict[str, dict[int, str]] = {}
    raw_labels = c.mapping(m.get("labels"), f"{path}.labels")
    if raw_labels is not None:
        for lang in languages:
            lp = f"{path}.labels.{lang}"
            if lang not in raw_labels:
                c.err(lp, "missing translation")
                continue
            lab = raw_labels[lang]
            if isinstance(lab, list):
                if len(lab) != hi - lo + 1:
                    c.err(
                        lp,
                        f"has {len(lab)} labels but the scale {lo}..{hi} has {hi - lo + 1} points",
                    )
                    continue
                labels[lang] = {
                    lo + k: s for k, s in enumerate(lab) if c.string(s, f"{lp}[{k}]") is not None
                }
            elif isinstance(lab, dict):
                labels[lang] = {}
                for code, s in lab.items():
                    if isinstance(code, bool) or not isinstance(code, int) or not lo <= code <= hi:
                        c.err(f"{lp}.{code}", f"label key must be a scale code {lo}..{hi}")
                    elif c.string(s, f"{lp}.{code}") is not None:
                        labels[lang][code] = s
                if full_labels and set(labels[lang]) != set(range(lo, hi + 1)):
                    c.err(lp, f"must label every point {lo}..{hi} (a fully labelled scale)")
            else:
                c.err(
                    lp,
                    f"must be a list of {hi - lo + 1} labels or a mapping code: label, "
                    f"got {_kind(lab)}",
                )
        for extra in raw_labels:
            if extra not in languages:
                c.err(
                    f"{path}.labels.{extra}",
                    f"language {extra!r} is not in the instrument's languages {list(languages)}",
                )
    na = c.boolean(m.get("not_applicable", False), f"{path}.not_applicable")
    na_label: dict[str, str] = {}
    if na:
        if "not_applicable_label" in m:
            na_label = c.text(m["not_applicable_label"], f"{path}.not_applicable_label", languages)
        else:
            c.err(f"{path}.not_applicable_label", "is required when not_applicable is true")
    return Scale(min=lo, max=hi, labels=labels, not_applicable=na, not_applicable_label=na_label)


ITEM_KEYS = {"id", "text", "reverse", "construct", "rationale", "show_if"}
TEXT_ITEM_KEYS = {
    "id",
    "text",
    "construct",
    "rationale",
    "show_if",
    "type",
    "max_length",
    "required",
}


def _show_if(c: _Checker, m: dict, where: str) -> Condition | None:
    if "show_if" not in m:
        return None
    cond = parse_condition(m["show_if"], f"{where}.show_if", c.err)
    if cond is not None:
        c.cond_paths[id(cond)] = f"{where}.show_if"
    return cond


def _item(
    c: _Checker,
    value: Any,
    path: str,
    languages,
    seen,
    *,
    extra_keys=frozenset(),
    scale_languages=None,
) -> Item | None:
    m = c.mapping(value, path)
    if m is None:
        return None
    kind = m.get("type", "choice")
    if "type" in extra_keys and kind == "text":
        return _text_item(c, m, path, languages, seen)
    c.unknown_keys(m, ITEM_KEYS | set(extra_keys), path)
    iid = c.ident(m.get("id"), f"{path}.id", seen)
    where = f"{path}[{iid}]" if iid else path
    if "type" in extra_keys and kind != "choice":
        c.err(f"{where}.type", f"must be choice (the default) or text, got {_kind(kind)}")
    text = (
        c.text(m.get("text"), f"{where}.text", languages)
        if "text" in m
        else (c.err(f"{where}.text", "is required") or {})
    )
    reverse = c.boolean(m.get("reverse", False), f"{where}.reverse")
    construct = m.get("construct")
    if construct is not None and c.string(construct, f"{where}.construct") is None:
        construct = None
    rationale = m.get("rationale")
    if rationale is not None:
        c.string(rationale, f"{where}.rationale")
    scale = None
    if "scale" in extra_keys and "scale" in m:
        scale = _scale(c, m["scale"], f"{where}.scale", languages, full_labels=False)
    show_if = _show_if(c, m, where)
    if iid is None:
        return None
    c.paths[iid] = where
    return Item(
        id=iid,
        text=text,
        reverse=reverse,
        construct=construct,
        rationale=rationale if isinstance(rationale, str) else None,
        scale=scale,
        expected=m.get("expected") if isinstance(m.get("expected"), int) else None,
        show_if=show_if,
    )


def _text_item(c: _Checker, m: dict, path: str, languages, seen) -> Item | None:
    """A ``type: text`` single item: an open answer, never scored."""
    c.unknown_keys(m, TEXT_ITEM_KEYS, path)
    iid = c.ident(m.get("id"), f"{path}.id", seen)
    where = f"{path}[{iid}]" if iid else path
    text = (
        c.text(m.get("text"), f"{where}.text", languages)
        if "text" in m
        else (c.err(f"{where}.text", "is required") or {})
    )
    max_length = m.get("max_length", DEFAULT_MAX_LENGTH)
    if (
        max_length := c.integer(max_length, f"{where}.max_length")
    ) is not None and not 1 <= max_length <= MAX_MAX_LENGTH:
        c.err(
            f"{where}.max_length",
            f"must be between 1 and {MAX_MAX_LENGTH} characters, got {max_length}",
        )
    required = c.boolean(m.get("required", False), f"{where}.required")
    construct = m.get("construct")
    if construct is not None and c.string(construct, f"{where}.construct") is None:
        construct = None
    rationale = m.get("rationale")
    if rationale is not None:
        c.string(rationale, f"{where}.rationale")
    show_if = _show_if(c, m, where)
    if iid is None:
        return None
    c.paths[iid] = where
    return Item(
        id=iid,
        text=text,
        construct=construct,
        rationale=rationale if isinstance(rationale, str) else None,
        show_if=show_if,
        type="text",
        max_length=max_length or DEFAULT_MAX_LENGTH,
        required=required,
    )


def _block(c: _Checker, value: Any, path: str, kind: str, languages, seen) -> Block | None:
    m = c.mapping(value, path)
    if m is None:
        return None
    c.unknown_keys(m, {"id", "name", "description", "items", "show_if"}, path)
    bid = c.ident(m.get("id"), f"{path}.id", seen)
    where = f"{path}[{bid}]" if bid else path
    name = (
        c.text(m.get("name"), f"{where}.name", languages)
        if "name" in m
        else (c.err(f"{where}.name", "is required") or {})
    )
    desc = c.text(m["description"], f"{where}.description", languages) if "description" in m else {}
    items = []
    raw_items = c.seq(m.get("items"), f"{where}.items")
    for k, it in enumerate(raw_items or []):
        item = _item(c, it, f"{where}.items[{k}]", languages, seen)
        if item is not None:
            items.append(item)
    if kind == "dimension" and raw_items is not None and len(raw_items) < 2:
        c.err(f"{where}.items", "a dimension needs at least 2 items to be scored and checked")
    show_if = _show_if(c, m, where)
    if bid is None:
        return None
    c.paths[bid] = where
    return Block(
        id=bid, name=name, items=tuple(items), kind=kind, description=desc, show_if=show_if
    )


def instrument_from_dict(data: Any, source: str = "<instrument>") -> Instrument:
    """Validate a parsed YAML document and build an :class:`Instrument`.

    Raises :class:`InstrumentError` listing every problem found.
    """
    c = _Checker(source)
    m = c.mapping(data, "")
    if m is None:
        raise InstrumentError(c.errors)
    c.unknown_keys(m, TOP_KEYS, "")
    for req in ("id", "version", "languages", "scale", "dimensions"):
        if req not in m:
            c.err(req, "is required")
    iid = m.get("id")
    if "id" in m:
        if not isinstance(iid, str):
            c.err("id", f"must be a string such as customer-trust, got {_kind(iid)}")
        elif not INSTRUMENT_ID_RE.match(iid):
            c.err(
                "id",
                f"{iid!r} must be lower-case letters, digits, '-' or '_' (e.g. customer-trust)",
            )
    version = m.get("version")
    if "version" in m:
        if not isinstance(version, str):
            c.err("version", f'must be a quoted string such as "1.0.0", got {_kind(version)}')
        elif not version.strip():
            c.err("version", 'must not be empty (e.g. "1.0.0")')
    if "description" in m and not isinstance(m["description"], str):
        c.err("description", f"must be a string, got {_kind(m['description'])}")
    languages: tuple[str, ...] = ()
    if "languages" in m and (langs := c.seq(m["languages"], "languages")) is not None:
        for k, lang in enumerate(langs):
            if not isinstance(lang, str) or not LANG_RE.match(lang):
                c.err(f"languages[{k}]", f"{lang!r} is not a language code such as en, ru or fa")
        if len(set(map(str, langs))) != len(langs):
            c.err("languages", "lists a language twice")
        languages = tuple(str(x) for x in langs)
    if c.errors and not languages:
        raise InstrumentError(c.errors)

    # read first: texts keep their {brand} templates and show the neutral wording
    brand = _brand(c, m["brand"], languages) if "brand" in m else None
    c.brand = brand
    title = c.text(m["title"], "title", languages) if "title" in m else {}
    intro = c.text(m["intro"], "intro", languages) if "intro" in m else {}
    index_name: dict[str, str] = {}
    if "index" in m and (im := c.mapping(m["index"], "index")) is not None:
        c.unknown_keys(im, {"name"}, "index")
        if "name" in im:
            index_name = c.text(im["name"], "index.name", languages)
        else:
            c.err("index.name", "is required (e.g. index: {name: {en: Trust Index}})")
    scale = _scale(c, m["scale"], "scale", languages, full_labels=True) if "scale" in m else None

    seen: dict[str, str] = {}
    sections: dict[str, list[Block]] = {}
    for key, kind in BLOCK_SECTIONS:
        blocks = []
        if key in m:
            raw = c.seq(m[key], key, allow_empty=(key != "dimensions"))
            for k, b in enumerate(raw or []):
                block = _block(c, b, f"{key}[{k}]", kind, languages, seen)
                if block is not None:
                    blocks.append(block)
        sections[key] = blocks

    singles, texts = [], []
    for k, s in enumerate(
        c.seq(m["single_items"], "single_items", allow_empty=True) or []
        if "single_items" in m
        else []
    ):
        item = _item(c, s, f"single_items[{k}]", languages, seen, extra_keys={"scale", "type"})
        if item is not None:
            (texts if item.is_text else singles).append(item)

    checks = []
    for k, a in enumerate(
        c.seq(m["attention_checks"], "attention_checks", allow_empty=True) or []
        if "attention_checks" in m
        else []
    ):
        item = _item(c, a, f"attention_checks[{k}]", languages, seen, extra_keys={"expected"})
        if item is None:
            continue
        where = f"attention_checks[{k}][{item.id}].expected"
        exp = a.get("expected") if isinstance(a, dict) else None
        if exp is None:
            c.err(where, "is required (the instructed answer)")
        elif (
            (exp := c.integer(exp, where)) is not None
            and scale is not None
            and not scale.min <= exp <= scale.max
        ):
            c.err(where, f"{exp} is outside the scale {scale.min}..{scale.max}")
        checks.append(item)

    checklist = None
    if "checklist" in m and (cm := c.mapping(m["checklist"], "checklist")) is not None:
        c.unknown_keys(cm, {"id", "prompt", "items", "show_if"}, "checklist")
        cid = c.ident(cm.get("id"), "checklist.id", seen)
        prompt = (
            c.text(cm.get("prompt"), "checklist.prompt", languages)
            if "prompt" in cm
            else (c.err("checklist.prompt", "is required") or {})
        )
        citems = []
        for k, it in enumerate(c.seq(cm.get("items"), "checklist.items") or []):
            item = _item(c, it, f"checklist.items[{k}]", languages, seen)
            if item is not None:
                citems.append(item)
        cshow = _show_if(c, cm, "checklist")
        if cid is not None:
            checklist = Checklist(id=cid, prompt=prompt, items=tuple(citems), show_if=cshow)

    if c.errors:
        raise InstrumentError(c.errors)

    inst = Instrument(
        id=iid,
        version=version,
        languages=languages,
        title=title or {lang: iid for lang in languages},
        scale=scale,
        dimensions=tuple(sections["dimensions"]),
        outcomes=tuple(sections["outcomes"]),
        covariates=tuple(sections["covariates"]),
        single_items=tuple(singles),
        attention_checks=tuple(checks),
        checklist=checklist,
        intro=intro,
        description=m.get("description") if isinstance(m.get("description"), str) else None,
        index_name=index_name,
        source=source,
        raw=m,
        text_items=tuple(texts),
        brand=brand,
    )
    _check_placeholders(c, m, inst)
    pages, page_show_if = _pages(c, m.get("pages"), inst)
    if c.errors:
        raise InstrumentError(c.errors)
    # a new object: lookups cached on the page-less one are not carried over
    inst = dataclasses.replace(inst, pages=pages, page_show_if=page_show_if)
    _check_conditions(c, inst)
    if c.errors:
        raise InstrumentError(c.errors)
    return inst


def _pages(
    c: _Checker, value: Any, inst: Instrument
) -> tuple[tuple[tuple[str, ...], ...], tuple[Condition | None, ...]]:
    """Validate ``pages`` (lists of block/item ids), or derive the default layout.

    A page is a list of ids, or ``{items: [ids], show_if: condition}``.
    The default is one page per dimension, outcome or covariate block, then one page
    for the single items, one for the checklist and one for the open-text items.
    Attention checks are placed on the middle dimension page, where they blend in
    with items of the same scale. Returns the pages and their conditions.
    """
    refs = (
        [b.id for b in inst.blocks]
        + [i.id for i in inst.single_items]
        + [a.id for a in inst.attention_checks]
        + ([inst.checklist.id] if inst.checklist else [])
        + [t.id for t in inst.text_items]
    )
    if value is None:
        pages = [[b.id] for b in inst.blocks]
        if inst.attention_checks:
            pages[len(inst.dimensions) // 2].extend(a.id for a in inst.attention_checks)
        if inst.single_items:
            pages.append([i.id for i in inst.single_items])
        if inst.checklist:
            pages.append([inst.checklist.id])
        if inst.text_items:
            pages.append([t.id for t in inst.text_items])
        return tuple(tuple(p) for p in pages), tuple(None for _ in pages)
    pages_raw = c.seq(value, "pages")
    if pages_raw is None:
        return (), ()
    used: dict[str, str] = {}
    out = []
    conds: list[Condition | None] = []
    for k, page in enumerate(pages_raw):
        cond = None
        if isinstance(page, dict):
            c.unknown_keys(page, {"items", "show_if"}, f"pages[{k}]")
            cond = _show_if(c, page, f"pages[{k}]")
            if "items" not in page:
                c.err(f"pages[{k}].items", "is required (the ids shown on this page)")
                continue
            p = c.seq(page["items"], f"pages[{k}].items")
            prefix = f"pages[{k}].items"
        else:
            p = c.seq(page, f"pages[{k}]")
            prefix = f"pages[{k}]"
        if p is None:
            continue
        for j, ref in enumerate(p):
            where = f"{prefix}[{j}]"
            if not isinstance(ref, str):
                c.err(where, f"must be an id, got {_kind(ref)}")
            elif ref not in refs:
                c.err(
                    where,
                    f"{ref!r} is not a dimension, outcome, covariate, single item, "
                    "attention check or checklist id of this instrument",
                )
            elif ref in used:
                c.err(where, f"{ref!r} is already on {used[ref]}")
            else:
                used[ref] = f"pages[{k}]"
        out.append(tuple(str(r) for r in p))
        conds.append(cond)
    for ref in refs:
        if ref not in used:
            c.err("pages", f"{ref!r} is on no page")
    return tuple(out), tuple(conds)


def _brand(c: _Checker, value: Any, languages: tuple[str, ...]) -> BrandWording | None:
    """``brand: {neutral: {lang: form(s)}, named: {lang: form(s)}}`` (see instruments.brands)."""
    m = c.mapping(value, "brand")
    if m is None:
        return None
    c.unknown_keys(m, {"neutral", "named"}, "brand")
    out: dict[str, dict[str, dict[str, str]]] = {"neutral": {}, "named": {}}
    if "neutral" not in m:
        c.err(
            "brand.neutral",
            "is required: the wording without a brand, e.g. "
            "{en: this company, ru: {nom: эта компания, ...}}",
        )
    for part in ("neutral", "named"):
        if part not in m or (pm := c.mapping(m[part], f"brand.{part}")) is None:
            continue
        for lang in pm:
            if lang not in languages:
                c.err(
                    f"brand.{part}.{lang}",
                    f"language {lang!r} is not in the instrument's languages {list(languages)}",
                )
        for lang in languages:
            path = f"brand.{part}.{lang}"
            if lang not in pm:
                if part == "neutral":
                    c.err(path, "missing translation")
                continue
            raw = pm[lang]
            forms: dict[str, str] = {}
            if isinstance(raw, str) and raw.strip():
                forms[ANY_CASE] = raw.strip()
            elif isinstance(raw, dict):
                for case, form in raw.items():
                    if case not in CASES:
                        c.err(f"{path}.{case}", f"unknown case (use {', '.join(CASES)})")
                    elif c.string(form, f"{path}.{case}") is not None:
                        forms[case] = form.strip()
                if "nom" not in raw:
                    c.err(f"{path}.nom", "is required (the form of plain {brand})")
            else:
                c.err(path, f"must be a string or a mapping case: form, got {_kind(raw)}")
                continue
            for case, form in forms.items():
                where = f"{path}.{case}" if case else path
                if part == "named" and form.count("{name}") != 1:
                    c.err(
                        where,
                        "must contain {name} (where the brand's display name goes) exactly once",
                    )
                if part == "neutral" and "{" in form:
                    c.err(where, "must not contain placeholders: it is the wording without a brand")
            out[part][lang] = forms
    return BrandWording(neutral=out["neutral"], named=out["named"])


def _texts(c: _Checker, inst: Instrument):
    """``(field path, per-language text)`` of every respondent-facing text."""
    yield "title", inst.title
    yield "intro", inst.intro
    for b in inst.blocks:
        yield f"{c.paths[b.id]}.name", b.name
        yield f"{c.paths[b.id]}.description", b.description
    if inst.checklist is not None:
        yield "checklist.prompt", inst.checklist.prompt
    for item in (*inst.iter_items(), *inst.text_items):
        yield f"{c.paths[item.id]}.text", item.text


def _check_placeholders(c: _Checker, m: dict, inst: Instrument) -> None:
    """``{brand}`` only in brand-aware instruments, with cases each language declares."""
    for path, text in _texts(c, inst):
        for lang, s in templates_of(text).items():
            where = f"{path}.{lang}"
            for stray in stray_braces(s):
                c.err(
                    where,
                    f"{stray!r} is not a placeholder (the only one is {{brand}}, "
                    "or {brand:case})",
                )
            cases = placeholders(s)
            if cases and inst.brand is None:
                c.err(
                    where,
                    "uses {brand} but the instrument has no brand: section "
                    "(brand: {neutral: {en: this company, ...}})",
                )
                continue
            for case in cases:
                if case is not None and case not in CASES:
                    c.err(where, f"{{brand:{case}}}: unknown case (use {', '.join(CASES)})")
                    continue
                for part in ("neutral", "named"):
                    forms = getattr(inst.brand, part).get(lang)
                    if forms and ANY_CASE not in forms and (case or "nom") not in forms:
                        c.err(
                            where, f"{{brand:{case}}} but brand.{part}.{lang} has no {case!r} form"
                        )


def _condition_owners(c: _Checker, inst: Instrument):
    """``(field path, condition, the item ids it governs)`` of every show_if."""
    for k, cond in enumerate(inst.page_show_if):
        if cond is not None:
            yield c.cond_paths[id(cond)], cond, inst.page_item_ids(inst.pages[k])
    for b in inst.blocks:
        if b.show_if is not None:
            yield c.cond_paths[id(b.show_if)], b.show_if, b.item_ids
    if inst.checklist is not None and inst.checklist.show_if is not None:
        yield (
            c.cond_paths[id(inst.checklist.show_if)],
            inst.checklist.show_if,
            inst.checklist.item_ids,
        )
    for item in (*inst.iter_items(), *inst.text_items):
        if item.show_if is not None:
            yield c.cond_paths[id(item.show_if)], item.show_if, (item.id,)


def _check_conditions(c: _Checker, inst: Instrument) -> None:
    """References to known, earlier, numeric items; no cycles; satisfiable conditions."""
    numeric = set(inst.item_ids)
    owners = list(_condition_owners(c, inst))
    # the dependency graph: an item -> the items its conditions read
    deps: dict[str, set[str]] = {}
    for _path, cond, governed in owners:
        for iid in governed:
            deps.setdefault(iid, set()).update(r for r in referenced_items(cond) if r in numeric)
    in_cycle = _cycles(c, deps, owners)
    page = {iid: k for k, p in enumerate(inst.pages) for iid in inst.page_item_ids(p)}
    for path, cond, governed in owners:
        ok = True
        for ref in referenced_items(cond):
            if ref in inst.text_item_ids:
                c.err(
                    path,
                    f"refers to {ref!r}, an open-text item: show_if can only test coded answers",
                )
                ok = False
            elif ref not in numeric:
                block = next((b for b in inst.blocks if b.id == ref), None)
                hint = (
                    f" (a block id; name one of its items: {', '.join(block.item_ids)})"
                    if block
                    else ""
                )
                c.err(path, f"refers to unknown item {ref!r}{hint}")
                ok = False
            elif any((g, ref) in in_cycle for g in governed):
                ok = False  # reported as a cycle
            else:
                first = min(page[g] for g in governed)
                if page[ref] > first:
                    c.err(
                        path,
                        f"refers to {ref!r}, a later item (page {page[ref] + 1}; this "
                        f"question is on page {first + 1}): show_if may only use "
                        "answers given on earlier pages",
                    )
                    ok = False
                elif page[ref] == first:
                    c.err(
                        path,
                        f"refers to {ref!r} on the same page ({first + 1}): show_if "
                        "may only use answers given on earlier pages (the page is built "
                        "before it is answered)",
                    )
                    ok = False
        if not ok:
            continue
        ok = _check_leaves(c, path, cond, inst)
        if ok and satisfiable(cond, {r: _codes(inst, r) for r in referenced_items(cond)}) is False:
            c.err(
                path,
                f"can never be true: no combination of answers satisfies it ({_describe(cond)})",
            )


def _cycles(c: _Checker, deps: dict[str, set[str]], owners) -> set[tuple[str, str]]:
    """Report every dependency cycle once; return its edges."""
    edges: set[tuple[str, str]] = set()
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(deps.get(node, ())):
            if state.get(nxt) == 1:
                cyc = stack[stack.index(nxt) :] + [nxt]
                edges.update(zip(cyc, cyc[1:], strict=False))
                path = next(
                    (
                        p
                        for p, cond, gov in owners
                        if cyc[0] in gov and cyc[1] in referenced_items(cond)
                    ),
                    cyc[0],
                )
                c.err(
                    path,
                    "show_if forms a cycle: "
                    + " -> ".join(cyc)
                    + " (each question is shown depending on the answer to the next)",
                )
            elif state.get(nxt) is None:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(deps):
        if state.get(node) is None:
            visit(node)
    return edges


def _codes(inst: Instrument, item_id: str) -> tuple[int, ...]:
    scale = inst.scale_for(item_id)
    return (0, 1) if scale is None else scale.codes


def _check_leaves(c: _Checker, path: str, cond: Condition, inst: Instrument) -> bool:
    """Each leaf on its own can be true: its codes exist on the item's scale."""
    ok = True
    for leaf in cond.leaves():
        codes = _codes(inst, leaf.item)
        lo, hi = codes[0], codes[-1]
        what = (
            "coded 0 = no, 1 = yes"
            if inst.scale_for(leaf.item) is None
            else f"answered on {lo}..{hi}"
        )
        if leaf.op == "equals" and leaf.value not in codes:
            c.err(
                path, f"{leaf.item} equals {leaf.value}: can never be true, {leaf.item} is {what}"
            )
            ok = False
        elif leaf.op == "in":
            bad = [v for v in leaf.value if v not in codes]  # type: ignore[union-attr]
            if bad:
                c.err(
                    path,
                    f"{leaf.item} in {list(leaf.value)}: "  # type: ignore[arg-type]
                    f"{', '.join(map(str, bad))} can never be an answer, {leaf.item} is "
                    f"{what}",
                )
                ok = False
        elif leaf.op == "at_least" and leaf.value > hi:
            c.err(
                path, f"{leaf.item} at_least {leaf.value}: can never be true, {leaf.item} is {what}"
            )
            ok = False
        elif leaf.op == "at_most" and leaf.value < lo:
            c.err(
                path, f"{leaf.item} at_most {leaf.value}: can never be true, {leaf.item} is {what}"
            )
            ok = False
    return ok


def _describe(cond: Condition) -> str:
    """A short rendering of a condition for error messages."""
    from .conditions import AllOf, AnyOf, Leaf, Not

    if isinstance(cond, Leaf):
        v = list(cond.value) if cond.op == "in" else cond.value  # type: ignore[arg-type]
        return f"{cond.item} {cond.op} {v}"
    if isinstance(cond, Not):
        return f"not ({_describe(cond.part)})"
    word = " and " if isinstance(cond, AllOf) else " or "
    assert isinstance(cond, (AllOf, AnyOf))
    return "(" + word.join(_describe(p) for p in cond.parts) + ")"


def load_instrument(path: str | Path) -> Instrument:
    """Read and validate one instrument YAML file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise InstrumentError(
                [f"{path}: file: {size:,} bytes, more than the limit of {MAX_YAML_BYTES:,}"]
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InstrumentError([f"{path}: file not found"]) from None
    except (OSError, UnicodeDecodeError, ValueError) as e:  # ValueError: a NUL in the path
        raise InstrumentError([f"{path}: cannot read: {e}"]) from None
    return instrument_from_yaml(text, source=str(path))


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that rejects duplicate mapping keys.

    Plain PyYAML keeps the last of two equal keys without a word, so a second
    ``text:`` or a duplicated ``ru:`` translation would silently replace the first.
    Keys merged in with ``<<: *anchor`` may still be overridden, as YAML intends.
    """

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    line = first.get(key)
                except TypeError:  # unhashable key: let SafeLoader report it
                    continue
                if line is not None:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"duplicate key {key!r} (first given on line {line})",
                        key_node.start_mark,
                    )
                first[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)

    def get_single_node(self):
        node = super().get_single_node()
        if node is not None:
            _check_expanded_size(node)
        return node


def _check_expanded_size(root) -> None:
    """Refuse a document whose nodes, aliases expanded, exceed :data:`MAX_YAML_NODES`.
    An alias is the same node object as its anchor, so sizes are memoised per node:
    this costs one visit per distinct node, however large the expansion."""
    sizes: dict[int, int] = {}
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = 1
            continue
        children = (
            [c for pair in node.value for c in pair]
            if isinstance(node, yaml.MappingNode)
            else list(node.value)
        )
        if done:
            total = 1 + sum(sizes.get(id(c), 0) for c in children)
            sizes[id(node)] = total
            if total > MAX_YAML_NODES:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"aliases expand to more than {MAX_YAML_NODES:,} nodes (an alias bomb?)",
                    node.start_mark,
                )
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)


def instrument_from_yaml(text: str, source: str = "<instrument>") -> Instrument:
    if len(text) > MAX_YAML_BYTES or len(text.encode("utf-8")) > MAX_YAML_BYTES:
        raise InstrumentError([f"{source}: file: more than {MAX_YAML_BYTES:,} bytes"])
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no arbitrary objects
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise InstrumentError([f"{source}: {where}invalid YAML: {problem}"]) from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise InstrumentError([f"{source}: invalid YAML: nested too deeply"]) from None
    return instrument_from_dict(data, source=source)


def builtin_paths() -> list[Path]:
    return sorted(BUILTIN_DIR.glob("*.yaml"))


def list_instruments(directory: str | Path | None = None) -> list[Instrument]:
    """Load every ``*.yaml`` instrument in a directory (default: the built-in ones)."""
    d = Path(directory) if directory else BUILTIN_DIR
    return [load_instrument(p) for p in sorted(d.glob("*.yaml"))]


def version_key(version: str) -> tuple:
    """Sort key of a version string: "1.10.0" after "1.9.2"; non-numeric parts last."""
    return tuple(
        (0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.\-+]", version)
    )


def get_instrument(ref: str) -> Instrument:
    """An instrument by built-in id (``customer-trust``: its newest version), by
    ``id@version`` (``customer-trust@1.0.0``) or by path to a YAML file."""
    p = Path(ref)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return load_instrument(p)
    ident, _, version = ref.partition("@")
    found = [
        inst
        for inst in (load_instrument(path) for path in builtin_paths())
        if inst.id == ident and (not version or inst.version == version)
    ]
    if found:
        return max(found, key=lambda inst: version_key(inst.version))
    known = ", ".join(sorted({f"{i.id}@{i.version}" for i in list_instruments()}))
    raise InstrumentError(
        [f"{ref}: no built-in instrument with this id (known: {known}) and no such file"]
    )
