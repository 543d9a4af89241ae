"""Means of ratings nested in respondents: the CR1 interval per period and the change
between periods (analysis.compare with ``clusters``) against R
(``tests/reference/make_cluster_means.R``: ``sandwich::vcovCL(type = "HC1")``, checked
there against the formula in base R; Welch-Satterthwaite df with G - 1 per period).
A period with one rating per respondent keeps the classical t interval."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.compare import group_table, mean_ci, mean_ci_clustered, period_change
from analysis.moments import Moments

REF = Path(__file__).resolve().parent.parent / "reference"
R = json.loads((REF / "cluster_means_reference.json").read_text())
DATA = pd.read_csv(REF / "data" / "cluster_means.csv")
PERIODS = ["2026-Q2", "2026-Q3", "2026-Q4"]


def test_period_means_and_intervals_match_r():
    tab = group_table(
        DATA["y"], DATA["period"], min_n=2, order=PERIODS, clusters=DATA["respondent"]
    )
    for g in tab.groups:
        want = R["periods"][g.name]
        assert g.n == want["n"] and g.clusters == want["clusters"]
        assert g.mean == pytest.approx(want["mean"], rel=1e-12)
        assert g.sd == pytest.approx(want["sd"], rel=1e-12)
        assert g.mean_var == pytest.approx(want["se"] ** 2, rel=1e-10)
        assert g.mean_df == want["df"]
        assert list(g.ci95) == pytest.approx(want["ci95"], rel=1e-10)
    # the nested periods are the ones R treated as clustered, and they say so
    d = tab.to_dict()
    assert "clusters" not in d["2026-Q2"] and d["2026-Q3"]["clusters"] == 120
    assert d["2026-Q4"]["se_cr1"] == pytest.approx(R["periods"]["2026-Q4"]["se"], rel=1e-10)


def test_period_changes_match_r():
    pc = period_change(
        DATA["y"], DATA["period"], min_n=2, order=PERIODS, clusters=DATA["respondent"]
    )
    assert len(pc.comparisons) == len(R["changes"]) == 2
    for c, want in zip(pc.comparisons, R["changes"], strict=True):
        assert (c.a, c.b) == (want["a"], want["b"])
        for key in ("diff", "t", "df", "p"):
            assert getattr(c, key) == pytest.approx(want[key], rel=1e-9), key
        assert list(c.ci95) == pytest.approx(want["ci95"], rel=1e-9)
    # nesting matters here: the classical Welch test of Q3 -> Q4 is another test
    plain = period_change(DATA["y"], DATA["period"], min_n=2, order=PERIODS)
    assert plain.comparisons[1].p < 0.5 * pc.comparisons[1].p


def test_one_rating_per_cluster_is_the_classical_interval():
    """CR1 with one row per cluster is s^2 / n and t on n - 1 df: the same numbers."""
    rng = np.random.default_rng(4)
    y = rng.normal(50, 10, 40)
    a = mean_ci_clustered(y, np.arange(40))
    b = mean_ci(Moments.from_array(y[:, None], ["y"]))
    assert a.clusters == 40 and b.clusters is None
    assert a.mean_var == pytest.approx(b.mean_var, rel=1e-12) and a.mean_df == b.mean_df
    assert list(a.ci95) == pytest.approx(list(b.ci95), rel=1e-12)
    # group_table keeps the classical path (and its output) for such groups
    g = pd.Series(["x"] * 40)
    with_keys = group_table(pd.Series(y), g, min_n=2, clusters=pd.Series(np.arange(40)))
    without = group_table(pd.Series(y), g, min_n=2)
    assert with_keys.to_dict() == without.to_dict()


def test_missing_keys_are_clusters_of_their_own_and_bad_keys_are_refused():
    y = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    g = pd.Series(["a"] * 6)
    keys = pd.Series(["p", "p", None, None, "q", "q"])
    s = group_table(y, g, min_n=2, clusters=keys).groups[0]
    assert s.clusters == 4  # p, q and two rows without a key
    direct = mean_ci_clustered(y.to_numpy(), np.array([0, 0, 1, 2, 3, 3]))
    assert s.se == pytest.approx(direct.se) and s.ci95 == pytest.approx(direct.ci95)
    from analysis import AnalysisError

    with pytest.raises(AnalysisError, match="one key per value"):
        group_table(y, g, min_n=2, clusters=keys[:3])
