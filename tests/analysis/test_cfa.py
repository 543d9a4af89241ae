"""Tests for analysis.cfa: agreement with R lavaan 0.6-14, recovery, inputs, warnings.

R's numbers come from tests/reference/make_reference.R (lavaan 0.6-14), stored in
tests/reference/trust_synthetic_reference.json. In R:

    model <- 'REL =~ REL1 + REL2 + REL3 + REL4
              HON =~ HON1 + HON2 + HON3 + HON4
              COM =~ COM1 + COM2 + COM3 + COM4
              EMP =~ EMP1 + EMP2 + EMP3 + EMP4
              CON =~ CON1 + CON2 + CON3 + CON4'
    fit <- cfa(model, data = dd)   # dd = na.omit over the 20 items, reverse keys 8 - x
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from reference_data import DIMS, ITEMS, MODEL, r_results, raw_data, reverse_keyed

from analysis.cfa import CFAResult, cfa
from analysis.moments import Moments


@pytest.fixture(scope="module")
def ref() -> dict:
    return r_results()


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return reverse_keyed(raw_data())  # as make_reference.R: x[[r]] <- 8 - x[[r]]


@pytest.fixture(scope="module")
def fit(data) -> CFAResult:
    return cfa(data, MODEL)


# --------------------------------------------------------------------------------------
# agreement with R lavaan 0.6-14
# --------------------------------------------------------------------------------------
def test_sample_size_matches_r(fit, ref):
    # R: nrow(na.omit(x))
    assert fit.n == ref["n_complete_all"] == 1963


def test_fit_measures_match_lavaan(fit, ref):
    r = ref["cfa"]
    # R: fitMeasures(fit, "df")
    assert fit.df == r["df"] == 160
    # R: fitMeasures(fit, "chisq")
    assert_allclose(fit.chisq, r["chisq"], rtol=1e-6)
    # R: fitMeasures(fit, "pvalue")  (R prints 0: 1 - pchisq underflows)
    assert_allclose(fit.p, r["pvalue"], atol=1e-12)
    # R: fitMeasures(fit, "cfi")
    assert_allclose(fit.cfi, r["cfi"], rtol=1e-6)
    # R: fitMeasures(fit, "tli")
    assert_allclose(fit.tli, r["tli"], rtol=1e-6)
    # R: fitMeasures(fit, "rmsea")
    assert_allclose(fit.rmsea, r["rmsea"], rtol=1e-6)
    # R: fitMeasures(fit, c("rmsea.ci.lower", "rmsea.ci.upper"))
    assert_allclose(fit.rmsea_ci90, [r["rmsea.ci.lower"], r["rmsea.ci.upper"]], rtol=1e-6)
    # R: fitMeasures(fit, "srmr")   (measured agreement ~5e-7: lavaan's own convergence)
    assert_allclose(fit.srmr, r["srmr"], rtol=1e-5)
    # R: fitMeasures(fit, "aic")
    assert_allclose(fit.aic, r["aic"], rtol=1e-9)
    # R: fitMeasures(fit, "bic")
    assert_allclose(fit.bic, r["bic"], rtol=1e-9)


def test_parameter_count_and_loglik_match_lavaan(fit, ref):
    r = ref["cfa"]
    # lavaan's npar follows from R's own AIC and BIC: BIC - AIC = npar (log N - 2)
    npar_r = (r["bic"] - r["aic"]) / (math.log(ref["n_complete_all"]) - 2.0)
    assert_allclose(npar_r, 50, atol=1e-6)
    assert fit.npar == 50
    # R: fitMeasures(fit, "logl") = -(AIC - 2 npar) / 2
    assert_allclose(fit.loglik, -(r["aic"] - 2 * 50) / 2, rtol=1e-9)


def test_standardized_loadings_match_lavaan(fit, ref):
    # R: st <- standardizedSolution(fit); st[st$op == "=~", "est.std"]   (item order REL1..CON4)
    mine = [fit.std_loadings[it] for it in ITEMS]
    assert_allclose(mine, ref["cfa_std_loadings"], rtol=1e-5)


def test_reference_fit_is_clean(fit):
    assert fit.converged
    assert fit.warnings == ()
    assert all(fit.loadings[MODEL[f][0]] == 1.0 for f in DIMS)  # marker loadings


def test_fornell_larcker_cr_and_ave_under_their_own_names(fit):
    # composite_reliability / ave are semTools' (tests/test_cfa_robust.py checks them
    # against R); the Fornell-Larcker versions keep their formula under their own names
    for f in DIMS:
        lam = np.array([fit.std_loadings[it] for it in MODEL[f]])
        s = lam.sum()
        assert_allclose(fit.composite_reliability_fl[f], s**2 / (s**2 + np.sum(1 - lam**2)))
        assert_allclose(fit.ave_fl[f], np.mean(lam**2))
        assert fit.composite_reliability[f] != pytest.approx(fit.composite_reliability_fl[f])
    fc = fit.factor_correlations
    assert fc["REL"]["REL"] == pytest.approx(1.0)
    assert fc["REL"]["HON"] == pytest.approx(fc["HON"]["REL"])
    assert 0 < fc["REL"]["HON"] < 1


# --------------------------------------------------------------------------------------
# Moments and DataFrame give the same answer
# --------------------------------------------------------------------------------------
def test_moments_equal_dataframe(fit, data):
    cc = data.dropna(subset=ITEMS)
    merged = Moments.from_frame(cc.iloc[:800], ITEMS) + Moments.from_frame(cc.iloc[800:], ITEMS)
    res = cfa(merged, MODEL)
    a, b = fit.to_dict(), res.to_dict()
    assert a["n"] == b["n"] and a["df"] == b["df"] and a["npar"] == b["npar"]
    for key in ("chisq", "cfi", "tli", "rmsea", "srmr", "aic", "bic", "loglik"):
        assert_allclose(b[key], a[key], rtol=1e-8, err_msg=key)
    assert_allclose(
        [b["std_loadings"][i] for i in ITEMS], [a["std_loadings"][i] for i in ITEMS], rtol=1e-7
    )


def test_moments_with_extra_columns(data):
    cols = [*ITEMS, "LOY1"]
    cc = data.dropna(subset=cols)
    res = cfa(Moments.from_frame(cc, cols), MODEL)  # uses Moments.subset(items)
    assert res.n == len(cc)
    assert_allclose(res.chisq, cfa(cc, MODEL).chisq, rtol=1e-9)


def test_huge_n_costs_nothing_and_population_moments_are_fitted_exactly():
    lam = np.array([1.0, 0.8, 0.6, 1.0, 0.9, 0.7, 0.5])
    assign = [0, 0, 0, 1, 1, 1, 1]
    phi = np.array([[1.5, 0.6], [0.6, 0.8]])
    big_lam = np.zeros((7, 2))
    big_lam[np.arange(7), assign] = lam
    theta = np.array([0.5, 0.6, 0.7, 0.4, 0.5, 0.6, 0.7])
    sigma = big_lam @ phi @ big_lam.T + np.diag(theta)
    n = 10**9
    cols = [f"y{i}" for i in range(7)]
    mo = Moments(tuple(cols), n, np.full(7, 4.0), sigma * n)
    res = cfa(mo, {"F": cols[:3], "G": cols[3:]})
    assert res.converged
    assert res.n == n
    assert_allclose(res.chisq, 0.0, atol=1e-4)
    assert_allclose([res.loadings[c] for c in cols], lam, rtol=1e-7)
    assert_allclose([res.residual_variances[c] for c in cols], theta, rtol=1e-7)
    assert_allclose(res.factor_variances["F"], 1.5, rtol=1e-7)
    assert_allclose(res.factor_correlations["F"]["G"], 0.6 / math.sqrt(1.5 * 0.8), rtol=1e-7)
    assert res.cfi == pytest.approx(1.0) and res.rmsea == pytest.approx(0.0, abs=1e-6)


# --------------------------------------------------------------------------------------
# recovery of known loadings from simulated data
# --------------------------------------------------------------------------------------
def _simulate(rng, n, lam, phi, theta):
    p, m = lam.shape
    eta = rng.multivariate_normal(np.zeros(m), phi, size=n)
    return eta @ lam.T + rng.normal(size=(n, p)) * np.sqrt(theta) + 3.0


@pytest.mark.parametrize("nfac", [2, 3])
def test_recovers_known_loadings(nfac):
    rng = np.random.default_rng(20260 + nfac)
    per = 4
    p = nfac * per
    lam = np.zeros((p, nfac))
    true_load = {}
    cols = [f"x{i + 1}" for i in range(p)]
    model = {}
    for f in range(nfac):
        vals = np.array([1.0, 0.8, 1.2, 0.6])  # marker first
        lam[f * per : (f + 1) * per, f] = vals
        model[f"F{f + 1}"] = cols[f * per : (f + 1) * per]
        true_load.update(dict(zip(model[f"F{f + 1}"], vals, strict=True)))
    phi = np.full((nfac, nfac), 0.3) + np.diag(np.full(nfac, 0.7))
    theta = np.full(p, 0.6)
    x = _simulate(rng, 20000, lam, phi, theta)
    df = pd.DataFrame(x, columns=cols)
    res = cfa(df, model)
    assert res.converged and not res.warnings
    assert res.df == p * (p + 1) // 2 - res.npar
    assert_allclose([res.loadings[c] for c in cols], [true_load[c] for c in cols], atol=0.05)
    sigma = lam @ phi @ lam.T + np.diag(theta)
    true_std = lam.sum(axis=1) * 1.0 / np.sqrt(np.diag(sigma))  # factor variances are 1
    assert_allclose([res.std_loadings[c] for c in cols], true_std, atol=0.02)
    for a in range(nfac):
        for b in range(nfac):
            if a != b:
                assert res.factor_correlations[f"F{a + 1}"][f"F{b + 1}"] == pytest.approx(
                    0.3, abs=0.04
                )
    # correctly specified: good fit
    assert res.cfi > 0.99 and res.rmsea < 0.02 and res.srmr < 0.02


# --------------------------------------------------------------------------------------
# warnings
# --------------------------------------------------------------------------------------
def _moments_from_cov(cov, n=500, names=None):
    cov = np.asarray(cov, float)
    names = names or [f"v{i + 1}" for i in range(cov.shape[0])]
    return Moments(tuple(names), n, np.zeros(cov.shape[0]), cov * n)


def test_heywood_case_warns():
    # one factor, 3 items: lambda_1^2 = r12 r13 / r23 = 1.28 > 1 -> negative residual variance
    r = [[1.0, 0.8, 0.8], [0.8, 1.0, 0.5], [0.8, 0.5, 1.0]]
    res = cfa(_moments_from_cov(r), {"F": ["v1", "v2", "v3"]})
    assert res.df == 0
    assert any("Heywood" in w and "negative residual variance for v1" in w for w in res.warnings)
    assert any("standardized loading of v1" in w for w in res.warnings)
    assert res.residual_variances["v1"] < 0
    d = res.to_dict()
    assert d["p"] is None  # df = 0: no test, NaN -> None
    json.dumps(d)


def test_non_positive_definite_latent_covariance_warns():
    # cross-block correlations (.6) exceed within-block ones (.4): factor correlation 1.5
    r = [[1, 0.4, 0.6, 0.6], [0.4, 1, 0.6, 0.6], [0.6, 0.6, 1, 0.4], [0.6, 0.6, 0.4, 1]]
    res = cfa(_moments_from_cov(r), {"A": ["v1", "v2"], "B": ["v3", "v4"]})
    assert any("not positive definite" in w for w in res.warnings)
    assert res.factor_correlations["A"]["B"] > 1


# --------------------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------------------
def test_to_dict_is_json_safe_and_complete(fit):
    d = fit.to_dict()
    for key in (
        "n",
        "chisq",
        "df",
        "p",
        "cfi",
        "tli",
        "rmsea",
        "rmsea_ci90",
        "srmr",
        "aic",
        "bic",
        "loglik",
        "npar",
        "std_loadings",
        "loadings",
        "composite_reliability",
        "ave",
        "factor_correlations",
        "converged",
        "warnings",
    ):
        assert key in d, key
    assert isinstance(d["rmsea_ci90"], list) and len(d["rmsea_ci90"]) == 2
    assert isinstance(d["converged"], bool) and isinstance(d["warnings"], list)
    assert type(d["chisq"]) is float and type(d["df"]) is int
    assert set(d["std_loadings"]) == set(ITEMS)
    assert set(d["factor_correlations"]["REL"]) == set(DIMS)
    assert json.loads(json.dumps(d, allow_nan=False)) == d


def test_result_is_frozen(fit):
    with pytest.raises(AttributeError):
        fit.chisq = 0.0


def test_summary_is_readable(fit):
    s = fit.summary()
    assert "CFI = 0.968" in s and "RMSEA = 0.039" in s and "SRMR = 0.030" in s
    assert "REL4" in s and "AVE" in s


# --------------------------------------------------------------------------------------
# bad inputs
# --------------------------------------------------------------------------------------
def test_missing_columns(data):
    with pytest.raises(ValueError, match="items not in the data: NOPE1, NOPE2"):
        cfa(data, {**MODEL, "X": ["NOPE1", "NOPE2"]})
    mo = Moments.from_frame(data, ITEMS[:8])
    with pytest.raises(ValueError, match="items not in the moments: COM1"):
        cfa(mo, MODEL)


def test_too_few_rows(data):
    small = data.dropna(subset=ITEMS).iloc[:45]
    with pytest.raises(ValueError, match=r"too few complete rows: 45.*50 free parameters"):
        cfa(small, MODEL)


def test_constant_item(data):
    d = data.dropna(subset=ITEMS).copy()
    d["REL2"] = 4
    with pytest.raises(ValueError, match="constant item.*REL2"):
        cfa(d, MODEL)


def test_singular_covariance(data):
    d = data.dropna(subset=ITEMS).copy()
    d["COPY"] = d["REL1"]
    with pytest.raises(ValueError, match="singular.*REL1.*COPY|singular.*COPY.*REL1"):
        cfa(d, {**MODEL, "REL": ["REL1", "REL2", "REL3", "REL4", "COPY"]})


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({}, "non-empty mapping"),
        ({"F": ["REL1"]}, "at least 2 items"),
        ({"F": "REL1 REL2 REL3"}, "must be a list of item ids"),
        ({"F": ["REL1", "REL2"], "G": ["REL2", "REL3"]}, "listed under both"),
        ({"F": ["REL1", "REL2"]}, "not identified"),
    ],
)
def test_bad_models(data, model, message):
    with pytest.raises(ValueError, match=message):
        cfa(data, model)


def test_bad_data_type():
    with pytest.raises(ValueError, match="DataFrame or a Moments"):
        cfa(np.zeros((10, 3)), {"F": ["a", "b", "c"]})


def test_non_convergence_is_reported(data, monkeypatch):
    import dataclasses

    from analysis import _sem

    real = _sem.estimate

    def not_converged(*args, **kwargs):
        est = real(*args, **kwargs)
        return dataclasses.replace(
            est, converged=False, message="did not converge (iteration limit)"
        )

    monkeypatch.setattr(_sem, "estimate", not_converged)
    res = cfa(data, MODEL)
    assert res.converged is False
    assert any("did not converge" in w for w in res.warnings)
    assert "NOT CONVERGED" in res.summary()
