"""Check answers against an instrument and prepare them for analysis.

Values must be numbers within the scale of their item. Non-integer values (for
example scores from a test, or averaged answers) are accepted with a note. A value
that is not a number, or lies outside the scale, is an error naming the column and
an example row, so the researcher can find it in the file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from instruments.model import Instrument

from ._result import AnalysisError


@dataclass(frozen=True)
class CheckedData:
    """Numeric answers (one float column per item id) plus notes on what was accepted."""

    frame: pd.DataFrame
    notes: tuple[str, ...]


def _row_label(df: pd.DataFrame, pos: int) -> str:
    idx = df.index[pos]
    rid = df["response_id"].iloc[pos] if "response_id" in df.columns else None
    label = f"row {pos + 2} of the file" if isinstance(idx, int | np.integer) else f"row {idx!r}"
    if rid is not None:
        label += f" (response_id {rid})"
    return label


def _show(v) -> str:
    if isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool):
        return f"{float(v):g}"
    return repr(v)


def check_items(
    df: pd.DataFrame,
    inst: Instrument,
    items: Sequence[str] | None = None,
    *,
    require: Iterable[str] | None = None,
) -> CheckedData:
    """Validate and convert the item columns of ``df``.

    Parameters
    ----------
    df : DataFrame
        Answers, one column per item id (other columns are ignored).
    inst : Instrument
    items : item ids to check (default: every item of the instrument present in ``df``).
    require : item ids that must be present (default: the dimension items).

    Returns
    -------
    CheckedData
        ``frame`` holds float columns for the checked items (NaN = no answer).

    Raises
    ------
    AnalysisError
        Missing dimension items, non-numeric values or values outside the scale.
    """
    frame, notes = _check(df, inst, items, require)
    return CheckedData(frame, notes)


_ALL = object()


def checked_matrix(
    df: pd.DataFrame,
    inst: Instrument,
    items: Sequence[str],
    *,
    require: Iterable[str] | None | object = _ALL,
    notes: bool = False,
):
    """:func:`check_items` of ``items`` as a new float matrix ``(n, k)`` that the caller
    owns and may change in place (no DataFrame, no copy). ``require`` as in
    :func:`check_items` (default: all of ``items``). With ``notes=True`` returns
    ``(matrix, notes)``."""
    out = _check(df, inst, list(items), items if require is _ALL else require, matrix=True)
    return out if notes else out[0]


def _check(
    df: pd.DataFrame,
    inst: Instrument,
    items: Sequence[str] | None,
    require: Iterable[str] | None,
    matrix: bool = False,
) -> tuple:
    require = list(inst.dimension_item_ids if require is None else require)
    missing = [c for c in require if c not in df.columns]
    if missing and len(missing) == len(require) and set(require) == set(inst.dimension_item_ids):
        raise AnalysisError(
            f"none of the items of instrument {inst.key} ({', '.join(require[:4])}"
            f"{', ...' if len(require) > 4 else ''}) is a column of the data: "
            "is this the right instrument? Item columns must be named by item id"
        )
    if missing:
        dims = sorted({inst.block_of(c).id for c in missing if inst.block_of(c) is not None})
        where = f" (dimension{'s' if len(dims) > 1 else ''} {', '.join(dims)})" if dims else ""
        raise AnalysisError(
            f"the data have no column for item(s) {', '.join(missing)}{where} of "
            f"instrument {inst.key}; item columns must be named by item id"
        )
    if items is None:
        items = [i for i in inst.item_ids if i in df.columns]
    texts = [i for i in items if i in inst.text_item_ids]
    if texts:  # open answers are never numbers (an empty column would pass as 0/1 codes)
        raise AnalysisError(
            f"{', '.join(texts)}: open-text item(s) of instrument {inst.key} "
            "cannot be analysed as numbers"
        )
    # one float matrix, filled column by column, becomes the frame without a copy
    values = np.empty((len(items), len(df)), dtype=float)
    notes: list[str] = []
    for pos_col, col in enumerate(items):
        raw = df[col]
        if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
            vals = values[pos_col]  # fast path: nothing to parse
            vals[:] = raw.to_numpy(dtype=float, na_value=np.nan)
        else:
            num = pd.to_numeric(raw, errors="coerce").astype(float)
            bad = num.isna() & raw.notna()
            if bad.any():  # blank strings count as no answer
                bad &= raw.astype(str).str.strip() != ""
            if bad.any():
                pos = int(np.flatnonzero(bad.to_numpy())[0])
                raise AnalysisError(
                    f"column {col}: {int(bad.sum())} value(s) are not numbers, "
                    f"e.g. {_show(raw.iloc[pos])} in {_row_label(df, pos)}"
                )
            vals = values[pos_col]
            vals[:] = num.to_numpy()
        scale = inst.scale_for(col)
        lo, hi = (0, 1) if scale is None else (scale.min, scale.max)
        with np.errstate(invalid="ignore"):
            out_of = (vals < lo) | (vals > hi)  # False for NaN
        if out_of.any():
            pos = int(np.flatnonzero(out_of)[0])
            raise AnalysisError(
                f"column {col}: {int(out_of.sum())} value(s) outside the scale "
                f"{lo}..{hi}, e.g. {_show(raw.iloc[pos])} in "
                f"{_row_label(df, pos)}"
            )
        frac = vals != np.round(vals)
        if frac.any():  # NaN != NaN: count the non-integer numbers only
            frac &= ~np.isnan(vals)
        if frac.any():
            notes.append(f"column {col}: non-integer values accepted ({int(frac.sum())} values)")
    if matrix:
        return values.T, tuple(notes)
    # columns of a transposed C array: each item's values are contiguous in memory
    return pd.DataFrame(values.T, index=df.index, columns=list(items), copy=False), tuple(notes)


def reverse_key(frame: pd.DataFrame, inst: Instrument) -> pd.DataFrame:
    """Reverse-key the instrument's reverse items present in ``frame`` as ``min + max - x``."""
    out = frame.copy(deep=False)  # copy-on-write: only the reversed columns are new
    for iid in inst.reversed_item_ids:
        if iid in out.columns:
            out[iid] = inst.scale_for(iid).reverse(out[iid])
    return out


def dimension_model(inst: Instrument) -> dict[str, list[str]]:
    """The intended structure ``{dimension id: [item ids]}`` (the CFA model)."""
    return {b.id: list(b.item_ids) for b in inst.dimensions}


def default_min_items(k: int) -> int:
    """Minimum answered items for a dimension score: ``ceil(0.75 k)`` (3 of 4, 2 of 2)."""
    return max(1, math.ceil(0.75 * k))
