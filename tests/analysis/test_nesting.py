"""analysis.nesting: one rating per respondent (the lowest brand position, else the
first row), rows without a key each their own respondent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import AnalysisError
from analysis.nesting import one_per_respondent


def test_keeps_the_lowest_position_then_the_first_row():
    df = pd.DataFrame(
        {
            "respondent": ["a", "a", "b", "b", "b", None, None, "c", "c"],
            "brand_position": pd.array([2, 1, 3, None, 2, None, None, None, None], "Int64"),
        }
    )
    r = one_per_respondent(df, "respondent", "brand_position")
    # a: position 1 (row 1); b: position 2 (row 4; NA last); keyless rows: each kept;
    # c: no positions, its first row (row 7)
    assert np.flatnonzero(r.mask).tolist() == [1, 4, 5, 6, 7]
    assert (r.n_ratings, r.n_respondents, r.n_used, r.n_dropped) == (9, 5, 5, 4)
    assert r.nested
    d = r.to_dict()
    assert d["n_used"] == 5 and d["n_dropped"] == 4 and "one rating per respondent" in d["rule"]
    # without positions: the first row of each respondent
    r2 = one_per_respondent(df, "respondent")
    assert np.flatnonzero(r2.mask).tolist() == [0, 2, 5, 6, 7]
    # a missing position column is ignored (first rows)
    r3 = one_per_respondent(df, "respondent", "no_such_column")
    assert (r3.mask == r2.mask).all() and r3.position_column is None


def test_not_nested_and_bad_column():
    df = pd.DataFrame({"respondent": ["a", "b", "c"]})
    r = one_per_respondent(df, "respondent")
    assert r.mask.all() and not r.nested and r.n_dropped == 0
    empty = one_per_respondent(df.iloc[:0], "respondent")
    assert empty.n_ratings == 0 and empty.n_respondents == 0
    with pytest.raises(AnalysisError, match="respondent key column 'who'"):
        one_per_respondent(df, "who")
