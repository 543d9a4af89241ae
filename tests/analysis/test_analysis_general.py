"""Generality of the analysis package: Moments in, results out, clear errors, other scales.

No number here is claimed to come from R; the checks compare the package with
itself (DataFrame vs Moments, chunks vs whole), with scipy, or with definitions.
"""

from __future__ import annotations

import doctest
import importlib
import json
import math
import time
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from reference_data import DIMS, ITEMS, MODEL, instrument, raw_data, reverse_keyed
from scipy import stats

from analysis._result import AnalysisError
from analysis.careless import careless, longstring
from analysis.cfa import cfa
from analysis.compare import (
    group_table,
    holm,
    pairwise_welch,
    period_change,
    welch_anova,
    welch_anova_from_stats,
)
from analysis.efa import efa, tucker_congruence
from analysis.factorability import bartlett_sphericity, kmo
from analysis.moments import Moments
from analysis.parallel import parallel_analysis, random_correlations
from analysis.reliability import reliability, reliability_by_dimension
from analysis.report import analyze
from analysis.scores import nps, proportion, resolve_min_items, score
from analysis.svg import bar_chart, heatmap, line_chart
from instruments.loader import instrument_from_dict


@pytest.fixture(scope="module")
def inst():
    return instrument()


@pytest.fixture(scope="module")
def data():
    return raw_data()


@pytest.fixture(scope="module")
def scored(data, inst):
    return reverse_keyed(data[ITEMS].astype(float), inst.reversed_item_ids)


# ----- Moments: chunks, SQL sums and the whole give the same results -------------------
def _chunks(scored: pd.DataFrame) -> Moments:
    parts = np.array_split(np.arange(len(scored)), 3)
    ms = [Moments.from_frame(scored.iloc[p], ITEMS) for p in parts]
    return ms[0] + ms[1] + ms[2]


def test_moments_merge_equals_whole(scored):
    whole = Moments.from_frame(scored, ITEMS)
    merged = _chunks(scored)
    assert merged.n == whole.n
    assert_allclose(merged.mean, whole.mean, rtol=1e-12)
    assert_allclose(merged.cross, whole.cross, rtol=1e-10, atol=1e-8)


def test_results_from_dataframe_equal_results_from_moments(scored):
    merged = _chunks(scored)
    cc = scored.dropna()
    x = cc.to_numpy()
    sums = Moments.from_sums(ITEMS, len(x), x.sum(axis=0), x.T @ x)  # as a SQL aggregate
    for m in (merged, sums):
        assert_allclose(kmo(m).overall, kmo(cc).overall, rtol=1e-9)
        assert_allclose(bartlett_sphericity(m).chisq, bartlett_sphericity(cc).chisq, rtol=1e-9)
        a, b = reliability(m.subset(MODEL["REL"])), reliability(cc[MODEL["REL"]])
        assert_allclose(
            [a.alpha, a.std_alpha, a.omega_total, *a.alpha_ci95],
            [b.alpha, b.std_alpha, b.omega_total, *b.alpha_ci95],
            rtol=1e-7,
        )
        e1, e2 = efa(m, 5, structure=MODEL), efa(cc, 5, structure=MODEL)
        assert_allclose([e1.loadings[i] for i in ITEMS], [e2.loadings[i] for i in ITEMS], atol=1e-6)
    c1, c2 = cfa(merged, MODEL), cfa(cc, MODEL)
    assert_allclose(
        [c1.chisq, c1.cfi, c1.rmsea, c1.srmr], [c2.chisq, c2.cfi, c2.rmsea, c2.srmr], rtol=1e-6
    )


def test_group_means_from_merged_moments_equal_whole():
    rng = np.random.default_rng(3)
    v = rng.normal(60, 10, 500)
    a = Moments.from_array(v[:200, None]) + Moments.from_array(v[200:, None])
    assert_allclose(a.mean[0], v.mean(), rtol=1e-12)
    assert_allclose(a.cov()[0, 0], v.var(ddof=1), rtol=1e-10)


# ----- reliability -----------------------------------------------------------------------
def test_bootstrap_ci_is_seeded_and_brackets_alpha(scored):
    x = scored[MODEL["HON"]].dropna().iloc[:600]
    a = reliability(x, ci_method="bootstrap", n_boot=300, seed=7)
    b = reliability(x, ci_method="bootstrap", n_boot=300, seed=7)
    assert a.alpha_ci95 == b.alpha_ci95
    assert a.alpha_ci95[0] < a.alpha < a.alpha_ci95[1]
    with pytest.raises(AnalysisError, match="raw rows"):
        reliability(Moments.from_frame(x), ci_method="bootstrap")


def test_reliability_errors(scored):
    with pytest.raises(AnalysisError, match="too few complete rows"):
        reliability(scored[MODEL["REL"]].dropna().head(4), name="REL")
    with pytest.raises(AnalysisError, match="REL2 are constant"):
        reliability(scored[MODEL["REL"]].dropna().assign(REL2=3.0), name="REL")
    with pytest.raises(AnalysisError, match="singular"):
        reliability(
            scored[MODEL["REL"]].dropna().assign(REL3=lambda d: d.REL1 + d.REL2), name="REL"
        )
    with pytest.raises(AnalysisError, match="at least 2 items"):
        reliability(scored[["REL1"]])


def test_missing_dimension_is_named(data, inst):
    with pytest.raises(AnalysisError, match=r"EMP1, EMP2, EMP3, EMP4 \(dimension EMP\)"):
        reliability_by_dimension(data.drop(columns=MODEL["EMP"]), inst)
    with pytest.raises(AnalysisError, match="no dimension/outcome/covariate 'XYZ'"):
        reliability_by_dimension(data, inst, dimensions=["XYZ"])


def test_kmo_bartlett_errors(scored):
    with pytest.raises(AnalysisError, match="constant column"):
        kmo(scored.assign(REL1=2.0))
    with pytest.raises(AnalysisError, match="singular"):
        bartlett_sphericity(scored.assign(CON4=scored["CON1"]))
    with pytest.raises(AnalysisError, match="too few rows"):
        kmo(scored.dropna().head(12))


# ----- parallel analysis -------------------------------------------------------------------
def test_parallel_analysis_is_seeded_and_reproducible(scored):
    m = Moments.from_frame(scored)
    a, b = parallel_analysis(m, n_iter=100, seed=5), parallel_analysis(m, n_iter=100, seed=5)
    assert a.to_dict() == b.to_dict()
    c = parallel_analysis(m, n_iter=100, seed=6)
    assert c.simulated_mean != a.simulated_mean
    assert a.n_factors >= 3
    assert len(a.observed) == len(a.simulated_quantile) == 20


def test_wishart_draws_match_simulated_raw_data():
    """Eigenvalues of Wishart-drawn correlation matrices have the same distribution as
    those of correlation matrices of n normal rows (Monte-Carlo check, 4000 draws)."""
    rng = np.random.default_rng(11)
    n, k, t = 60, 6, 4000
    raw = np.array(
        [np.linalg.eigvalsh(np.corrcoef(rng.standard_normal((n, k)).T)) for _ in range(t)]
    )
    wish = np.linalg.eigvalsh(random_correlations(k, n, t, rng))
    # standard error of each mean is about sd / sqrt(4000) < 0.004
    assert_allclose(wish.mean(axis=0), raw.mean(axis=0), atol=0.015)
    assert_allclose(np.quantile(wish, 0.95, axis=0), np.quantile(raw, 0.95, axis=0), atol=0.04)


def test_parallel_analysis_cost_does_not_depend_on_n(scored):
    m = Moments.from_frame(scored)
    huge = Moments(m.columns, 10**9, m.mean, m.cross * (10**9 / m.n))
    t0 = time.perf_counter()
    res = parallel_analysis(huge, n_iter=200, seed=1)
    assert time.perf_counter() - t0 < 5
    assert res.n == 10**9
    assert res.simulated_quantile[0] < 1.001  # random eigenvalues ~ 1 for huge n


# ----- EFA ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "extraction, rotation", [("minres", "promax"), ("ml", "oblimin"), ("minres", "varimax")]
)
def test_efa_rotations_recover_the_structure(scored, data, extraction, rotation):
    clean = scored[data["careless_truth"].isna()]
    e = efa(clean, 5, extraction=extraction, rotation=rotation, structure=MODEL)
    assert e.matched_dimension == tuple(DIMS)
    lam = np.array([e.loadings[i] for i in ITEMS])
    assert np.all(lam.sum(axis=0) > 0)
    # every item has its largest loading on its own dimension's factor
    assert [DIMS[j] for j in np.abs(lam).argmax(axis=1)] == [i[:3] for i in ITEMS]
    # an orthogonal rotation of correlated factors leaves cross-loadings: lower congruence
    assert min(e.congruence.values()) > (0.8 if rotation == "varimax" else 0.9)
    if rotation in ("promax", "oblimin"):
        phi = np.array(e.factor_correlations)
        assert_allclose(np.diag(phi), 1.0, atol=1e-8)
        assert_allclose(phi, phi.T, atol=1e-10)
        assert_allclose(
            [e.communalities[i] for i in ITEMS], np.einsum("ij,jk,ik->i", lam, phi, lam), rtol=1e-10
        )
    json.dumps(e.to_dict(), allow_nan=False)


def test_efa_argument_errors(scored):
    with pytest.raises(AnalysisError, match="n_factors must be between"):
        efa(scored, 20)
    with pytest.raises(AnalysisError, match="unknown rotation"):
        efa(scored, 2, rotation="geomin")


def test_tucker_congruence_definition():
    a = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    c = tucker_congruence(a, a)
    assert_allclose(np.diag(c), 1.0)
    assert_allclose(c[0, 1], 1 / 2)


# ----- comparisons ----------------------------------------------------------------------------
def test_welch_t_and_holm_agree_with_scipy_and_definition():
    rng = np.random.default_rng(2)
    g = pd.Series(np.repeat(["a", "b", "c"], [80, 120, 60]), name="g")
    v = pd.Series(
        np.concatenate([rng.normal(50, 8, 80), rng.normal(53, 12, 120), rng.normal(49, 5, 60)]),
        name="v",
    )
    res = pairwise_welch(v, g, min_n=30)
    raw = []
    for c in res.comparisons:
        t = stats.ttest_ind(v[g == c.b], v[g == c.a], equal_var=False)
        assert_allclose([c.t, c.p], [t.statistic, t.pvalue], rtol=1e-10)
        raw.append(t.pvalue)
    # Holm by its definition: sort, multiply by (m - rank), running maximum, cap at 1
    order = np.argsort(raw)
    expect = np.minimum(1, np.maximum.accumulate([(3 - i) * raw[j] for i, j in enumerate(order)]))
    assert_allclose([res.comparisons[j].p_holm for j in order], expect, rtol=1e-12)
    assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    # Hedges' g = d * (1 - 3 / (4 (n1 + n2) - 9))
    c = res.comparisons[0]
    a, b = v[g == c.a], v[g == c.b]
    sp = math.sqrt(((len(a) - 1) * a.var() + (len(b) - 1) * b.var()) / (len(a) + len(b) - 2))
    assert_allclose(c.hedges_g, (b.mean() - a.mean()) / sp * (1 - 3 / (4 * (len(a) + len(b)) - 9)))


def test_welch_anova_from_aggregates_equals_raw():
    """The same test from per-group COUNT/SUM/SUM of squares, as a database returns them."""
    rng = np.random.default_rng(9)
    g = pd.Series(np.repeat(["a", "b", "c"], [70, 90, 50]), name="g")
    v = pd.Series(rng.normal(0, 1, len(g)) + (g == "b") * 0.5, name="v")
    raw = welch_anova(v, g, min_n=30)
    ms = {
        k: Moments.from_sums(["v"], len(x), np.array([x.sum()]), np.array([[x @ x]]))
        for k, x in ((k, v[g == k].to_numpy()) for k in "abc")
    }
    agg = welch_anova_from_stats(
        list(ms),
        [m.n for m in ms.values()],
        [m.mean[0] for m in ms.values()],
        [m.cov()[0, 0] for m in ms.values()],
    )
    assert_allclose([agg.F, *agg.df, agg.p], [raw.F, *raw.df, raw.p], rtol=1e-9)


def test_small_segments_are_suppressed_everywhere():
    rng = np.random.default_rng(4)
    g = pd.Series(np.repeat(["big1", "big2", "tiny"], [100, 90, 12]), name="segment")
    v = pd.Series(rng.normal(60, 10, len(g)), name="ti")
    tab = group_table(v, g, min_n=30)
    assert tab.to_dict()["tiny"] == {"suppressed": True}
    assert "tiny" not in welch_anova(v, g, min_n=30).means
    assert welch_anova(v, g, min_n=30).suppressed == ("tiny",)
    assert all("tiny" not in (c.a, c.b) for c in pairwise_welch(v, g, min_n=30).comparisons)
    assert "suppressed" in tab.summary()
    per = period_change(v, g.rename("period"), min_n=30)
    assert [(c.a, c.b) for c in per.comparisons] == [("big1", "big2")]


# ----- scores ---------------------------------------------------------------------------------
def test_min_items_rule():
    assert resolve_min_items(None, 4) == 3
    assert resolve_min_items(None, 2) == 2
    assert resolve_min_items(None, 6) == 5
    assert resolve_min_items(0.5, 6) == 3
    assert resolve_min_items(2, 4) == 2
    with pytest.raises(AnalysisError):
        resolve_min_items(0, 4)


def test_nps_and_proportion_definitions():
    v = pd.Series([10, 9, 9, 8, 7, 6, 0, 3, 10, 5])
    r = nps(v)
    assert_allclose([r.promoters_pct, r.detractors_pct, r.nps], [40, 40, 0])
    se = math.sqrt((0.4 + 0.4 - 0) / 10)
    assert_allclose(r.ci95, [-100 * 1.959963984540054 * se, 100 * 1.959963984540054 * se])
    p = proportion(pd.Series([True] * 30 + [False] * 70), name="x", definition="d")
    # Wilson interval from its formula
    z, n, ph = 1.959963984540054, 100, 0.3
    centre = (ph + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert_allclose(p.ci95, [100 * (centre - half), 100 * (centre + half)])


# ----- careless responding ------------------------------------------------------------------
def test_longstring_skips_missing_values():
    x = np.array([[1, 1, np.nan, 1, 2], [1, 2, 3, 4, 5], [3, 3, 3, 3, 3.0]])
    assert list(longstring(x)) == [3, 1, 5]


def test_careless_without_duration_or_attention_check(data, inst):
    d = data.drop(columns=["duration_s", "ATT1"])
    res = careless(d, inst)
    assert res.available == ("longstring", "irv", "mahalanobis")
    assert any("speeding" in n for n in res.notes)
    assert "n_careless" in res.to_dict()


# ----- other scales and instruments -----------------------------------------------------------
def _six_point_instrument():
    lab = {"en": ["1", "2", "3", "4", "5", "6"]}
    items = lambda p, rev: [  # noqa: E731
        {
            "id": f"{p}{j}",
            "text": {"en": f"{p} item {j}"},  # noqa: E731
            **({"reverse": True} if f"{p}{j}" in rev else {}),
        }
        for j in range(1, 6)
    ]
    return instrument_from_dict(
        {
            "id": "six-point",
            "version": "0.1",
            "languages": ["en"],
            "scale": {"min": 1, "max": 6, "labels": lab},
            "dimensions": [
                {"id": "A", "name": {"en": "A"}, "items": items("A", {"A2", "A5"})},
                {"id": "B", "name": {"en": "B"}, "items": items("B", {"B3"})},
            ],
        },
        source="six-point.yaml",
    )


def _six_point_data(n=400, seed=8):
    rng = np.random.default_rng(seed)
    f = rng.multivariate_normal([0, 0], [[1, 0.4], [0.4, 1]], size=n)
    cols = {}
    for d, k in (("A", 0), ("B", 1)):
        for j in range(1, 6):
            z = 0.75 * f[:, k] + 0.66 * rng.standard_normal(n)
            x = np.clip(np.round(3.5 + 1.1 * z), 1, 6)
            cols[f"{d}{j}"] = 7 - x if f"{d}{j}" in {"A2", "A5", "B3"} else x
    df = pd.DataFrame(cols)
    df.loc[rng.random(df.shape) < 0.03] = np.nan  # noqa: PD008 (boolean mask assignment)
    df["segment"] = rng.choice(["x", "y", "z"], n)
    df["period"] = rng.choice(["2025-H1", "2025-H2"], n)
    return df


def test_six_point_scale_with_reverse_items():
    inst = _six_point_instrument()
    df = _six_point_data()
    rep = analyze(df, inst, segment="segment", period="period", n_iter=50)
    out = rep.to_dict()
    json.dumps(out, allow_nan=False)
    # reverse keys as min + max - x = 7 - x; scores as mean of answered items (>= 4 of 5)
    x = df[[f"A{j}" for j in range(1, 6)] + [f"B{j}" for j in range(1, 6)]].copy()
    for r in ("A2", "A5", "B3"):
        x[r] = 7 - x[r]
    dims = {}
    for d in "AB":
        s = x[[f"{d}{j}" for j in range(1, 6)]]
        m = s.mean(axis=1)
        m[s.notna().sum(axis=1) < 4] = np.nan
        dims[d] = m
    ti = (pd.DataFrame(dims).mean(axis=1, skipna=False) - 1) / 5 * 100
    keep = ~rep.careless.excluded.to_numpy()
    assert_allclose(out["trust_index"]["overall"]["mean"], ti[keep].mean(), rtol=1e-12)
    assert out["settings"]["min_items"] == {"A": 4, "B": 4}
    for d in "AB":
        assert out["reliability"][d]["alpha"] > 0.7
        assert all(i["r_drop"] > 0.3 for i in out["reliability"][d]["items"])
    assert out["efa"]["n_factors"] == 2
    assert rep.efa.matched_dimension == ("A", "B")
    assert "cfi" in out["cfa"]
    assert out["nps"] is None and out["trust_overall_top2"] is None
    assert out["pct_trusting"]["definition"].startswith("mean dimension score >= 5 on 1..6")


def test_non_integer_values_are_accepted_with_a_note():
    inst = _six_point_instrument()
    df = _six_point_data()
    df.loc[0, "A1"] = 2.5
    rep = analyze(df, inst, n_iter=20)
    assert any("A1: non-integer values accepted" in n for n in rep.notes)


def test_score_needs_enough_items():
    inst = _six_point_instrument()
    df = _six_point_data(60)
    df.loc[0, ["A1", "A2"]] = np.nan
    df.loc[0, ["A3", "A4", "A5"]] = 6.0
    sc = score(df, inst)
    assert np.isnan(sc.frame.loc[0, "A"])
    sc2 = score(df, inst, min_items=3)
    assert_allclose(sc2.frame.loc[0, "A"], (6 + 6 + 1) / 3)  # A5 reversed: 7 - 6


# ----- results objects and SVG ---------------------------------------------------------------
def test_every_result_has_json_safe_to_dict_and_a_summary(data, inst):
    rep = analyze(data.iloc[:800], inst, segment="segment", period="period", n_iter=30)
    json.dumps(rep.to_dict(), allow_nan=False)
    for r in (
        rep.reliability,
        rep.kmo,
        rep.bartlett,
        rep.parallel_analysis,
        rep.efa,
        rep.scores,
        rep.trust_index,
        rep.pct_trusting,
        rep.nps,
        rep.careless,
    ):
        json.dumps(r.to_dict(), allow_nan=False)
        assert isinstance(r.summary(), str) and r.summary()
    with pytest.raises(AttributeError):
        rep.kmo.overall = 0.5  # frozen


def test_svg_helpers_make_well_formed_escaped_svg():
    charts = [
        c.svg
        for c in (
            line_chart(
                ["Q1", "Q2", "Q3"],
                {
                    "A <&>": [(1, 0.5, 1.5), None, (2, 1.5, 2.5)],
                    "B": [(1.2, 1, 1.4), (1.3, 1.1, 1.5), (1, 0.9, 1.1)],
                },
                title="t & t",
            ),
            bar_chart(["x", "y<"], [(0.5, 0.4, 0.6), None], title="bars", x_range=(0, 1)),
            heatmap(
                ["r1", "r2"],
                ["c1", "c2"],
                [[0.9, -0.2], [None, -0.001]],
                title="h",
                row_groups=["a", "b"],
            ),
        )
    ]
    for s in charts:
        root = ET.fromstring(s)
        assert root.tag.endswith("svg")
        assert "<&>" not in s
    assert "suppressed" in charts[0] and "suppressed" in charts[1]
    assert "-0.00" not in charts[2]


@pytest.mark.parametrize("module", ["reliability", "factorability", "compare", "scores"])
def test_docstring_examples_run(module):
    mod = importlib.import_module(f"analysis.{module}")
    res = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0, res


def test_omega_reports_an_improper_one_factor_fit():
    """A Heywood case in omega's one-factor ML fit is stated, not hidden (issue 8)."""
    from analysis.reliability import reliability

    rng = np.random.default_rng(3)
    f = rng.normal(size=400)
    # r_ab r_ac / r_bc = .8 x .8 / .5 > 1: a's one-factor loading would exceed 1
    corr = np.array([[1, 0.8, 0.8], [0.8, 1, 0.5], [0.8, 0.5, 1]])
    z = rng.normal(size=(400, 3)) @ np.linalg.cholesky(corr).T
    res = reliability(pd.DataFrame(z, columns=["a", "b", "c"]), name="s", ordinal=False)
    assert res.omega_warnings and any("Heywood" in w for w in res.omega_warnings)
    assert "omega: " in res.summary()
    clean = reliability(
        pd.DataFrame(
            {
                "a": 0.7 * f + rng.normal(size=400),
                "b": 0.6 * f + rng.normal(size=400),
                "c": 0.5 * f + rng.normal(size=400),
            }
        ),
        ordinal=False,
    )
    assert clean.omega_warnings == ()
