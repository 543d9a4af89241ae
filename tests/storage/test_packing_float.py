"""packing.unpack_float: the same float matrix and ids as as_float(unpack(...)), for
ASCII (narrow spans) and wide (non-ASCII) codes, with and without row ids."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from survey.storage import packing


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("with_ids", [False, True])
def test_equals_unpack_then_as_float(wide, with_ids):
    rng = np.random.default_rng(3)
    lows = [1, 0, -9, 1] + ([-500] if wide else [])
    highs = [7, 10, 9, 5] + ([50_000] if wide else [])
    n = 400
    rows = []
    for _ in range(n):
        rows.append(
            [
                None if rng.random() < 0.2 else int(rng.integers(lo, hi + 1))
                for lo, hi in zip(lows, highs, strict=True)
            ]
        )
    con = sqlite3.connect(":memory:")
    cols = [f"c{j}" for j in range(len(lows))]
    con.execute(f"CREATE TABLE a (rid INTEGER, {', '.join(cols)})")
    con.executemany(
        f"INSERT INTO a VALUES ({', '.join('?' * (len(cols) + 1))})",
        [[1000 + 7 * r, *row] for r, row in enumerate(rows)],
    )
    expr = packing.pack_sql(cols, lows, row_id="a.rid" if with_ids else None)
    text = "".join(t for (t,) in con.execute(f"SELECT {expr} FROM a ORDER BY rid"))
    codes, missing, ids = packing.unpack(text, lows, with_ids=with_ids)
    x, got_ids = packing.unpack_float(text, lows, with_ids=with_ids)
    assert x.dtype == np.float64 and x.shape == (n, len(lows))
    assert np.array_equal(x, packing.as_float(codes, missing), equal_nan=True)
    want = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)
    assert np.array_equal(x, want, equal_nan=True)
    if with_ids:
        assert np.array_equal(got_ids, ids) and got_ids.tolist() == [1000 + 7 * r for r in range(n)]
    else:
        assert got_ids is None


def test_bad_text_is_an_error():
    with pytest.raises(ValueError, match="whole number of rows"):
        packing.unpack_float("\x02\x03\x04", [1, 1])
