"""The one format in which bulk reads carry answers out of SQLite.

Loading a million responses creates no Python object per value: SQLite packs each
row's answers into one string with ``char()``, and numpy decodes all rows at once.
Every bulk reader (the analysis frame and matrix loaders, the exports, the API's
pulls) uses this module, so there is one encoding:

- an answer code ``v`` of a column whose lowest code is ``lo`` is the character
  ``v - lo + 2`` (so codes need no sign and 0 and 1 stay free);
- ``NULL`` (not answered, or "not applicable": both are NULL in the answer tables,
  "not applicable" is told apart by ``responses.na_items``) is the character 1;
- a row id, where one travels with the answers, is ``ID_CHARS`` characters of 6 bits
  each, most significant first, each ``digit + 2``.

Columns whose codes span at most 126 values stay ASCII (one byte per answer, the fast
path); wider ones, up to :data:`MAX_SPAN`, still round-trip, through UTF-32.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NULL_CHAR = 1
OFFSET = 2
ID_CHARS = 6  # row ids below 2**36
MAX_ID = (1 << (6 * ID_CHARS)) - 1
#: the largest code - lo that packs: char() of U+D800..U+DFFF (UTF-16 surrogates) gives
#: text SQLite cannot return. Instruments allow at most 101 points per scale.
MAX_SPAN = 0xD7FF - OFFSET


def quote(name: str) -> str:
    """An SQL identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'


def answer_chars(columns: Sequence[str], lows: Sequence[int], table: str = "a") -> list[str]:
    """SQL expressions, one per column: its code as one character (NULL as ``char(1)``'s
    argument). ``table=""``: unqualified column names (a generated column's expression)."""
    prefix = f"{table}." if table else ""
    return [
        f"coalesce({prefix}{quote(c)} + {OFFSET - int(lo)}, {NULL_CHAR})"
        for c, lo in zip(columns, lows, strict=True)
    ]


def id_chars(expr: str) -> list[str]:
    """SQL expressions packing the integer ``expr`` into ``ID_CHARS`` characters."""
    return [f"(({expr} >> {s}) & 63) + {OFFSET}" for s in range(6 * (ID_CHARS - 1), -1, -6)]


def pack_sql(
    columns: Sequence[str], lows: Sequence[int], *, table: str = "a", row_id: str | None = None
) -> str:
    """``char(...)``: one string per row, the packed ``row_id`` (if given) then the answers."""
    parts = (id_chars(row_id) if row_id else []) + answer_chars(columns, lows, table)
    if not parts:
        return "''"
    return "char(" + ", ".join(parts) + ")"


#: The answer tables' stored generated column that holds each row packed, its
#: ``response_id`` first, then every item in instrument order: SQLite computes it
#: when a row is written, so the bulk loaders copy one short string per row instead
#: of evaluating ``char()`` over every column (the matrix loader's SQL: 0.98 s for 1M
#: rows x 30 items before, about 0.25 s after; see ``store.packed_answers_sql``). Item
#: ids start with a letter, so no item column can take this name.
STORED_COLUMN = "_packed"


def stored_column_ddl(columns: Sequence[str], lows: Sequence[int]) -> str:
    """The column definition of :data:`STORED_COLUMN` for an answer table whose row id
    column is ``response_id`` and whose answer columns are ``columns``."""
    expr = pack_sql(columns, lows, table="", row_id="response_id")
    return f"{quote(STORED_COLUMN)} TEXT GENERATED ALWAYS AS ({expr}) STORED"


def _code_points(text: str) -> np.ndarray:
    try:
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.int64)
    except UnicodeEncodeError:
        return np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.int64)


def unpack_utf8(
    data: np.ndarray, lows: Sequence[int], *, rows: int, with_ids: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """:func:`unpack` of the UTF-8 bytes (uint8 array) of ``rows`` packed rows end to end,
    as an Arrow string column holds them: no Python string when all are ASCII."""
    if len(data) and int(data.max()) >= 0x80:
        codes, missing, ids = unpack(data.tobytes().decode("utf-8"), lows, with_ids=with_ids)
    else:
        codes, missing, ids = _unpack_points(data.astype(np.int64), lows, with_ids)
    if codes.shape[1] and len(codes) != rows:
        raise ValueError(f"packed data of {len(codes)} rows, expected {rows}")
    return codes, missing, ids


def unpack(
    text: str, lows: Sequence[int], *, with_ids: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Decode the concatenated packed rows in ``text``.

    Returns ``(codes, missing, ids)``: ``codes`` an int64 matrix (one row per packed
    row, one column per answer column; undefined where missing), ``missing`` a bool
    matrix (NULL), and ``ids`` (int64) when ``with_ids``.
    """
    return _unpack_points(_code_points(text), lows, with_ids)


def _unpack_points(
    points: np.ndarray, lows: Sequence[int], with_ids: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    lows_a = np.asarray(lows, dtype=np.int64)
    width = len(lows_a) + (ID_CHARS if with_ids else 0)
    if width == 0:
        if len(points):
            raise ValueError("packed text for zero columns is not empty")
        return (
            np.empty((0, 0), np.int64),
            np.empty((0, 0), bool),
            (np.empty(0, np.int64) if with_ids else None),
        )
    raw, ids = _rows_and_ids(points, width, with_ids)
    if with_ids:
        raw = raw[:, ID_CHARS:]
    missing = raw == NULL_CHAR
    codes = raw + (lows_a - OFFSET)
    return codes, missing, ids


def unpack_float(
    text: str,
    lows: Sequence[int],
    *,
    with_ids: bool = False,
    columns: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(as_float(codes, missing), ids)`` of :func:`unpack`, without its int64 copies:
    the characters are converted to float64 once (the same values: small integers are
    exact in float64). About 5 times faster for the loaders' millions of rows.

    ``columns``: positions (in the order of ``lows``, one per packed column) of the
    columns to return, in that order; default all."""
    try:
        points = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        points = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
    lows_a = np.asarray(lows, dtype=np.int64)
    lead = ID_CHARS if with_ids else 0
    width = len(lows_a) + lead
    if width == 0:
        if len(points):
            raise ValueError("packed text for zero columns is not empty")
        return np.empty((0, 0)), (np.empty(0, np.int64) if with_ids else None)
    raw, ids = _rows_and_ids(points, width, with_ids)
    answers = raw[:, lead:]
    if columns is not None:
        picked = np.asarray(columns, dtype=np.intp)
        answers, lows_a = answers[:, picked], lows_a[picked]
    x = answers.astype(np.float64)
    x += (lows_a - OFFSET).astype(np.float64)
    x[answers == NULL_CHAR] = np.nan
    return x, ids


def _rows_and_ids(
    points: np.ndarray, width: int, with_ids: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """The code points as rows of ``width`` characters, and the ids their first
    :data:`ID_CHARS` characters hold (``None`` without ids)."""
    if len(points) % width:
        raise ValueError(
            f"packed text of {len(points)} characters is not a whole number of rows of {width}"
        )
    raw = points.reshape(-1, width)
    ids = None
    if with_ids:
        ids = np.zeros(len(raw), dtype=np.int64)
        for j in range(ID_CHARS):
            ids = (ids << 6) | (raw[:, j].astype(np.int64) - OFFSET)
    return raw, ids


def as_float(codes: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Codes as float64 with NaN where missing (what the analysis loaders return)."""
    x = codes.astype(np.float64)
    x[missing] = np.nan
    return x
