"""Variable and value labels of the exported columns that are not items, in the
respondent's languages.

They come from the survey's gettext catalogues (``survey/translations``), the same
source as every respondent-facing text, so the catalogue completeness tests cover them;
"not applicable" is the label respondents saw (the instrument's, else the form's).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

from babel.support import NullTranslations, Translations

from instruments.model import Instrument

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"


def N_(msgid: str) -> str:  # noqa: N802 (gettext's marker for pybabel extract)
    """Mark a message for extraction; it is translated when a label is built."""
    return msgid


META = {
    "row": N_("Row number in this export"),
    "respondent": N_("Respondent (anonymous key grouping one person's brand ratings)"),
    "brand_position": N_("Place of the brand in the respondent's random order"),
    "campaign": N_("Campaign"),
    "period": N_("Period"),
    "language": N_("Language of the questionnaire"),
    "direction": N_("Text direction (ltr/rtl)"),
    "duration_s": N_("Duration (seconds)"),
    "longstring": N_("Longest run of identical answers"),
    "irv": N_("Intra-individual response variability (SD)"),
    "attention_passed": N_("Attention check passed"),
    "quality_flags": N_("Quality flags raised (comma-separated)"),
    "flagged": N_("Any quality flag raised"),
    "na_items": N_("Items answered 'not applicable'"),
    "not_shown_items": N_("Items not shown (their condition was false)"),
    "excluded_careless": N_("Excluded as careless (2 or more indicators)"),
    "trust_index": N_("Trust Index (0-100)"),
}
SCORE = N_("%(name)s: dimension score (mean of items)")
PARAM = N_("URL parameter %(name)s")
YES, NO = N_("Yes"), N_("No")
NOT_APPLICABLE = N_("Not applicable")
NOT_SHOWN = N_("Not shown")


@cache
def catalogue(lang: str) -> NullTranslations:
    """The compiled catalogue of ``lang`` (English, the msgids, when there is none)."""
    return Translations.load(str(TRANSLATIONS), [lang], domain="messages")


def translate(msgid: str, lang: str, **values: str) -> str:
    text = catalogue(lang).gettext(msgid)
    return text % values if values else text


def in_languages(msgid: str, langs: Sequence[str], **values: str) -> dict[str, str]:
    """``{lang: translation}`` of one message."""
    return {lang: translate(msgid, lang, **values) for lang in langs}


def yes_no(langs: Sequence[str]) -> dict[int, dict[str, str]]:
    """Value labels of 0/1 variables: 0 = No, 1 = Yes."""
    return {0: in_languages(NO, langs), 1: in_languages(YES, langs)}


def not_applicable(inst: Instrument, lang: str) -> str:
    """The "not applicable" answer as respondents saw it in ``lang``."""
    for scale in (inst.scale, *(i.scale for i in inst.iter_items() if i.scale)):
        text = scale.not_applicable_label if scale is not None and scale.not_applicable else None
        if text:
            return (
                text.get(lang) or next(iter(text.values()), "") or translate(NOT_APPLICABLE, lang)
            )
    return translate(NOT_APPLICABLE, lang)
