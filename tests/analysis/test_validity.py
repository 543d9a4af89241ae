"""HTMT, Fornell-Larcker, second-order CFA, reliabilityL2 and omega hierarchical against R.

The reference is ``tests/reference/validity_reference.json`` from ``make_validity.R``
(semTools::htmt, lavaan::cfa, semTools::reliabilityL2, psych::omega) on psychTools' bfi,
lavaan's HolzingerSwineford1939 and the product's synthetic reference data.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis._result import AnalysisError
from analysis.cfa import cfa
from analysis.hierarchy import omega_hierarchical, second_order_cfa, single_index
from analysis.moments import Moments
from analysis.validity import fornell_larcker, htmt, validity
from tests.reference_data import REF_DIR, REVERSED

REF = json.loads((REF_DIR / "validity_reference.json").read_text(encoding="utf-8"))
CASES = ["bfi", "hs", "trust"]


def _case(name: str) -> tuple[dict, pd.DataFrame, dict, list[str]]:
    r = REF[name]
    if name == "bfi":
        d = pd.read_csv(REF_DIR / "data" / "bfi_psychTools.csv")
        for c in ["A1", "C4", "C5", "E1", "E2", "O2", "O5"]:
            d[c] = 7 - d[c]
    elif name == "hs":
        d = pd.read_csv(REF_DIR / "data" / "holzinger_swineford.csv")
    else:
        d = pd.read_csv(REF_DIR / "trust_synthetic.csv")
        for c in REVERSED:
            d[c] = 8 - d[c]
    model = {f: list(v) for f, v in r["model"].items()}
    items = [i for f in model for i in model[f]]
    return r, d, model, items


@pytest.fixture(scope="module", params=CASES)
def case(request):
    return _case(request.param)


def _close(a: float, b: float, rel: float) -> None:
    assert a == pytest.approx(b, rel=rel, abs=rel * 1e-3), (a, b)


def test_reference_row_counts(case):
    r, d, model, items = case
    assert len(d[items].dropna()) == r["n"]


def test_htmt_both_variants(case):
    r, d, model, items = case
    for htmt2, key in ((True, "htmt2"), (False, "htmt")):
        h = htmt(d, model, htmt2=htmt2)  # listwise inside, like semTools
        for a in model:
            for b in model:
                _close(h[a][b], r[key][a][b], 1e-6)


def test_htmt_from_moments_equals_frame(case):
    r, d, model, items = case
    h = htmt(Moments.from_frame(d, items), model)
    for a in model:
        for b in model:
            _close(h[a][b], r["htmt2"][a][b], 1e-6)


def test_fornell_larcker_table(case):
    r, d, model, items = case
    c = cfa(d[items], model)
    fl = fornell_larcker(c)
    assert (fl["n"], fl["estimator"], fl["missing"]) == (r["n"], "ml", "listwise")
    for f in model:
        _close(fl["ave"][f], r["ave_fornell_larcker"][f], 1e-4)
        _close(fl["table"][f][f], r["sqrt_ave"][f], 1e-4)
        for g in model:
            if g != f:
                _close(fl["table"][f][g], r["factor_correlations"][f][g], 1e-4)
                expect = r["sqrt_ave"][f] > abs(r["factor_correlations"][f][g]) and r["sqrt_ave"][
                    g
                ] > abs(r["factor_correlations"][f][g])
                assert fl["holds"][f][g] == expect


FIT_KEYS = [
    ("chisq", "chisq"),
    ("cfi", "cfi"),
    ("tli", "tli"),
    ("rmsea", "rmsea"),
    ("srmr", "srmr"),
    ("aic", "aic"),
    ("bic", "bic"),
    ("loglik", "logl"),
]


def test_second_order_fit_matches_lavaan(case):
    r, d, model, items = case
    so = second_order_cfa(d, model)
    ref = r["second_order"]
    assert so.converged and ref["converged"]
    assert so.df == ref["fit"]["df"] and so.npar == ref["fit"]["npar"]
    assert so.n == r["n"]
    for ours, theirs in FIT_KEYS:
        _close(getattr(so, ours), ref["fit"][theirs], 1e-5)
    _close(so.rmsea_ci90[0], ref["fit"]["rmsea.ci.lower"], 1e-5)
    _close(so.rmsea_ci90[1], ref["fit"]["rmsea.ci.upper"], 1e-5)
    for f in model:
        _close(so.std_second_order_loadings[f], ref["second_order_std"][f], 1e-4)
    for it in items:
        _close(so.std_loadings[it], ref["first_order_std"][it], 1e-4)


def test_reliability_l2_matches_semtools(case):
    r, d, model, items = case
    so = second_order_cfa(d, model)
    ref = r["second_order"]["reliabilityL2"]
    _close(so.omega_l1, ref["omegaL1"], 1e-4)
    _close(so.omega_l2, ref["omegaL2"], 1e-4)
    _close(so.partial_omega_l1, ref["partialOmegaL1"], 1e-4)


def test_omega_hierarchical_matches_psych(case):
    r, d, model, items = case
    om = omega_hierarchical(d, items, nfactors=len(model))
    ref = r["omega"]
    assert om.n == r["n"]
    _close(om.omega_h, ref["omega_h"], 1e-3)
    _close(om.omega_total, ref["omega_tot"], 1e-3)
    _close(om.ecv, ref["ecv"], 1e-3)
    _close(om.alpha, ref["alpha"], 1e-6)
    _close(om.omega_limit, ref["omega_lim"], 1e-3)
    for it in items:
        assert om.g_loadings[it] == pytest.approx(ref["g_loadings"][it], abs=1e-3)
    assert set(om.flipped) == {it for it, k in ref["key"].items() if k < 0}


def test_just_identified_second_order_equals_first_order():
    r, d, model, items = _case("hs")
    so = second_order_cfa(d, model)
    c = cfa(d[items], model)
    assert so.df == c.df
    assert so.chisq == pytest.approx(c.chisq, rel=1e-6)
    assert "just identified" in so.identified


def test_single_index_decisions():
    # the synthetic data were generated with one general trust factor
    r, d, model, _ = _case("trust")
    res = single_index(d, model, index_name="Trust Index")
    assert res.decision == "supported"
    assert res.verdict.startswith("A single Trust Index is supported")
    # bfi: five distinct traits, omega_h .47
    r, d, model, _ = _case("bfi")
    res = single_index(d, model, index_name="Big Five index")
    assert res.decision == "not supported"
    assert "below .50" in res.verdict
    # two dimensions: no second-order model
    res = single_index(d, {"A": model["A"], "C": model["C"]})
    assert res.decision == "not evaluated"
    assert res.second_order is None


def test_validity_verdicts():
    r, d, model, items = _case("bfi")
    c = cfa(d[items], model)
    v = validity(d, model, c)
    assert v.n == r["n"]
    low = [f for f in model if c.ave[f] < 0.5]  # the AVE the CFA reports
    assert low  # bfi's AVEs are low
    assert any("AVE" in s and all(f in s for f in low) for s in v.verdicts)
    assert any("HTMT is at most .85" in s for s in v.verdicts)
    out = v.to_dict()
    assert set(out["htmt"]) == set(model)
    assert out["fornell_larcker"]["table"]["A"]["A"] == pytest.approx(r["sqrt_ave"]["A"], rel=1e-4)


def test_htmt_verdict_for_indistinct_dimensions():
    rng = np.random.default_rng(1)
    n = 400
    f = rng.normal(size=n)
    cols = {f"a{i}": f + rng.normal(scale=0.6, size=n) for i in range(3)}
    cols.update({f"b{i}": f + rng.normal(scale=0.6, size=n) for i in range(3)})
    d = pd.DataFrame(cols)
    model = {"A": ["a0", "a1", "a2"], "B": ["b0", "b1", "b2"]}
    v = validity(d, model)
    assert v.htmt["A"]["B"] > 0.85
    assert any("HTMT is above .85" in s and "A-B" in s for s in v.verdicts)


def test_improper_solution_flagged():
    class Fake:
        factors = ("A", "B")
        model = {"A": ("a0", "a1"), "B": ("b0", "b1")}
        std_loadings = {"a0": 1.05, "a1": 0.6, "b0": 0.7, "b1": 0.7}
        factor_correlations = {"A": {"A": 1.0, "B": 0.3}, "B": {"A": 0.3, "B": 1.0}}
        converged = True
        warnings = ("Heywood case: negative residual variance for a0 (-0.1)",)

    rng = np.random.default_rng(2)
    d = pd.DataFrame(rng.normal(size=(50, 4)), columns=["a0", "a1", "b0", "b1"])
    v = validity(d, {"A": ["a0", "a1"], "B": ["b0", "b1"]}, Fake())
    assert v.improper_solution
    assert any("improper" in s for s in v.verdicts)


@pytest.mark.parametrize(
    "bad, msg",
    [
        ({"A": ["x1", "nope", "x3"], "B": ["x4", "x5", "x6"]}, "not in the data"),
        ({"A": ["x1"], "B": ["x4", "x5", "x6"]}, "at least 2 items"),
    ],
)
def test_bad_input_is_a_clear_error(bad, msg):
    d = pd.read_csv(REF_DIR / "data" / "holzinger_swineford.csv")
    with pytest.raises(AnalysisError, match=msg):
        htmt(d, bad)


def test_second_order_needs_three_dimensions():
    d = pd.read_csv(REF_DIR / "data" / "holzinger_swineford.csv")
    with pytest.raises(AnalysisError, match="at least 3 dimensions"):
        second_order_cfa(d, {"A": ["x1", "x2", "x3"], "B": ["x4", "x5", "x6"]})
    with pytest.raises(AnalysisError, match="not meaningful"):
        omega_hierarchical(d, ["x1", "x2", "x3"], nfactors=1)


def test_single_index_compares_ml_with_ml():
    from types import SimpleNamespace

    r, d, model, items = _case("trust")
    # a WLSMV (or FIML, or other-rows) CFA is not comparable: the ML fit is redone
    wlsmv = SimpleNamespace(
        cfi=0.5,
        estimator="wlsmv",
        missing="listwise",
        n=r["n"],
        std_loadings={},
        warnings=(),
        converged=True,
    )
    res = single_index(d, model, cfa_result=wlsmv)
    assert res.correlated_cfi == pytest.approx(r["cfa_fit"]["cfi"], rel=1e-6)
    ml = cfa(d[items], model)
    assert single_index(d, model, cfa_result=ml).correlated_cfi == ml.cfi


def _random_survey(seed: int, m: int, k: int, n: int) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    g = rng.normal(size=n)
    cols, model = {}, {}
    for j in range(m):
        f = rng.uniform(-0.9, 0.9) * g + rng.normal(size=n)
        model[f"D{j}"] = [f"D{j}_{i}" for i in range(k)]
        for it in model[f"D{j}"]:
            cols[it] = np.clip(np.round(4 + rng.uniform(0, 1.5) * f + rng.normal(size=n)), 1, 7)
    return pd.DataFrame(cols), model


@pytest.mark.parametrize("seed", range(8))
def test_single_index_on_small_awkward_data_decides_without_crashing(seed):
    # small n, 2-3 items per dimension, general loadings of either sign: improper or
    # ill-conditioned solutions must end in a decision with reasons, never a traceback
    d, model = _random_survey(seed, m=3 + seed % 3, k=2 + seed % 2, n=40 + 20 * seed)
    res = single_index(d, model)
    assert res.decision in {"supported", "weakly supported", "not supported"}
    assert res.omega is not None and res.second_order is not None
    assert res.reasons and res.verdict.endswith(".")
    res.to_dict()
