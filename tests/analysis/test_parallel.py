"""analysis.parallel against psych 2.2.9's fa.parallel.

R: tests/reference/make_parallel.R -> tests/reference/parallel_reference.json, on
psychTools::bfi (25 items, written to tests/reference/data/bfi_psychTools.csv) and on the
reference survey (20 items, reverse-keyed as make_reference.R):

    fa.parallel(x, plot = FALSE)               # fa = "both", fm = "minres", n.iter = 20
    fa.parallel(x, plot = FALSE, SMC = TRUE)

The observed eigenvalues are deterministic and compared to 1e-6. The random eigenvalues
are not (R simulates raw rows with its own generator; here Wishart draws): the suggested
numbers are compared with R's. To make that comparison stable rather than lucky, R's own
decision was recorded for 20 seeds (it never varied), and here it is checked for 5 seeds
at psych's n.iter = 20: the observed eigenvalues nearest the cut-off (bfi: 6th component
1.113 vs a random 95th percentile near 1.10, 7th factor 0.007 vs ~0.09) are far from it
relative to the spread of the 95th percentile over seeds.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from reference_data import ITEMS, REF_DIR, raw_data, reverse_keyed

from analysis import AnalysisError
from analysis.moments import Moments
from analysis.parallel import minres_one_factor_values, parallel_analysis


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((REF_DIR / "parallel_reference.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def bfi() -> pd.DataFrame:
    return pd.read_csv(REF_DIR / "data" / "bfi_psychTools.csv").iloc[:, :25]


@pytest.fixture(scope="module")
def synthetic() -> pd.DataFrame:
    return reverse_keyed(raw_data())[ITEMS]


@pytest.fixture(scope="module")
def pa_bfi(bfi):
    return parallel_analysis(bfi, seed=1)


def test_bfi_observed_eigenvalues_match_psych(pa_bfi, ref):
    r = ref["bfi"]
    assert pa_bfi.n == r["n_obs"] == 2800  # psych: nrow(x), pairwise correlations
    # R: fa.parallel(bfi[1:25])$pc.values   (measured: 7e-15)
    assert_allclose(pa_bfi.observed, r["pc_values"], rtol=1e-6, atol=1e-9)
    # R: $fa.values = fa(r, 1, fm = "minres", rotate = "none")$values   (measured: 1e-14)
    assert_allclose(pa_bfi.observed_fa, r["fa_values"], rtol=1e-6, atol=1e-9)


def test_bfi_smc_observed_eigenvalues_match_psych(bfi, ref):
    res = parallel_analysis(bfi, smc=True, seed=1)
    assert_allclose(res.observed_fa, ref["bfi_smc"]["fa_values"], rtol=1e-6, atol=1e-9)
    assert_allclose(res.observed, ref["bfi_smc"]["pc_values"], rtol=1e-6, atol=1e-9)
    assert res.smc and "SMC" in res.method


def test_synthetic_observed_eigenvalues_match_psych(synthetic, ref):
    res = parallel_analysis(synthetic, seed=1)
    assert res.n == ref["synthetic"]["n_obs"]
    assert_allclose(res.observed, ref["synthetic"]["pc_values"], rtol=1e-6, atol=1e-9)
    assert_allclose(res.observed_fa, ref["synthetic"]["fa_values"], rtol=1e-6, atol=1e-9)


def test_minres_values_are_psychs_not_just_the_exact_optimum(bfi, ref):
    # the exact fixed point (diagonal residuals zero) differs from psych's L-BFGS-B stop
    # by ~2e-7; reproducing optim's settings gives R's numbers to rounding
    r = bfi.corr().to_numpy()
    assert_allclose(minres_one_factor_values(r), ref["bfi"]["fa_values"], atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_bfi_suggested_numbers_as_psych(bfi, ref, seed):
    # R 2.2.9 on psychTools::bfi[1:25]: 6 factors and 6 components, at each of 20 seeds
    assert set(ref["bfi"]["nfact_by_seed"]) == {6} and set(ref["bfi"]["ncomp_by_seed"]) == {6}
    res = parallel_analysis(bfi, seed=seed)
    assert (res.n_factors, res.n_components) == (6, 6)


@pytest.mark.parametrize("seed", range(3))
def test_bfi_smc_suggested_numbers_as_psych(bfi, ref, seed):
    assert set(ref["bfi_smc"]["nfact_by_seed"]) == {8}
    res = parallel_analysis(bfi, seed=seed, smc=True)
    assert (res.n_factors, res.n_components) == (8, 6)


def test_synthetic_suggested_numbers_as_psych(synthetic, ref):
    # R: 6 factors, 5 components at 5 seeds
    assert set(ref["synthetic"]["nfact_by_seed"]) == {6}
    assert set(ref["synthetic"]["ncomp_by_seed"]) == {5}
    for seed in range(3):
        res = parallel_analysis(synthetic, seed=seed)
        assert (res.n_factors, res.n_components) == (6, 5)


def test_random_eigenvalues_are_in_rs_range(pa_bfi, ref):
    # distributional agreement only: mean random eigenvalues over 20 draws, R vs here.
    # The first random factor eigenvalue has a heavy right tail (minres on noise now and
    # then ends at a near-Heywood solution, first value ~1): over 400 draws its mean was
    # 0.227 here (Wishart) and 0.217 from raw normal rows, 0.210 in R over 100 draws, so
    # the mean of 20 draws is only compared loosely; the others are tight.
    assert_allclose(pa_bfi.simulated_mean[:5], ref["bfi"]["sim_pc_mean"][:5], atol=0.01)
    assert_allclose(pa_bfi.simulated_mean_fa[1:5], ref["bfi"]["sim_fa_mean"][1:5], atol=0.01)
    assert abs(pa_bfi.simulated_mean_fa[0] - ref["bfi"]["sim_fa_mean"][0]) < 0.06


def test_result_states_method_and_both_solutions(pa_bfi):
    d = pa_bfi.to_dict()
    for k in (
        "n_factors",
        "n_components",
        "method",
        "kind",
        "smc",
        "observed",
        "observed_fa",
        "simulated_quantile",
        "simulated_quantile_fa",
        "n_iter",
        "quantile",
    ):
        assert k in d
    assert d["kind"] == "both" and d["n_iter"] == 20 and d["smc"] is False
    assert "minres" in d["method"] and "pairwise" in d["method"]
    text = pa_bfi.summary()
    assert "6 factor(s) and 6 component(s)" in text
    json.dumps(d, allow_nan=False)


def test_fa_only_and_pc_only(bfi):
    f = parallel_analysis(bfi, fa="fa", seed=1)
    assert f.n_components is None and f.observed == () and f.n_factors == 6
    p = parallel_analysis(bfi, fa="pc", seed=1)
    assert p.n_factors is None and p.observed_fa == () and p.n_components == 6
    assert "components" in p.summary()


def test_moments_input_uses_complete_rows(bfi):
    m = Moments.from_frame(bfi)
    res = parallel_analysis(m, fa="pc", seed=1)
    assert res.n == len(bfi.dropna())
    assert_allclose(res.observed, np.linalg.eigvalsh(bfi.dropna().corr().to_numpy())[::-1])
    assert "complete rows" in res.method


def test_seeded_and_reproducible(bfi):
    a, b = parallel_analysis(bfi, seed=3), parallel_analysis(bfi, seed=3)
    assert a.to_dict() == b.to_dict()
    assert parallel_analysis(bfi, seed=4).simulated_mean != a.simulated_mean


def test_bad_input(bfi):
    with pytest.raises(AnalysisError, match="unknown fa"):
        parallel_analysis(bfi, fa="pca")
    with pytest.raises(AnalysisError, match="quantile"):
        parallel_analysis(bfi, quantile=1.5)
    with pytest.raises(AnalysisError, match="n_iter"):
        parallel_analysis(bfi, n_iter=0)
    with pytest.raises(AnalysisError, match="constant"):
        parallel_analysis(bfi.assign(A1=1.0))
    with pytest.raises(AnalysisError, match="numeric"):
        parallel_analysis(bfi.assign(A1="x"))
    with pytest.raises(AnalysisError, match="too few rows"):
        parallel_analysis(bfi.head(8))
    with pytest.raises(AnalysisError, match="singular"):
        parallel_analysis(bfi.assign(A2=bfi["A1"]))
