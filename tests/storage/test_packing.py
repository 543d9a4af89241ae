"""survey.storage.packing: the one bulk-read format round-trips every value through SQLite."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from survey.storage import packing


@st.composite
def tables(draw):
    """Columns with random code ranges, rows with codes in range or NULL, and row ids."""
    k = draw(st.integers(0, 6))
    lows = draw(st.lists(st.integers(-1000, 1000), min_size=k, max_size=k))
    spans = draw(
        st.lists(
            st.one_of(st.integers(0, 125), st.integers(126, packing.MAX_SPAN)),
            min_size=k,
            max_size=k,
        )
    )
    n = draw(st.integers(0, 20))
    rows = [
        [
            draw(st.one_of(st.none(), st.integers(lo, lo + span)))
            for lo, span in zip(lows, spans, strict=True)
        ]
        for _ in range(n)
    ]
    ids = draw(st.lists(st.integers(0, packing.MAX_ID), min_size=n, max_size=n, unique=True))
    return lows, rows, ids


def _round_trip(lows, rows, ids, *, with_ids):
    con = sqlite3.connect(":memory:")
    cols = [f"c{j}" for j in range(len(lows))]
    con.execute(
        "CREATE TABLE a (rid INTEGER PRIMARY KEY" + "".join(f", {c} INTEGER" for c in cols) + ")"
    )
    con.executemany(
        f"INSERT INTO a VALUES ({', '.join('?' * (len(cols) + 1))})",
        [[i, *r] for i, r in zip(ids, rows, strict=True)],
    )
    expr = packing.pack_sql(cols, lows, row_id="a.rid" if with_ids else None)
    text = "".join(r[0] for r in con.execute(f"SELECT {expr} FROM a ORDER BY rid"))
    return packing.unpack(text, lows, with_ids=with_ids), sorted(zip(ids, rows, strict=True))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(tables(), st.booleans())
def test_every_code_and_null_round_trips(table, with_ids):
    lows, rows, ids = table
    if not lows and not with_ids:
        rows = [[] for _ in rows]
    (codes, missing, got_ids), expected = _round_trip(lows, rows, ids, with_ids=with_ids)
    if not lows and not with_ids:
        assert codes.shape == (0, 0)
        return
    assert codes.shape == (len(rows), len(lows))
    for r, (rid, row) in enumerate(expected):
        if with_ids:
            assert got_ids[r] == rid
        for j, v in enumerate(row):
            assert bool(missing[r, j]) == (v is None)
            if v is not None:
                assert codes[r, j] == v


def test_not_answered_and_not_applicable_are_both_null_and_decode_as_nan():
    # "not applicable" is NULL in the answer tables (told apart by responses.na_items)
    (codes, missing, _), _ = _round_trip([1, 0], [[None, 10], [7, None]], [5, 6], with_ids=False)
    x = packing.as_float(codes, missing)
    assert np.isnan(x[0, 0]) and x[0, 1] == 10 and x[1, 0] == 7 and np.isnan(x[1, 1])


def test_ascii_fast_path_for_ordinary_scales():
    expr = packing.pack_sql(["x"], [1])
    con = sqlite3.connect(":memory:")
    (text,) = con.execute(f"SELECT {expr} FROM (SELECT 7 AS x) a").fetchone()
    assert text.isascii() and ord(text) == 7 - 1 + packing.OFFSET


def test_truncated_text_is_an_error():
    with pytest.raises(ValueError, match="whole number of rows"):
        packing.unpack("\x02\x03\x04", [1, 1])
