"""Tests for analysis.ordinal (polychoric correlations, WLSMV CFA) and ordinal alpha/omega.

R's numbers come from tests/reference/make_ordinal.R (lavaan 0.6-14, psych 2.2.9,
semTools 0.5-6), stored in tests/reference/ordinal_reference.json; the data it used are
tests/reference/data/bfi_items_complete.csv (psychTools::bfi, 25 items, complete rows),
tests/reference/data/bfi_C_3cat.csv (bfi's C items collapsed to 3 categories) and
tests/reference/trust_synthetic.csv. In R:

    fit <- cfa(model, data = x, ordered = TRUE, estimator = "WLSMV")
    fitMeasures(fit); parameterEstimates(fit, standardized = TRUE)
    lavCor(x, ordered = names(x), output = "fit")          # polychoric + thresholds
    psych::alpha(psych::polychoric(x)$rho)$total$raw_alpha  # ordinal alpha
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from reference_data import DIMS, ITEMS, MODEL, instrument, raw_data, reverse_keyed
from scipy import integrate, stats

from analysis import AnalysisError
from analysis.cfa import CFAResult
from analysis.ordinal import bvn_cdf, cfa_wlsmv, polychoric
from analysis.reliability import reliability, reliability_by_dimension

REF = Path(__file__).parents[1] / "reference"
BFI_REVERSED = ["A1", "C4", "C5", "E1", "E2", "O2", "O5"]
BFI_MODEL = {f: [f"{f}{i}" for i in range(1, 6)] for f in "ACENO"}


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((REF / "ordinal_reference.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def bfi_raw() -> pd.DataFrame:
    return pd.read_csv(REF / "data" / "bfi_items_complete.csv")


@pytest.fixture(scope="module")
def bfi(bfi_raw) -> pd.DataFrame:
    out = bfi_raw.copy()
    for c in BFI_REVERSED:  # as make_ordinal.R: 7 - x on the 1..6 scale
        out[c] = 7 - out[c]
    return out


@pytest.fixture(scope="module")
def trust() -> pd.DataFrame:
    return reverse_keyed(raw_data())[ITEMS]


@pytest.fixture(scope="module")
def coarse() -> pd.DataFrame:
    return pd.read_csv(REF / "data" / "bfi_C_3cat.csv")


@pytest.fixture(scope="module")
def zero_cell() -> pd.DataFrame:
    return pd.read_csv(REF / "data" / "zero_cell.csv")


@pytest.fixture(scope="module")
def fits(bfi, trust, coarse, zero_cell) -> dict:
    return {
        "bfi": cfa_wlsmv(bfi, BFI_MODEL),
        "trust": cfa_wlsmv(trust, MODEL),
        "coarse": cfa_wlsmv(coarse, {"C": [f"C{i}" for i in range(1, 6)]}),
        "zero_cell": cfa_wlsmv(zero_cell, {"F": ["a", "b", "c", "e"]}),
    }


# ------------------------------------------------------------------------------------
# bivariate normal CDF
# ------------------------------------------------------------------------------------
def _bvn_quad(h: float, k: float, r: float) -> float:
    # Plackett's identity: Φ2(h, k, r) = Φ(h)Φ(k) + ∫_0^r φ2(h, k, t) dt
    def f(t):
        return math.exp(-(h * h - 2 * t * h * k + k * k) / (2 * (1 - t * t))) / (
            2 * math.pi * math.sqrt(1 - t * t)
        )

    return (
        stats.norm.cdf(h) * stats.norm.cdf(k)
        + integrate.quad(f, 0, r, epsabs=1e-14, epsrel=1e-12, limit=200)[0]
    )


@pytest.mark.parametrize("r", [-0.995, -0.95, -0.6, -0.1, 0.0, 0.2, 0.5, 0.8, 0.93, 0.999])
def test_bvn_cdf_matches_quadrature(r):
    rng = np.random.default_rng(int(abs(r) * 1000))
    h, k = rng.normal(scale=1.5, size=12), rng.normal(scale=1.5, size=12)
    expected = [_bvn_quad(a, b, r) for a, b in zip(h, k, strict=True)]
    assert_allclose(bvn_cdf(h, k, r), expected, rtol=0, atol=1e-12)


def test_bvn_cdf_infinite_limits():
    got = bvn_cdf([np.inf, -np.inf, 0.3, np.inf], [0.5, 0.2, np.inf, np.inf], 0.4)
    assert_allclose(got, [stats.norm.cdf(0.5), 0.0, stats.norm.cdf(0.3), 1.0], atol=1e-15)


# ------------------------------------------------------------------------------------
# polychoric correlations, thresholds and Γ
# ------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["bfi", "trust", "coarse", "zero_cell"])
def test_polychoric_matches_lavcor(case, ref, bfi_raw, trust, coarse, zero_cell):
    data = {"bfi": bfi_raw, "trust": trust.dropna(), "coarse": coarse, "zero_cell": zero_cell}[case]
    r = ref[case]["poly_raw"] if case == "bfi" else ref[case]["poly"]
    res = polychoric(data)
    assert res.n == r["n"]
    assert list(res.items) == r["items"]
    # ML correlations (iterative): lavaan's nlminb and our Fisher scoring agree to ~4e-8
    assert_allclose(res.matrix, np.array(r["rho"]), rtol=0, atol=1e-6)
    # thresholds are closed form: qnorm of the cumulative proportions
    th = np.concatenate([res.thresholds[i] for i in res.items])
    assert_allclose(th, r["th"], rtol=1e-10, atol=1e-12)
    # psych::polychoric (optimize() with tolerance ~1e-4, sadmvn) agrees to about 1e-4,
    # except where lavaan corrects an empty cell of a 2 x 2 table and psych does not
    if case != "zero_cell":
        assert_allclose(res.matrix, np.array(r["psych_rho"]), rtol=0, atol=2e-4)


def test_polychoric_gamma_matches_lavaan_nacov(ref, bfi):
    res = polychoric(bfi, acov=True)
    g = res.gamma
    r = ref["bfi"]["cfa"]
    assert g.shape == (len(r["gamma_diag"]),) * 2
    assert_allclose(np.diag(g), r["gamma_diag"], rtol=1e-5)
    assert_allclose(g[-1], r["gamma_last_row"], rtol=1e-5, atol=1e-7)
    assert_allclose(g, g.T, atol=1e-9)


def test_polychoric_listwise_and_json(trust):
    res = polychoric(trust)
    assert res.n == int(trust.notna().all(axis=1).sum())
    assert res.gamma is None
    d = res.to_dict()
    json.dumps(d)
    assert set(d) == {"items", "n", "rho", "thresholds", "categories", "converged", "warnings"}
    assert d["categories"]["REL1"] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert "Polychoric" in res.summary()


def test_polychoric_recovers_generating_correlation():
    rng = np.random.default_rng(7)
    z = rng.multivariate_normal([0, 0], [[1, 0.6], [0.6, 1]], size=20000)
    cuts = [-1.0, -0.2, 0.5, 1.3]
    x = pd.DataFrame({"a": np.digitize(z[:, 0], cuts) + 1, "b": np.digitize(z[:, 1], cuts) + 1})
    res = polychoric(x)
    assert abs(res.rho["a"]["b"] - 0.6) < 0.02  # sampling error at n = 20000 is ~0.006
    assert_allclose(res.thresholds["a"], cuts, atol=0.04)


# ------------------------------------------------------------------------------------
# WLSMV CFA
# ------------------------------------------------------------------------------------
FIT_KEYS = [  # (our attribute, lavaan's fitMeasures name)
    ("chisq", "chisq"),
    ("df", "df"),
    ("npar", "npar"),
    ("chisq_scaled", "chisq.scaled"),
    ("df_scaled", "df.scaled"),
    ("scaling_factor", "chisq.scaling.factor"),
    ("shift_parameter", "shift.parameter"),
    ("baseline_chisq", "baseline.chisq"),
    ("baseline_df", "baseline.df"),
    ("baseline_chisq_scaled", "baseline.chisq.scaled"),
    ("cfi", "cfi"),
    ("tli", "tli"),
    ("cfi_scaled", "cfi.scaled"),
    ("tli_scaled", "tli.scaled"),
    ("rmsea", "rmsea"),
    ("rmsea_scaled", "rmsea.scaled"),
    ("srmr", "srmr"),
]


@pytest.mark.parametrize("case", ["bfi", "trust", "coarse", "zero_cell"])
def test_wlsmv_fit_measures_match_lavaan(case, fits, ref):
    res, r = fits[case], ref[case]["cfa"]
    assert isinstance(res, CFAResult)
    assert res.estimator == "wlsmv" and res.missing == "listwise"
    assert res.n == r["n"] and res.converged
    for ours, theirs in FIT_KEYS:
        assert_allclose(getattr(res, ours), r["fit"][theirs], rtol=1e-5, err_msg=ours)
    assert_allclose(
        res.rmsea_ci90, [r["fit"]["rmsea.ci.lower"], r["fit"]["rmsea.ci.upper"]], rtol=1e-5
    )
    assert_allclose(res.p_scaled, r["fit"]["pvalue.scaled"], atol=1e-8)


@pytest.mark.parametrize("case", ["bfi", "trust", "coarse", "zero_cell"])
def test_wlsmv_parameters_match_lavaan(case, fits, ref):
    res, r = fits[case], ref[case]["cfa"]
    theirs = {(p["lhs"], p["op"], p["rhs"]): p for p in r["parameters"]}
    # lavaan also lists fixed rows we leave out: intercepts/latent means (~1, fixed 0)
    # and the scaling factors of the delta parameterization (~*~, fixed 1)
    assert len(res.parameters) == sum(1 for p in r["parameters"] if p["op"] not in ("~*~", "~1"))
    for p in res.parameters:
        q = theirs[(p["lhs"], p["op"], p["rhs"])]
        key = f"{p['lhs']} {p['op']} {p['rhs']}"
        assert_allclose(p["est"], q["est"], rtol=1e-4, atol=1e-6, err_msg=key)
        assert_allclose(p["std_all"], q["std.all"], rtol=1e-4, atol=1e-6, err_msg=key)
        if q["se"] == 0:  # fixed: markers, residual variances of the latent responses
            assert p["se"] == 0 and math.isnan(p["z"])
        else:
            assert_allclose(p["se"], q["se"], rtol=1e-4, err_msg=key)
            assert_allclose(p["z"], q["z"], rtol=1e-4, err_msg=key)
            assert_allclose(p["pvalue"], q["pvalue"], rtol=1e-3, atol=1e-10, err_msg=key)


@pytest.mark.parametrize("case", ["bfi", "trust", "coarse", "zero_cell"])
def test_wlsmv_r2_cr_ave_match(case, fits, ref):
    res, r = fits[case], ref[case]["cfa"]
    assert_allclose([res.r2[i] for i in r["r2"]], list(r["r2"].values()), rtol=1e-4)
    f = list(res.factors)
    assert_allclose(
        [res.composite_reliability[x] for x in f],
        [r["comprel_latent_response"][x] for x in f],
        rtol=1e-4,
    )
    assert_allclose([res.ave[x] for x in f], [r["ave"][x] for x in f], rtol=1e-4)
    for it in res.items:  # latent-response scale: std loading² + residual = 1
        assert_allclose(res.std_loadings[it] ** 2 + res.residual_variances[it], 1.0)


@pytest.mark.parametrize("case", ["bfi", "trust", "coarse", "zero_cell"])
def test_wlsmv_modification_indices_match_lavaan(case, fits, ref):
    res, r = fits[case], ref[case]["cfa"]["modindices"]
    ours = {(m["lhs"], m["op"], m["rhs"]): m for m in res.modification_indices}
    assert len(ours) == len(r)  # every cross-loading and residual covariance, as lavaan
    mis = [m["mi"] for m in res.modification_indices]
    assert mis == sorted(mis, reverse=True)
    # largest first, as modindices(sort. = TRUE); labels may swap within (near) ties
    assert_allclose(mis[:10], [m["mi"] for m in r[:10]], rtol=1e-3)
    for m in r:
        if m["mi"] > 1:  # below 1 the MI is dominated by both programs' convergence noise
            o = ours[(m["lhs"], m["op"], m["rhs"])]
            assert_allclose([o["mi"], o["epc"]], [m["mi"], m["epc"]], rtol=1e-3, err_msg=str(m))


def test_wlsmv_result_json_and_summary(fits):
    res = fits["trust"]
    d = res.to_dict()
    text = json.dumps(d)
    assert "NaN" not in text
    for k in (
        "estimator",
        "chisq_scaled",
        "df_scaled",
        "cfi_scaled",
        "tli_scaled",
        "rmsea_scaled",
        "parameters",
        "r2",
        "thresholds",
    ):
        assert k in d
    assert d["loglik"] is None and d["aic"] is None
    s = res.summary()
    assert "WLSMV" in s and "scaled" in s


def test_wlsmv_uses_listwise_complete_rows(trust):
    res = cfa_wlsmv(trust, {"REL": MODEL["REL"]})
    assert res.n == int(trust[MODEL["REL"]].notna().all(axis=1).sum())
    assert res.n < len(trust)


@pytest.mark.parametrize(
    "kwargs, data_fn, match",
    [
        ({"missing": "fiml"}, None, "not available with the WLSMV"),
        ({}, lambda d: d.assign(REL1="x"), "non-numeric"),
        ({}, lambda d: d.assign(REL1=3), "constant"),
        ({}, lambda d: d.assign(REL1=np.arange(len(d)) % 40), "at most 20"),
        ({}, lambda d: d.head(20), "too few complete rows"),
        ({}, lambda d: d.drop(columns="REL2"), "items not in the data"),
    ],
)
def test_wlsmv_bad_input_names_the_problem(trust, kwargs, data_fn, match):
    data = data_fn(trust) if data_fn else trust
    with pytest.raises(AnalysisError, match=match):
        cfa_wlsmv(data, {"REL": MODEL["REL"], "HON": MODEL["HON"]}, **kwargs)


def test_wlsmv_unidentified_model(trust):
    with pytest.raises(AnalysisError, match="not identified"):
        cfa_wlsmv(trust, {"REL": ["REL1", "REL2"]})
    with pytest.raises(AnalysisError, match="at least 2 items"):
        cfa_wlsmv(trust, {"REL": ["REL1"], "HON": MODEL["HON"]})


def test_wlsmv_just_identified_has_no_scaled_test(trust):
    res = cfa_wlsmv(trust, {"REL": ["REL1", "REL2", "REL3"]})
    assert res.df == 0 and math.isnan(res.p) and math.isnan(res.scaling_factor)


# ------------------------------------------------------------------------------------
# ordinal alpha and omega
# ------------------------------------------------------------------------------------
def test_ordinal_alpha_omega_match_psych_trust(ref):
    rel = reliability_by_dimension(raw_data(), instrument())
    for d in DIMS:
        r, R = rel.dimensions[d], ref["trust"]["reliability"][d]
        assert r.n == R["n"]
        assert_allclose(r.alpha_ordinal, R["alpha_ordinal"], rtol=1e-4, err_msg=d)
        assert_allclose(r.omega_ordinal, R["omega_ordinal"], rtol=1e-4, err_msg=d)
        assert r.alpha_ordinal > r.alpha  # the Pearson alpha is attenuated on 7 categories
        d_json = r.to_dict()
        assert {"alpha_ordinal", "omega_ordinal"} <= set(d_json)


def test_ordinal_alpha_omega_match_psych_bfi(ref, bfi):
    for f, items in BFI_MODEL.items():
        r, R = reliability(bfi[items], name=f), ref["bfi"]["reliability"][f]
        assert_allclose(r.alpha, R["alpha_pearson"], rtol=1e-9)
        assert_allclose(r.alpha_ordinal, R["alpha_ordinal"], rtol=1e-4, err_msg=f)
        assert_allclose(r.omega_ordinal, R["omega_ordinal"], rtol=1e-4, err_msg=f)
        assert "ordinal alpha" in r.summary()


def test_ordinal_reliability_skipped_for_continuous_items():
    rng = np.random.default_rng(3)
    f = rng.normal(size=300)
    x = pd.DataFrame({f"i{j}": f + rng.normal(size=300) for j in range(4)})
    r = reliability(x, name="cont")
    assert math.isnan(r.alpha_ordinal) and "at most 20" in r.ordinal_note
    assert "not computed" in r.summary()
    with pytest.raises(AnalysisError, match="at most 20"):
        reliability(x, name="cont", ordinal=True)
    assert reliability(x, name="cont", ordinal=False).ordinal_note == ""


def test_cfa_dispatches_wlsmv(trust, fits):
    from analysis.cfa import cfa
    from analysis.moments import Moments

    res = cfa(trust, MODEL, estimator="WLSMV")
    assert res.estimator == "wlsmv"
    assert res.chisq_scaled == fits["trust"].chisq_scaled
    with pytest.raises(AnalysisError, match="raw answers as a pandas DataFrame"):
        cfa(Moments.from_frame(trust.dropna(), ITEMS), MODEL, estimator="wlsmv")
    with pytest.raises(ValueError, match="unknown estimator"):
        cfa(trust, MODEL, estimator="uls")


def test_analyze_reports_ordinal_reliability_in_json_and_html():
    from analysis.html import render_html
    from analysis.report import analyze

    df = raw_data().head(600)
    rep = analyze(df, instrument(), keep_careless=True)
    d = rep.to_dict()["reliability"]
    for dim in DIMS:
        rows = reverse_keyed(df)[MODEL[dim]].dropna()
        expected = reliability(rows, name=dim, ordinal=True)
        assert d[dim]["n"] == len(rows)
        assert_allclose(d[dim]["alpha_ordinal"], expected.alpha_ordinal, rtol=1e-12)
        assert_allclose(d[dim]["omega_ordinal"], expected.omega_ordinal, rtol=1e-12)
    html = render_html(rep)
    assert "<th>ordinal alpha</th><th>ordinal omega</th>" in html
    assert f"<td>{d['REL']['alpha_ordinal']:.3f}</td>" in html


def test_cli_estimator_wlsmv(tmp_path):
    from click.testing import CliRunner

    from survey.cli.analyze import analyze as analyze_cmd

    df = raw_data().head(700)
    csv = tmp_path / "d.csv"
    df.to_csv(csv, index=False)
    out_json, out_html = tmp_path / "o.json", tmp_path / "o.html"
    res = CliRunner().invoke(
        analyze_cmd,
        [
            str(csv),
            "--instrument",
            str(REF / "trust_synthetic.yaml"),
            "--keep-careless",
            "--estimator",
            "wlsmv",
            "--json",
            str(out_json),
            "--html",
            str(out_html),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "CFA (WLSMV, scaled)" in res.output
    c = json.loads(out_json.read_text(encoding="utf-8"))["cfa"]
    direct = cfa_wlsmv(reverse_keyed(df)[ITEMS], MODEL)
    assert c["estimator"] == "wlsmv" and c["n"] == direct.n
    assert_allclose(
        [c["chisq_scaled"], c["cfi_scaled"], c["rmsea_scaled"]],
        [direct.chisq_scaled, direct.cfi_scaled, direct.rmsea_scaled],
        rtol=1e-10,
    )
    assert "scaled-shifted" in out_html.read_text(encoding="utf-8")
    bad = CliRunner().invoke(
        analyze_cmd,
        [str(csv), "--instrument", str(REF / "trust_synthetic.yaml"), "--estimator", "x"],
    )
    assert bad.exit_code != 0 and "Invalid value for '--estimator'" in bad.output


def test_polychoric_depends_only_on_the_order_of_the_answers(coarse):
    base = polychoric(coarse)
    # non-integer codes (the sorting path) and a gap between codes give the same result
    scaled = polychoric(coarse * 0.37 + 0.05)
    gapped = polychoric(coarse.replace({3: 9}))
    for other in (scaled, gapped):
        assert_allclose(other.matrix, base.matrix, atol=1e-12)
        assert_allclose(
            np.concatenate(list(other.thresholds.values())),
            np.concatenate(list(base.thresholds.values())),
            atol=1e-12,
        )
    assert gapped.categories["C1"] == (1.0, 2.0, 9.0)
