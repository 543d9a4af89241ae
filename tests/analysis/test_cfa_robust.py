"""MLR, FIML, the full parameter table, modification indices and semTools' CR/AVE against R.

The reference is ``tests/reference/cfa_robust_reference.json``, written by
``tests/reference/make_cfa_robust.R`` (lavaan 0.6-14, semTools 0.5-6) on bfi
(psychTools), HolzingerSwineford1939 (lavaan), the reference survey and a copy of it with
8% of every item missing completely at random (``data/trust_mcar8.csv``). The tests read
the JSON; they never run R.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.cfa import cfa
from analysis.moments import Moments
from tests.reference_data import DIMS, MODEL, REF_DIR, raw_data, reverse_keyed

R = json.loads((REF_DIR / "cfa_robust_reference.json").read_text(encoding="utf-8"))

BFI_MODEL = {f: [f"{f}{i}" for i in range(1, 6)] for f in "ACENO"}
HS_MODEL = {
    "visual": ["x1", "x2", "x3"],
    "textual": ["x4", "x5", "x6"],
    "speed": ["x7", "x8", "x9"],
}
MODES = {
    "ml": ("ml", "listwise"),
    "mlr": ("mlr", "listwise"),
    "fiml": ("ml", "fiml"),
    "fiml_mlr": ("mlr", "fiml"),
}


def _bfi() -> pd.DataFrame:
    d = pd.read_csv(REF_DIR / "data" / "bfi_psychTools.csv")
    for v in ("A1", "C4", "C5", "E1", "E2", "O2", "O5"):  # psych's bfi.keys, 1..6 scale
        d[v] = 7 - d[v]
    return d


DATA = {
    "bfi": (_bfi, BFI_MODEL),
    "hs": (lambda: pd.read_csv(REF_DIR / "data" / "holzinger_swineford.csv"), HS_MODEL),
    "trust": (lambda: reverse_keyed(raw_data()), MODEL),
    "trust_mcar8": (lambda: pd.read_csv(REF_DIR / "data" / "trust_mcar8.csv"), MODEL),
}
CASES = [(c, m) for c in DATA for m in MODES]
_cache: dict = {}


def fitted(case: str, mode: str):
    if (case, mode) not in _cache:
        load, model = DATA[case]
        est, miss = MODES[mode]
        _cache[(case, mode)] = cfa(load(), model, estimator=est, missing=miss)
    return _cache[(case, mode)]


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-12)


FIT = {
    "chisq": "chisq",
    "cfi": "cfi",
    "tli": "tli",
    "rmsea": "rmsea",
    "srmr": "srmr",
    "loglik": "logl",
    "unrestricted_loglik": "unrestricted.logl",
    "aic": "aic",
    "bic": "bic",
    "baseline_chisq": "baseline.chisq",
}
SCALED = {
    "chisq_scaled": "chisq.scaled",
    "scaling_factor": "chisq.scaling.factor",
    "p_scaled": "pvalue.scaled",
    "baseline_chisq_scaled": "baseline.chisq.scaled",
    "cfi_scaled": "cfi.scaled",
    "tli_scaled": "tli.scaled",
    "rmsea_scaled": "rmsea.scaled",
}
ROBUST = {"cfi_robust": "cfi.robust", "tli_robust": "tli.robust", "rmsea_robust": "rmsea.robust"}


@pytest.mark.parametrize(("case", "mode"), CASES)
def test_fit_measures_agree_with_lavaan(case, mode):
    res, r = fitted(case, mode), R[case][mode]
    est, miss = MODES[mode]
    assert res.estimator == est and res.missing == miss
    assert res.n == r["nobs"] == r["fit"]["ntotal"]
    assert res.npar == r["fit"]["npar"] and res.df == r["fit"]["df"]
    assert res.converged
    for ours, theirs in FIT.items():
        # χ², log L and what follows from them are stationary at the optimum (agree to
        # ~1e-10); SRMR moves with lavaan's convergence tolerance (~1e-5 in the estimates)
        tol = 1e-4 if ours == "srmr" else 1e-6
        assert rel(getattr(res, ours), r["fit"][theirs]) < tol, ours
    if est == "mlr":
        for ours, theirs in SCALED.items():
            assert rel(getattr(res, ours), r["fit"][theirs]) < 1e-5, ours
        assert res.df_scaled == r["fit"]["df.scaled"]
        assert res.chisq_scaled != pytest.approx(res.chisq, rel=1e-3)  # a real correction
    else:
        assert np.isnan(res.chisq_scaled)
    if mode != "ml":  # robust CFI/TLI/RMSEA: Brosseau-Liard & Savalei with complete data,
        # the FIML-corrected ones (lav_fit_fiml_corrected, V6 with ML, V3 with MLR) with FIML
        # (the FIML-corrected statistic is not stationary at the optimum: it moves with
        # lavaan's convergence tolerance, ~6e-6 here)
        tol = 1e-5 if miss == "listwise" else 1e-4
        for ours, theirs in ROBUST.items():
            assert rel(getattr(res, ours), r["fit"][theirs]) < tol, ours
    else:
        assert np.isnan(res.cfi_robust)


@pytest.mark.parametrize(("case", "mode"), CASES)
def test_parameter_table_agrees_with_parameter_estimates(case, mode):
    res, r = fitted(case, mode), R[case][mode]
    theirs = {(x["lhs"], x["op"], x["rhs"]): x for x in r["parameters"]}
    assert len(res.parameters) == len(theirs)
    se_type = {
        "ml": "expected",
        "mlr": "robust.huber.white",
        "fiml": "observed",
        "fiml_mlr": "robust.huber.white",
    }[mode]
    assert res.se_type == se_type
    for row in res.parameters:
        assert set(row) == {"lhs", "op", "rhs", "est", "se", "z", "pvalue", "std_all"}
        t = theirs[(row["lhs"], row["op"], row["rhs"])]
        for k, rk in (
            ("est", "est"),
            ("se", "se"),
            ("z", "z"),
            ("pvalue", "pvalue"),
            ("std_all", "std.all"),
        ):
            if t[rk] is None:  # the marker loading: fixed, no z or p
                assert np.isnan(row[k])
            elif k == "pvalue":
                assert abs(row[k] - t[rk]) < 1e-4 + 1e-3 * t[rk], (row, t)
            else:
                assert abs(row[k] - t[rk]) <= 2e-4 * abs(t[rk]) + 1e-9, (k, row, t)


@pytest.mark.parametrize(("case", "mode"), CASES)
def test_r2_cr_and_ave_agree_with_lavaan_and_semtools(case, mode):
    res, r = fitted(case, mode), R[case][mode]
    for it, v in r["r2"].items():
        assert rel(res.r2[it], v) < 1e-4
    for f, v in r["compRelSEM"].items():
        assert rel(res.composite_reliability[f], v) < 1e-4
    for f, v in r["AVE"].items():
        assert rel(res.ave[f], v) < 1e-4


@pytest.mark.parametrize("case", list(DATA))
@pytest.mark.parametrize("mode", list(MODES))
def test_modification_indices_agree_with_modindices(case, mode):
    res, r = fitted(case, mode), R[case][mode]
    theirs = {}
    for x in r["modindices"]:
        theirs[(x["lhs"], x["op"], x["rhs"])] = x
        if x["op"] == "~~":
            theirs[(x["rhs"], x["op"], x["lhs"])] = x
    mi = res.modification_indices
    assert len(mi) == len(r["modindices"])
    assert [m["mi"] for m in mi] == sorted((m["mi"] for m in mi), reverse=True)
    for row in mi[:30]:
        t = theirs[(row["lhs"], row["op"], row["rhs"])]
        assert rel(row["mi"], t["mi"]) < 1e-3, (row, t)
        assert rel(row["epc"], t["epc"]) < 1e-3, (row, t)
    top = r["modindices"][0]
    assert {(mi[0]["lhs"], mi[0]["rhs"]), (mi[0]["rhs"], mi[0]["lhs"])} & {(top["lhs"], top["rhs"])}


def test_fiml_uses_every_row_that_listwise_drops():
    ml = fitted("trust_mcar8", "ml")
    fi = fitted("trust_mcar8", "fiml")
    assert ml.n == 354 and ml.n_rows == 3000 and ml.missing == "listwise"
    assert fi.n == 3000 and fi.n_rows == 3000


def test_mlr_and_fiml_need_raw_data():
    mo = Moments.from_frame(reverse_keyed(raw_data()), [it for d in DIMS for it in MODEL[d]])
    assert cfa(mo, MODEL).n == mo.n  # ML from the moments still works
    for kw in ({"estimator": "mlr"}, {"missing": "fiml"}):
        with pytest.raises(ValueError, match="needs the raw data"):
            cfa(mo, MODEL, **kw)


@pytest.mark.parametrize(
    "kw", [{"estimator": "gls"}, {"missing": "pairwise"}, {"estimator": "wlsmv", "missing": "fiml"}]
)
def test_unknown_options_are_clear_errors(kw):
    with pytest.raises(ValueError, match="estimator|missing"):
        cfa(reverse_keyed(raw_data()), MODEL, **kw)


def test_to_dict_carries_the_new_keys():
    d = fitted("hs", "mlr").to_dict()
    for k in (
        "estimator",
        "missing",
        "n",
        "parameters",
        "r2",
        "modification_indices",
        "chisq_scaled",
        "scaling_factor",
        "cfi_robust",
        "tli_robust",
        "rmsea_robust",
        "composite_reliability",
        "ave",
        "composite_reliability_fl",
        "ave_fl",
    ):
        assert k in d
    assert d["estimator"] == "mlr" and d["missing"] == "listwise"
    json.dumps(d, allow_nan=False)


# ------------------------------------------------------------------------------------
# trustmeter analyze with 8% missing answers per item
# ------------------------------------------------------------------------------------
def _analyze_mcar(tmp, *extra):
    from click.testing import CliRunner

    from survey.cli import main

    rng = np.random.default_rng(20261202)
    d = raw_data()
    items = [it for f in DIMS for it in MODEL[f]]
    for it in items:  # 8% of each trust item missing completely at random
        d.loc[rng.choice(len(d), int(0.08 * len(d)), replace=False), it] = np.nan
    csv = tmp / "mcar8.csv"
    d.to_csv(csv, index=False)
    res = CliRunner().invoke(
        main,
        [
            "analyze",
            str(csv),
            "--instrument",
            str(REF_DIR / "trust_synthetic.yaml"),
            "--keep-careless",
            "--n-boot",
            "0",
            "--json",
            str(tmp / "out.json"),
            "--html",
            str(tmp / "out.html"),
            *extra,
        ],
    )
    assert res.exit_code == 0, res.output
    return res.output, json.loads((tmp / "out.json").read_text()), (tmp / "out.html").read_text()


@pytest.fixture(scope="module")
def mcar_listwise(tmp_path_factory):
    return _analyze_mcar(tmp_path_factory.mktemp("lw"))


@pytest.fixture(scope="module")
def mcar_fiml(tmp_path_factory):
    return _analyze_mcar(tmp_path_factory.mktemp("fiml"), "--missing", "fiml", "--estimator", "mlr")


def test_analyze_with_missing_data_reports_the_n_used_and_warns(mcar_listwise):
    out, js, html = mcar_listwise
    c = js["cfa"]
    n_all = js["n_responses"]
    assert c["estimator"] == "ml" and c["missing"] == "listwise"
    assert c["n"] == js["n_complete"] < 0.5 * n_all  # most rows have some item missing
    assert js["settings"]["missing"] == "listwise" and js["settings"]["estimator"] == "ml"
    assert f"n used: {js['n_complete']} complete rows" in out
    assert f"CFA n = {c['n']} (listwise, ml)" in out
    assert f"listwise deletion kept only {js['n_complete']} of {n_all} responses" in out
    assert "--missing fiml" in out


def test_analyze_fiml_uses_every_response(mcar_fiml):
    out, js, html = mcar_fiml
    c = js["cfa"]
    assert c["estimator"] == "mlr" and c["missing"] == "fiml"
    assert c["n"] == js["n_responses"]
    assert c["chisq_scaled"] is not None and c["parameters"] and c["r2"]
    assert f"CFA n = {c['n']} (FIML, mlr)" in out
    assert f"the CFA used all n = {c['n']} responses by FIML" in out
    assert f"n = {c['n']} by FIML" in out  # the CFA verdict names its n


def test_html_gives_the_cfa_n_parameter_table_and_factor_correlations(mcar_listwise, mcar_fiml):
    for (_, js, html), how in ((mcar_listwise, "listwise"), (mcar_fiml, "FIML")):
        c = js["cfa"]
        assert f"CFA n = {c['n']} ({how}, {c['estimator'].upper()})" in html  # the header
        assert f"Parameter estimates (n = {c['n']}" in html
        assert f"Factor correlations (CFA, n = {c['n']})" in html
        assert "style=" not in html and "<script>" not in html
        hon = next(r for r in c["parameters"] if r["lhs"] == "HON" and r["rhs"] == "HON2")
        assert f"<td>{hon['est']:.3f}</td><td>{hon['se']:.3f}</td>" in html
    assert "Largest modification indices" in mcar_listwise[2]
    assert "Yuan-Bentler scaled" in mcar_fiml[2]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.assign(x3=np.nan), "x3 is constant or has fewer than 2 numeric answers"),
        (lambda d: d.assign(x1=1.0), "x1 is constant"),
        (lambda d: d.head(10), "too few rows with any answer: 10"),
    ],
)
def test_fiml_bad_input_is_a_clear_error(mutate, message):
    hs = pd.read_csv(REF_DIR / "data" / "holzinger_swineford.csv")
    with pytest.raises(ValueError, match=message):
        cfa(mutate(hs), HS_MODEL, missing="fiml")
