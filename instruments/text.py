"""Open-text answers: cleaning and length rules, shared by the app and its tests.

:func:`clean_text` is what the survey stores for a ``type: text`` item: the answer
in Unicode NFC, with line breaks normalised to ``\\n``, control characters and
bidirectional *override, embedding and isolate* controls removed (they can reorder
what a researcher reads, e.g. make "=1+1" display as something else, and survive
copy-paste into spreadsheets), and surrounding white space trimmed.

Kept on purpose: tab and newline; the zero-width non-joiner U+200C and joiner
U+200D (Persian spelling needs ZWNJ: «می‌کنم»); the left-to-right and
right-to-left marks U+200E/U+200F (they only affect neutral characters next to
them and are how Persian text keeps punctuation in place).

Spreadsheet formulas (``=``, ``+``, ``-``, ``@`` at the start) are *not* changed
here: they are data; the csv and xlsx exports neutralise them on the way out.
"""

from __future__ import annotations

import unicodedata

#: LRE, RLE, PDF, LRO, RLO and LRI, RLI, FSI, PDI
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
KEPT_CONTROLS = frozenset("\n\t")
DEFAULT_MAX_LENGTH = 1000
MAX_MAX_LENGTH = 10_000


class TextAnswerError(ValueError):
    """An open-text answer breaks the item's rules (e.g. too long)."""


def clean_text(value: str) -> str:
    """The storable form of an open-text answer (see the module docstring)."""
    if not isinstance(value, str):
        raise TextAnswerError(f"an open-text answer must be a string, got {type(value).__name__}")
    s = value.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n")
    s = s.replace("\u2029", "\n").replace("\x85", "\n")
    s = unicodedata.normalize("NFC", s)
    out = []
    for ch in s:
        if ch in KEPT_CONTROLS:
            out.append(ch)
        elif ch in BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Cs"):
            continue
        else:
            out.append(ch)
    return "".join(out).strip()


def check_text(
    value: str, max_length: int, *, required: bool = False, item_id: str = "answer"
) -> str | None:
    """Clean an answer and apply the item's rules.

    Returns the cleaned text, or ``None`` when nothing is left (not answered).
    Raises :class:`TextAnswerError` when the cleaned text is longer than
    ``max_length`` characters (code points, counted after cleaning), or when a
    required answer is empty.
    """
    s = clean_text(value)
    if not s:
        if required:
            raise TextAnswerError(f"{item_id}: an answer is required")
        return None
    if len(s) > max_length:
        raise TextAnswerError(
            f"{item_id}: the answer has {len(s)} characters; at most {max_length} are allowed"
        )
    return s
