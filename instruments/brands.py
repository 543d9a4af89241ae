"""``{brand}`` placeholders: one instrument, several brands, correct grammar.

A brand-aware instrument has a top-level ``brand:`` section saying, per language,
what stands in for ``{brand}``:

* ``neutral``: the wording when the campaign declares no brands ("this company",
  «эта компания», «این شرکت»);
* ``named`` (optional, default ``{name}``): how a brand's display name stands in a
  sentence, with ``{name}`` where the campaign's display name goes.

Either may be one string (the language does not inflect it) or a mapping from
grammatical case to form. A text asks for a case with ``{brand:gen}``; plain
``{brand}`` is the nominative. Cases: ``nom gen dat acc ins prep``.

Why this design (Russian): brand names are mostly indeclinable or inflect
irregularly, and predicates agree in gender with their subject («Эта компания
честна» but «Сбербанк честен»). So the *display name never inflects*: in Russian
it stands in apposition to «компания», and only «компания» takes the case:
``named: {nom: компания {name}, dat: компании {name}, ...}`` gives «Я доверяю
компании Ромашка», «Компания Ромашка честна со мной», always feminine, always
grammatical, with the neutral «этой компании» taking the same case. Persian has
no case and puts the demonstrative before the noun («این شرکت»): ``{name}``
replaces the whole noun phrase («دیجی‌کالا به وعده‌هایش عمل می‌کند») in the same
position, so no reordering is needed. English needs one form each.

A form substituted at the start of a text or of a sentence (after ``.``, ``!``,
``?`` or ``…``) gets its first letter capitalised ("this company" -> "This
company"), unless the form starts with the display name itself, which is shown
exactly as the campaign spells it ("eBay").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

CASES = ("nom", "gen", "dat", "acc", "ins", "prep")
#: ``{brand}`` or ``{brand:case}``
PLACEHOLDER_RE = re.compile(r"\{brand(?::([A-Za-z]+))?\}")
#: anything in braces: used to reject unknown placeholders such as ``{company}``
BRACES_RE = re.compile(r"\{[^{}]*\}|[{}]")
ANY_CASE = ""  # key of a form that serves every case

Forms = Mapping[str, str]  # case (or ANY_CASE) -> form


@dataclass(frozen=True)
class BrandWording:
    """Per-language forms for ``{brand}``: ``neutral[lang]`` and ``named[lang]``."""

    neutral: Mapping[str, Forms]
    named: Mapping[str, Forms] = field(default_factory=dict)

    def form(self, lang: str, case: str | None, brand: str | None) -> tuple[str, bool]:
        """The substitute for ``{brand:case}``, and whether it may be capitalised."""
        case = case or "nom"
        if brand is None:
            return _pick(self.neutral.get(lang, {}), case), True
        frame = _pick(self.named.get(lang, {}), case) or "{name}"
        return frame.replace("{name}", brand), not frame.startswith("{name}")


def _pick(forms: Forms, case: str) -> str:
    if ANY_CASE in forms:
        return forms[ANY_CASE]
    return forms.get(case) or forms.get("nom", "")


class BrandText(dict):
    """A per-language text of a brand-aware instrument.

    As a mapping it holds the **neutral** wording ("This company keeps ..."), so any
    code that shows ``text[lang]`` without knowing about brands (export variable
    labels, codebooks, reports) shows a grammatical text, never ``{brand}``.
    ``templates`` keeps the texts with their placeholders; :func:`templates_of`
    and ``Instrument.render`` use it to fill in a brand.
    """

    def __init__(self, neutral=(), templates: Mapping[str, str] | None = None):
        super().__init__(neutral)
        # without templates (e.g. rebuilt by dataclasses.asdict): the texts themselves
        self.templates = dict(self if templates is None else templates)

    def __reduce__(self):  # pickle and copy keep the templates
        return (type(self), (dict(self), self.templates))


def templates_of(text: Mapping[str, str]) -> Mapping[str, str]:
    """The texts with their ``{brand}`` placeholders (the text itself if it has none)."""
    return getattr(text, "templates", text)


def placeholders(text: str) -> list[str | None]:
    """The cases asked for by the ``{brand}`` placeholders of a text (None = plain)."""
    return [m.group(1) for m in PLACEHOLDER_RE.finditer(text)]


def stray_braces(text: str) -> list[str]:
    """Braced things in a text that are not ``{brand}`` placeholders."""
    return [m.group(0) for m in BRACES_RE.finditer(PLACEHOLDER_RE.sub("", text))]


def render(text: str, lang: str, brand: str | None, wording: BrandWording | None) -> str:
    """Replace the ``{brand}`` placeholders of one text (see the module docstring).

    ``brand`` is the brand's display name in ``lang``, or ``None`` for the neutral
    wording. A text without placeholders is returned unchanged.
    """
    if "{" not in text or wording is None:
        return text

    def sub(m: re.Match) -> str:
        form, may_capitalise = wording.form(lang, m.group(1), brand)
        before = text[: m.start()].rstrip()
        if (not before or before[-1] in ".!?…") and may_capitalise and form:
            form = form[0].upper() + form[1:]
        return form

    return PLACEHOLDER_RE.sub(sub, text)
