"""Formula-looking text made inert in csv and xlsx exports (OWASP, "CSV Injection").

A spreadsheet treats a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula,
and tab or carriage return at the start can smuggle one past a naive check. URL
parameters come from respondents on the public link, so ``=HYPERLINK(...)`` or
``+cmd|' /C calc'!A0`` would otherwise reach a researcher's spreadsheet verbatim.

Following OWASP's guidance such a value is prefixed with a single quote (``'``): the
spreadsheet shows it as text, and the value is still readable. The prefix changes the
data, so R/SPSS users who read the file as data can keep values raw
(``trustmeter export --raw-formulas``, the web export form's checkbox); the codebook
says which was done. Only text columns are touched: numbers stay numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"

NOTE_NEUTRALISED = (
    "Text values that start with =, +, -, @, tab or carriage return are "
    "prefixed with ' so that spreadsheets do not run them as formulas (OWASP "
    "CSV-injection guidance); remove the leading ' to get the value as "
    "entered, or export with --raw-formulas."
)
NOTE_RAW = (
    "Exported with --raw-formulas: text values are verbatim, and a value that starts "
    "with =, +, -, @, tab or carriage return may run as a formula if the file is "
    "opened in a spreadsheet."
)


def neutralise(value):
    """``value`` with a leading ``'`` when it is text that looks like a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return QUOTE + value
    return value


def neutralise_frame(frame: pd.DataFrame, text_columns: Sequence[str]) -> pd.DataFrame:
    """A copy of ``frame`` whose ``text_columns`` went through :func:`neutralise`
    (vectorised; missing values stay missing). ``frame`` itself is not changed."""
    out = None
    for name in text_columns:
        if name not in frame.columns:
            continue
        col = frame[name]
        text = col.astype("string")
        hit = text.str.startswith(FORMULA_PREFIXES).fillna(False).to_numpy(dtype=bool)
        if not hit.any():
            continue
        if out is None:
            out = frame.copy()
        fixed = col.astype(object).copy()
        fixed[hit] = QUOTE + text[hit].astype(object)
        out[name] = (
            pd.Series(pd.array(fixed.to_numpy(dtype=object), dtype=col.dtype), index=col.index)
            if col.dtype != object
            else fixed
        )
    return frame if out is None else out
